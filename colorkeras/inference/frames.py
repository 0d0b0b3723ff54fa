"""A film's frames through the Predictor, one at a time, with colour carried between them.

A frame is a photo: the model predicts its ab at the model's size (`Predictor.predict_ab`)
and the predictor's chroma upsampling (`Predictor.upsample`, steered by the frame's own L)
brings it to the frame, where it is put on the frame's full-size L, as for photos. Between
those two steps the colour is kept over time (`colorkeras.inference.temporal`): flow and
blending run at a working resolution (the frame scaled down to at most ``work_side``
pixels on its longer side), so the predicted ab is brought to that size first, then from
there to the frame. A frame no larger than the working size takes exactly a photo's
path: with ``temporal="off"`` it comes out as `Predictor.colorize` colours it. Every knob
of the predictor (decode ``temperature``, ``chroma_upsampling``) reaches films this way;
``chroma_upsampling="resize"`` is the plain bilinear resize films had before.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Iterable, Iterator

import numpy as np

from colorkeras import color
from colorkeras.inference.predictor import Predictor, lightness
from colorkeras.inference.reference import ReferenceChooser
from colorkeras.inference.temporal import DEFAULT_WORK_SIDE, StepInfo, TemporalStabilizer


@dataclass
class FrameResult:
    rgb: np.ndarray  # uint8 (H, W, 3), the colorized frame
    ab: np.ndarray  # (h, w, 2) ab at the working resolution
    info: StepInfo


def work_shape(height: int, width: int, work_side: int) -> tuple[int, int]:
    """(h, w) of a frame of ``height`` x ``width`` at the working resolution: its longer
    side at most ``work_side``, never enlarged."""
    scale = min(1.0, work_side / max(height, width))
    return max(1, round(height * scale)), max(1, round(width * scale))


class FrameColorizer:
    """Colorizes a stream of frames one by one with a `TemporalStabilizer`; keeps the
    stage timings (``seconds``) for benchmarks.

    Args:
        predictor: anything `Predictor.open` takes (a Predictor, a colorizer, a run
            folder or ``.keras`` path, None for the shipped model).
        temporal, keyframe_every, stabilizer_options: the stabiliser's (`TemporalStabilizer`).
        work_side: longest side at which flow and blending run.
        chroma_upsampling, temperature: the predictor's knobs (None: as ``predictor``
            has them, or their defaults).
        reference: for a model that colours from a reference photo: its LAB, or a
            `ReferenceChooser` that picks one by the film's first frame and keeps it for
            the whole film (the flow carries its colour through the shot); the choice is
            in ``reference_used`` (path or None, similarity).
    """

    def __init__(self, predictor, temporal: str = "flow", keyframe_every: int | None = None,
                 work_side: int = DEFAULT_WORK_SIDE, *, chroma_upsampling: str | None = None,
                 temperature: float | None = None, reference=None, **stabilizer_options):
        self.predictor = Predictor.open(predictor, chroma_upsampling=chroma_upsampling, temperature=temperature)
        self.predictor.check_reference(reference is not None)
        self.reference = reference
        self.reference_used: tuple | None = None
        self.stabilizer = TemporalStabilizer(temporal, keyframe_every, **stabilizer_options)
        self.work_side = int(work_side)
        self.seconds = {"model": 0.0, "colour": 0.0}
        self.model_frames = 0

    def __call__(self, rgb: np.ndarray) -> FrameResult:
        import cv2

        start = time.perf_counter()
        height, width = rgb.shape[:2]
        full_l = lightness(rgb)
        work_h, work_w = work_shape(height, width, self.work_side)
        work_l = full_l if (work_h, work_w) == (height, width) else cv2.resize(
            full_l, (work_w, work_h), interpolation=cv2.INTER_AREA)
        self.seconds["colour"] += time.perf_counter() - start

        def predict() -> np.ndarray:
            begin = time.perf_counter()
            ab = self.predictor.upsample(self.predictor.predict_ab(rgb, self.reference_for(work_l)), work_l)
            self.model_frames += 1
            self.seconds["model"] += time.perf_counter() - begin
            return ab

        ab, info = self.stabilizer.step(work_l, predict)
        start = time.perf_counter()
        full_ab = ab if ab.shape[:2] == (height, width) else self.predictor.upsample(ab, full_l)
        out = color.merge_l_ab(full_l, full_ab)
        self.seconds["colour"] += time.perf_counter() - start
        return FrameResult(out, ab, info)

    def reference_for(self, lightness: np.ndarray) -> np.ndarray | None:
        """The reference LAB for the film (chosen at its first model frame), or None."""
        if isinstance(self.reference, ReferenceChooser):
            name, score, lab = self.reference.choose(lightness)
            self.reference, self.reference_used = lab, (name, score)
        elif self.reference is not None and self.reference_used is None:
            self.reference_used = (None, 1.0)
        return self.reference

    @property
    def flow_seconds(self) -> float:
        return self.stabilizer.flow_seconds


def colorize_frames(predictor, frames: Iterable[np.ndarray], temporal: str = "flow",
                    keyframe_every: int | None = None, **options) -> Iterator[FrameResult]:
    """Colorize uint8 RGB frames in order, lazily (one frame in memory at a time);
    ``options``: `FrameColorizer`'s."""
    colorizer = FrameColorizer(predictor, temporal, keyframe_every, **options)
    for rgb in frames:
        yield colorizer(rgb)
