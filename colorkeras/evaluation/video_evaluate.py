"""Evaluate video colorization on a colour clip: flicker and per-frame quality, per mode.

``evaluate_clip(MODEL, CLIP)`` decodes the clip once, frame by frame, and colorizes it in
each temporal mode side by side (``off``: every frame on its own; ``flow``: stabilised;
``keyframes``: the model every k-th frame), plus the grey floor (ab = 0). The clip's own
colours are the truth: the model sees only their L. Per frame it records

* the temporal warping error: the mean ab distance between the output and the previous
  output carried along the motion, over the pixels visible in both frames (ab units; 0
  means no flicker). The motion is the clip's true flow when it is known (a generated
  clip, `colorkeras.data.clips`), otherwise DIS optical flow on the truth's L with its
  forward-backward-consistent pixels, the same for every mode;
* PSNR, SSIM and colourfulness against the truth (`clip_quality`).

``write_clip_evaluation`` writes ``per_frame.csv``, ``summary.json``, ``table.md`` and a
flicker chart (``flicker.png``, warping error per frame for each mode).
"""

from __future__ import annotations

import csv
import io
import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable

import numpy as np

from colorkeras import color
from colorkeras.errors import InvalidArgument
from colorkeras.evaluation import metrics
from colorkeras.fileio import WrittenFiles, writing_into
from colorkeras.inference.frames import FrameColorizer
from colorkeras.inference.predictor import Predictor
from colorkeras.inference.temporal import (
    DEFAULT_WORK_SIDE,
    flow_confidence,
    lightness_u8,
    warping_error_frame,
)
from colorkeras.inference.video_io import Source

GREY_FLOOR = "grey floor"
MODES = ("off", "flow", "keyframes")
# Colourfulness (Hasler & Süsstrunk, 0-255 RGB) below this in every frame: no colour.
NO_COLOR = 1.0
COLUMNS = ("frame", "mode", "warping_error", "psnr", "ssim", "colorfulness_pred", "colorfulness_true")


@dataclass
class ClipEvaluation:
    """Per-frame measures of each mode on one clip. ``rows``: one dict per (frame, mode)."""

    clip: str
    frames: int
    modes: list[str]
    keyframe_every: int
    rows: list[dict] = field(default_factory=list)
    model_frames: dict[str, int] = field(default_factory=dict)

    def values(self, mode: str, metric: str) -> np.ndarray:
        return np.array([r[metric] for r in self.rows if r["mode"] == mode], float)

    def summary(self) -> dict[str, dict[str, float]]:
        """mode -> mean of each measure over the frames (the warping error over frames 1..)."""
        out = {}
        for mode in [*self.modes, GREY_FLOOR]:
            means = {}
            for metric in COLUMNS[2:]:
                values = self.values(mode, metric)
                # NaN is "not measured" (the first frame's flicker); an inf PSNR (an exact
                # frame) is kept, so an exact grey floor means inf, not NaN.
                values = values[~np.isnan(values)]
                means[metric] = float(values.mean()) if len(values) else math.nan
            means["model_frames"] = self.model_frames.get(mode, 0)
            out[mode] = means
        return out

    @property
    def has_color(self) -> bool:
        """Whether the clip's truth has any colour (a grayscale clip cannot rank colorizers)."""
        truth = self.values(GREY_FLOOR, "colorfulness_true")
        return bool(len(truth)) and float(np.nanmax(truth)) >= NO_COLOR

    def note(self) -> str | None:
        """What a reader must know to read the table: a clip without colour."""
        if self.has_color:
            return None
        return ("This clip has no colour (colourfulness under 1 in every frame): the grey floor is exact "
                "(PSNR inf where the frame round-trips exactly), so it measures flicker only, not colour; "
                "evaluate on a colour clip.")

    def table(self) -> str:
        """Markdown: one row per mode and the grey floor."""
        keyframes = f" · keyframes every {self.keyframe_every}" if "keyframes" in self.modes else ""
        lines = [f"Clip: {self.clip} · {self.frames} frames{keyframes}",
                 "", "| Mode | warping error (ab) ↓ | PSNR (dB) ↑ | SSIM ↑ | Colourfulness pred / true | model runs |",
                 "| --- | ---: | ---: | ---: | ---: | ---: |"]
        for mode, means in self.summary().items():
            lines.append(f"| {mode} | {means['warping_error']:.3f} | {means['psnr']:.2f} | {means['ssim']:.4f} | "
                         f"{means['colorfulness_pred']:.1f} / {means['colorfulness_true']:.1f} | "
                         f"{means['model_frames']} |")
        note = self.note()
        if note:
            lines += ["", note]
        return "\n".join(lines)


def clip_quality(pred_rgb: Iterable[np.ndarray], true_rgb: Iterable[np.ndarray]) -> dict[str, np.ndarray]:
    """Per-frame PSNR, SSIM and colourfulness of a colorized clip against its truth.

    Both are uint8 RGB frames of equal sizes; the metrics are `colorkeras.evaluation.metrics`'s
    (sRGB in [0, 1]). Returns name -> (T,) float64: psnr, ssim, colorfulness_pred,
    colorfulness_true.
    """
    rows = []
    for pred, true in zip(pred_rgb, true_rgb, strict=True):
        p = np.asarray(pred, np.float32) / 255.0
        t = np.asarray(true, np.float32) / 255.0
        rows.append((metrics.psnr(p, t), metrics.ssim(p, t),
                     metrics.colorfulness(np.asarray(pred)), metrics.colorfulness(np.asarray(true))))
    values = np.asarray(rows, dtype=np.float64).reshape(-1, 4)
    return {name: values[:, i] for i, name in
            enumerate(("psnr", "ssim", "colorfulness_pred", "colorfulness_true"))}


def _dis():
    import cv2

    return cv2.DISOpticalFlow_create(2)


def evaluate_clip(model, clip, modes=("off", "flow"), keyframe_every: int = 8, *, truth_flows=None,
                  truth_masks=None, work_side: int = DEFAULT_WORK_SIDE,
                  **stabilizer_options) -> ClipEvaluation:
    """Colorize ``clip`` in each of ``modes`` and measure flicker and quality per frame.

    Args:
        model: a Predictor, a Keras colorizer, or a saved model / run folder path.
        clip: a colour video file or frame folder, or a `colorkeras.data.clips.Clip`
            (its flows and masks are then the true motion).
        modes: any of "off", "flow", "keyframes".
        keyframe_every: k of the "keyframes" mode.
        truth_flows, truth_masks: the true backward flow and visible pixels per frame at
            the clip's full size, when known and ``clip`` is a path.
        work_side, stabilizer_options: passed to every mode's `FrameColorizer` (e.g.
            ``preset``, see `colorkeras.inference.temporal.TemporalStabilizer`).
    """
    unknown = [m for m in modes if m not in MODES]
    if unknown or not modes:
        raise InvalidArgument(f"modes must be some of {', '.join(MODES)}, got {list(modes)}")
    predictor = Predictor.open(model)
    colorizers = {mode: FrameColorizer(predictor, "off" if mode == "off" else "flow",
                                       keyframe_every if mode == "keyframes" else None, work_side=work_side,
                                       **stabilizer_options)
                  for mode in modes}
    if hasattr(clip, "frames") and hasattr(clip, "flows"):
        name, frames = "generated clip", iter(clip.frames)
        truth_flows, truth_masks = clip.flows, clip.masks
    else:
        source = Source(Path(clip))
        name = Path(clip).name
        frames = (payload for kind, payload, _ in source.items() if kind == "video")
    evaluation = ClipEvaluation(name, 0, list(modes), keyframe_every)
    previous, previous_l, dis = {}, None, _dis()
    for index, truth in enumerate(frames):
        outputs = {mode: colorizer(truth) for mode, colorizer in colorizers.items()}
        work_h, work_w = next(iter(outputs.values())).ab.shape[:2]
        full_l = color.rgb_to_l(truth)
        work_l = _resize(full_l, work_h, work_w)
        flow, mask = (None, None) if index == 0 else _motion(index, truth, work_l, previous_l, truth_flows,
                                                              truth_masks, dis)
        previous = _add_frame_rows(evaluation, index, truth, full_l, outputs, previous, flow, mask)
        previous_l = work_l
        evaluation.frames = index + 1
    evaluation.model_frames = {mode: colorizer.model_frames for mode, colorizer in colorizers.items()}
    if evaluation.frames < 2:
        raise InvalidArgument(f"{name}: a clip needs at least two frames to measure flicker")
    return evaluation


def _motion(index: int, truth: np.ndarray, work_l: np.ndarray, previous_l: np.ndarray, truth_flows, truth_masks,
            dis):
    """(backward flow, visible pixels) at the work size from frame ``index`` to the one
    before: the true motion when it is known, else DIS flow on the truth's L with its
    forward-backward-consistent pixels."""
    work_h, work_w = work_l.shape[:2]
    if truth_flows is not None:
        scale_x, scale_y = work_w / truth.shape[1], work_h / truth.shape[0]
        flow = _resize(np.asarray(truth_flows[index], np.float32), work_h, work_w) * [scale_x, scale_y]
        return flow, _resize(np.asarray(truth_masks[index], np.float32), work_h, work_w) > 0.5
    current, before = lightness_u8(work_l), lightness_u8(previous_l)
    flow = dis.calc(current, before, None)
    return flow, flow_confidence(flow, dis.calc(before, current, None)) > 0.5


def _add_frame_rows(evaluation: ClipEvaluation, index: int, truth: np.ndarray, full_l: np.ndarray, outputs: dict,
                    previous: dict, flow, mask) -> dict:
    """A row per mode and one for the grey floor of frame ``index``: its flicker against
    the frame before (NaN without motion) and its quality against the truth. Returns each
    row's ab at the work size, for the next frame."""
    work_h, work_w = next(iter(outputs.values())).ab.shape[:2]
    quality = {mode: clip_quality([result.rgb], [truth]) for mode, result in outputs.items()}
    grey_rgb = color.merge_l_ab(full_l, np.zeros(truth.shape[:2] + (2,), np.float32))
    quality[GREY_FLOOR] = clip_quality([grey_rgb], [truth])
    abs_now = {mode: result.ab for mode, result in outputs.items()}
    abs_now[GREY_FLOOR] = np.zeros((work_h, work_w, 2), np.float32)
    for mode, ab in abs_now.items():
        error = (warping_error_frame(ab, previous[mode], flow, mask)
                 if flow is not None and mask.any() else math.nan)
        values = quality[mode]
        evaluation.rows.append({"frame": index, "mode": mode, "warping_error": error,
                                **{key: float(values[key][0]) for key in COLUMNS[3:]}})
    return abs_now


def _resize(image: np.ndarray, height: int, width: int) -> np.ndarray:
    import cv2

    if image.shape[:2] == (height, width):
        return np.asarray(image, np.float32)
    return cv2.resize(np.asarray(image, np.float32), (width, height), interpolation=cv2.INTER_AREA)


def flicker_figure(evaluation: ClipEvaluation):
    """Warping error per frame, one line per mode and the grey floor."""
    from matplotlib.figure import Figure

    figure = Figure(figsize=(8, 3.2))
    axes = figure.add_subplot()
    for mode in [*evaluation.modes, GREY_FLOOR]:
        values = evaluation.values(mode, "warping_error")
        axes.plot(np.arange(len(values)), values, label=mode, linestyle=":" if mode == GREY_FLOOR else "-")
    axes.set_xlabel("frame")
    axes.set_ylabel("warping error (ab units)")
    axes.set_title(f"Flicker per frame: {evaluation.clip}")
    axes.legend()
    figure.tight_layout()
    return figure


# Every file write_clip_evaluation writes into its folder.
CLIP_FILES = ("per_frame.csv", "summary.json", "table.md", "flicker.png")
COMMAND = "evaluate-video"


def check_clip_folder(out_dir, overwrite: bool = False) -> None:
    """Refuse, before a clip is evaluated, a folder holding files of `CLIP_FILES`' names
    that evaluate-video did not write (unless ``overwrite``); see `write_clip_evaluation`."""
    WrittenFiles(out_dir, COMMAND, overwrite).check(CLIP_FILES)


def write_clip_evaluation(evaluation: ClipEvaluation, out_dir, overwrite: bool = False) -> dict[str, Path]:
    """per_frame.csv, summary.json, table.md and flicker.png in ``out_dir``.

    Files of those names that evaluate-video did not write are replaced only with
    ``overwrite`` (`colorkeras.fileio.WrittenFiles`, which records what it wrote).
    """
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, COLUMNS, lineterminator="\n")
    writer.writeheader()
    for row in evaluation.rows:
        writer.writerow({key: ("" if isinstance(value, float) and math.isnan(value) else value)
                         for key, value in row.items()})
    summary = {"clip": evaluation.clip, "frames": evaluation.frames,
               "keyframe_every": evaluation.keyframe_every if "keyframes" in evaluation.modes else None,
               "has_colour": evaluation.has_color, "note": evaluation.note(),
               "mean": {mode: {k: (None if isinstance(v, float) and not math.isfinite(v) else v)
                               for k, v in means.items()} for mode, means in evaluation.summary().items()}}
    figure = flicker_figure(evaluation)
    with writing_into(out_dir, COMMAND, overwrite) as files:
        files.check(CLIP_FILES)
        return {
            "per_frame": files.write_text("per_frame.csv", buffer.getvalue()),
            "summary": files.write_text("summary.json", json.dumps(summary, indent=2) + "\n"),
            "table": files.write_text("table.md", evaluation.table() + "\n"),
            "flicker": files.write("flicker.png", lambda tmp: figure.savefig(tmp, format="png", dpi=120)),
        }
