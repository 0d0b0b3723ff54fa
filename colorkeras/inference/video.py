"""Colorize films: streamed decode, every frame through the Predictor, streamed encode.

``colorize_video(model, src, out_path)`` reads one frame at a time (memory stays bounded
whatever the length; `colorkeras.inference.video_io`), colorizes it as a photo is
colorized (`colorkeras.inference.frames`: the model's ab brought to the frame by the
predictor's chroma upsampling, steered by the frame's own L, and put on that L),
optionally keeps the colours steady over time (`colorkeras.inference.temporal`), and
encodes it. Every knob of the Predictor (``temperature``, ``chroma_upsampling``) applies
to films as to photos. The output keeps the frame size, every frame and its timestamp (so
the frame rate and count), and the audio: the audio stream's packets are copied unchanged
(remuxed, not re-encoded).

Outputs, chosen by ``out_path``'s suffix:

* .mp4 .mov .mkv: H.264 (libx264, CRF 18); .webm: VP9 (CRF 30). yuv420p, or yuv444p when
  the width or height is odd, so the size is kept exactly;
* no suffix: a folder of PNG frames ``frame_000000.png``, ... (lossless).

The output is written under a hidden temporary name beside the target and renamed at
the end: an interrupted run leaves nothing under the final name. The input is never
overwritten. `colorize_video_paths` is the batch form ``colorkeras colorize`` routes
video files to; it keeps the photo path's record of what it wrote
(`colorkeras.inference.manifest`) and its warnings (a toy-city model, a temperature a
regression ignores).
"""

from __future__ import annotations

import os
import time
import warnings
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path
from typing import ClassVar

from PIL import Image
from tqdm.auto import tqdm

from colorkeras.data.media import OUTPUT_VIDEO_SUFFIXES
from colorkeras.errors import InvalidArgument
from colorkeras.fileio import folder_lock, write_atomic
from colorkeras.inference.frames import FrameColorizer
from colorkeras.inference.manifest import BatchReport, OutputPlan, OutputManifest, file_stamp, occupied
from colorkeras.inference.predictor import Predictor, toy_warning
from colorkeras.inference.reference import open_reference
from colorkeras.inference.temporal import DEFAULT_WORK_SIDE, TemporalStabilizer
from colorkeras.inference.upsample import check_method
from colorkeras.inference.video_io import (
    FrameFolderSink,
    Source,
    VideoError,
    VideoSink,
    remove_stale_temporaries,
    replace_folder_atomic,
)

VIDEO_SUFFIXES = frozenset({".mp4", ".mov", ".avi", ".mkv", ".webm", ".gif"})
# colorize_video_paths: the output suffix of each input kind (a folder of frames: "").
_BATCH_SUFFIX = {".mp4": ".mp4", ".mov": ".mov", ".mkv": ".mkv", ".webm": ".webm",
                 ".avi": ".mkv", ".gif": ".mp4", "": ".mp4"}


# ------------------------------------------------------------------------------------
# One video
# ------------------------------------------------------------------------------------
@dataclass
class VideoReport:
    """What `colorize_video` did. ``seconds``: time per stage (decode, model, flow,
    colour (L and LAB->RGB), encode)."""

    source: Path
    output: Path
    frames: int = 0
    model_frames: int = 0
    cuts: list[int] = field(default_factory=list)
    audio_packets: int = 0
    width: int = 0
    height: int = 0
    fps: Fraction | None = None
    header_frames: int | None = None  # the frame count the file's header states, when it does
    reference: tuple | None = None  # (reference photo or None for LAB given, similarity), if any
    warnings: list[str] = field(default_factory=list)
    seconds: dict[str, float] = field(default_factory=dict)


def _same_file(a: Path, b: Path) -> bool:
    try:
        return a.resolve() == b.resolve() or (b.exists() and os.path.samefile(a, b))
    except OSError:
        return False


def _check_output(src: Path, out: Path, overwrite: bool) -> None:
    """Refuse an output `colorize_video` may not write, before any work."""
    suffix = out.suffix.lower()
    if suffix and suffix not in OUTPUT_VIDEO_SUFFIXES:
        raise InvalidArgument(f"cannot write {out}: use a suffix of "
                              f"{', '.join(sorted(OUTPUT_VIDEO_SUFFIXES))}, or none for PNG frames")
    if not src.exists():
        raise VideoError(f"{src}: not found")
    if _same_file(src, out):
        raise InvalidArgument(f"refusing to write {out}: it is the input")
    if occupied(out) and not overwrite:
        raise VideoError(f"{out} exists; pass overwrite to replace it")


def _encode(tmp: Path, suffix: str, source: Source, colorizer: FrameColorizer, report: VideoReport,
            progress: bool) -> None:
    """Every frame of ``source`` colorized into ``tmp`` (audio copied), counted in ``report``."""
    seconds = report.seconds
    sink = VideoSink(tmp, suffix, source, report.warnings) if suffix else FrameFolderSink(tmp)
    try:
        with tqdm(total=source.frames, desc=source.path.name, unit="frame", disable=not progress) as bar:
            items = source.items()
            while True:
                start = time.perf_counter()
                item = next(items, None)
                seconds["decode"] += time.perf_counter() - start
                if item is None:
                    break
                kind, payload, pts = item
                if kind == "audio":
                    report.audio_packets += sink.audio_packet(payload)
                    continue
                result = colorizer(payload)
                if result.info.cut:
                    report.cuts.append(report.frames)
                start = time.perf_counter()
                sink.write(result.rgb, pts)
                seconds["encode"] += time.perf_counter() - start
                report.frames += 1
                bar.update(1)
        start = time.perf_counter()
        sink.finish()
        seconds["encode"] += time.perf_counter() - start
    except BaseException:
        sink.abort()
        raise


def _finish_report(report: VideoReport, colorizer: FrameColorizer) -> VideoReport:
    """The checks and totals once the last frame is written."""
    src = report.source
    if report.frames == 0:
        raise VideoError(f"{src}: no frames decoded")
    if report.header_frames and report.frames != report.header_frames:
        report.warnings.append(
            f"{src.name}: {report.frames} frames decoded where its header says {report.header_frames}: "
            f"the file is truncated or damaged, and the output has the {report.frames} that could be read")
    report.model_frames = colorizer.model_frames
    report.reference = colorizer.reference_used
    report.seconds.update({"model": colorizer.seconds["model"], "flow": colorizer.flow_seconds,
                           "colour": colorizer.seconds["colour"]})
    return report


def colorize_video(predictor, src, out_path, temporal: str = "flow",
                   keyframe_every: int | None = None, progress: bool = True, *,
                   overwrite: bool = False, fps=None, work_side: int = DEFAULT_WORK_SIDE,
                   before_replace=None, chroma_upsampling: str | None = None,
                   temperature: float | None = None, reference=None, **stabilizer_options) -> VideoReport:
    """Colorize one video (or frame folder) into ``out_path``.

    Args:
        predictor: anything `Predictor.open` takes: a Predictor, a Keras colorizer, the
            path of a saved model or run folder, or None (the shipped model).
        src: a video file (.mp4 .mov .avi .mkv .webm .gif) or a folder of frames.
        out_path: .mp4/.mov/.mkv (H.264), .webm (VP9), or a path without a suffix for a
            folder of PNG frames.
        temporal: "flow" (stabilise colours along the optical flow) or "off".
        keyframe_every: run the model on every k-th frame only (and at scene cuts and
            where the flow is unreliable); needs temporal="flow".
        progress: a tqdm bar (frames, frames/s, time left).
        overwrite: replace an existing output (default: refuse).
        fps: frame rate of a frame folder (default 25); ignored for video files.
        work_side: longest side at which flow and blending run.
        before_replace: called with the complete output (under its hidden temporary
            name) just before it is renamed to ``out_path``.
        chroma_upsampling, temperature: the Predictor's knobs, as for photos (None: as
            ``predictor`` has them, or their defaults: ``"auto"``, the objective's).
        reference: for a model that colours from a reference photo: a photo or folder
            (the most similar photo to the first frame), a `ReferenceChooser`, or a LAB
            array (`FrameColorizer`); a coloured frame of the film works as well as a
            photo of the place.
        stabilizer_options: `colorkeras.inference.temporal.TemporalStabilizer`'s.

    Raises:
        InvalidArgument: a bad option, an unknown output suffix, or ``out_path`` is the
            input. VideoError: unreadable input, or the output exists.
    """
    src, out = Path(src), Path(out_path)
    suffix = out.suffix.lower()
    _check_output(src, out, overwrite)
    remove_stale_temporaries(out)
    colorizer = FrameColorizer(predictor, temporal, keyframe_every, work_side=work_side,
                               chroma_upsampling=chroma_upsampling, temperature=temperature,
                               reference=open_reference(reference), **stabilizer_options)
    source = Source(src, fps)
    report = VideoReport(src, out, width=source.width, height=source.height, fps=source.rate,
                         header_frames=source.frames if source.container is not None else None,
                         seconds={"decode": 0.0, "encode": 0.0})

    def write(tmp: Path) -> None:
        _encode(tmp, suffix, source, colorizer, report, progress)

    try:
        if suffix:
            if out.is_dir():
                raise VideoError(f"{out} is a folder; left alone")
            write_atomic(out, write, before_replace=before_replace)
        else:
            replace_folder_atomic(out, write, overwrite, before_replace)
    finally:
        source.close()
    return _finish_report(report, colorizer)


# ------------------------------------------------------------------------------------
# Many videos (what `colorkeras colorize` routes video inputs to)
# ------------------------------------------------------------------------------------
def is_video_input(path) -> bool:
    """Whether ``colorkeras colorize`` should hand ``path`` to `colorize_video_paths`:
    a file with a video suffix (.mp4 .mov .avi .mkv .webm), or an animated .gif (a still
    .gif is a photo)."""
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix != ".gif":
        return suffix in VIDEO_SUFFIXES
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            with Image.open(path) as image:
                return bool(getattr(image, "is_animated", False))
    except Image.DecompressionBombError:
        # Too large for Pillow: the video path reads its size from the header and
        # reports it as too large (a still one would be refused as a photo as well).
        return True
    except Exception:  # noqa: BLE001 - unreadable: the photo path reports it
        return False


@dataclass
class VideoBatchReport(BatchReport):
    """What `colorize_video_paths` did (`BatchReport`): ``written`` holds a `VideoReport`
    per film."""

    noun: ClassVar[str] = "video(s)"

    def written_lines(self) -> list[str]:
        lines = []
        for item in self.written:
            lines.append(f"  {item.output}: {item.frames} frames ({item.model_frames} through the model), "
                         f"{len(item.cuts)} scene cut(s), {item.audio_packets} audio packets copied")
            if item.reference is not None and item.reference[0] is not None:
                lines.append(f"    reference {item.reference[0]} (similarity {item.reference[1]:.2f})")
            lines += [f"    warning: {message}" for message in item.warnings]
        return lines


def plan_video_outputs(inputs, out_dir) -> tuple[list[tuple[Path, Path]], list[tuple[Path, str]]]:
    """(input, output) pairs: ``out_dir/<stem><suffix>``, the suffix kept for .mp4 .mov
    .mkv .webm; .avi -> .mkv (holds any audio), .gif -> .mp4, a frame folder -> .mp4.

    Raises InvalidArgument when an output would be an input file.
    """
    plan = OutputPlan()
    out_dir = Path(out_dir)
    for item in map(Path, inputs):
        if not item.exists():
            plan.skipped.append((item, "not found"))
            continue
        kind = "" if item.is_dir() else item.suffix.lower()
        if kind not in _BATCH_SUFFIX:
            plan.skipped.append((item, f"not a video ({', '.join(sorted(VIDEO_SUFFIXES))}) or frame folder"))
            continue
        target = out_dir / f"{item.name if item.is_dir() else item.stem}{_BATCH_SUFFIX[kind]}"
        if _same_file(item, target):
            raise InvalidArgument(f"refusing to colorize {item}: its output {target} is the input; "
                                  "choose another output folder")
        plan.add(item, target)
    return plan.jobs, plan.skipped


def colorize_video_paths(model_path, inputs: list, out_dir, temporal: str = "flow",
                         keyframe_every: int | None = None, overwrite: bool = False, *,
                         progress: bool = True, chroma_upsampling: str | None = None,
                         temperature: float | None = None, reference=None) -> VideoBatchReport:
    """Colorize video files (and frame folders) into ``out_dir``; see `plan_video_outputs`
    for the names. Existing outputs are kept unless ``overwrite``; a file that fails is
    reported in ``skipped`` and the rest go on. The model (anything `Predictor.open` takes)
    is loaded only when some video needs it, with the knobs ``chroma_upsampling`` and
    ``temperature`` (see `colorize_video`). A toy-city model is said so in ``warnings``
    before any work (printed at once with ``progress``), as for photos. ``reference``: a
    photo or folder of them, for a model that colours from one (each film gets the photo
    most similar to its first frame).

    Raises:
        InvalidArgument: a bad option or an output that would be an input (nothing done).
        ModelLoadError: the model cannot be loaded.
    """
    TemporalStabilizer(temporal, keyframe_every)  # check the options before any work
    if chroma_upsampling is not None:
        check_method(chroma_upsampling)
    jobs, skipped = plan_video_outputs(inputs, out_dir)
    chooser = open_reference(reference)
    report = VideoBatchReport(skipped=list(skipped))
    if not jobs:
        return report
    report.warnings += filter(None, [toy_warning(model_path, announce=progress)])
    with folder_lock(out_dir):  # one colorize at a time writes into an output folder
        # The photo path's record of what colorize wrote: --overwrite redoes only those
        # outputs, and a file that someone else put at an output path is neither replaced
        # nor taken for done.
        manifest = OutputManifest(out_dir)
        predictor = None
        for source, target in jobs:
            remove_stale_temporaries(target)
            conflict = manifest.conflict(source, target)
            if conflict:
                report.skipped.append((source, conflict))
                continue
            if occupied(target) and not overwrite:
                report.existing.append(source)
                continue
            if predictor is None:
                predictor = Predictor.open(model_path, chroma_upsampling=chroma_upsampling, temperature=temperature)
                report.warnings += filter(None, [predictor.unused_temperature_warning(temperature)])

            def expect(tmp: Path, source=source, target=target) -> None:
                manifest.expect([(source, target, file_stamp(tmp))])

            try:
                report.written.append(colorize_video(predictor, source, target, temporal, keyframe_every,
                                                     progress, overwrite=overwrite, before_replace=expect,
                                                     reference=chooser))
            except VideoError as error:
                reason = str(error)  # said once: the report names the file
                report.skipped.append((source, reason.removeprefix(f"{source}: ")))
                continue
            manifest.confirm([target])
    return report
