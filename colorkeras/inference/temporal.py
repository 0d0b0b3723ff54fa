"""Temporal coherence for video colorization, and the measures of it.

A colorizer run on each frame alone flickers: small changes of the input move its
colours. `TemporalStabilizer` carries the previous output's ab along the optical flow
and blends it with the new prediction:

* flow is OpenCV's DIS optical flow on the luminance, computed from the current frame
  to the previous one (backward), so the previous ab is pulled onto the current frame
  with ``cv2.remap`` (`warp_backward`);
* each pixel's trust in the carried colour is its forward-backward consistency
  (`flow_confidence`): following the backward flow and then the forward flow should
  return to the start; where it does not (occlusions, new content, flow failures) the
  fresh prediction wins;
* a scene cut (`SceneCutDetector`: mean absolute difference of small, blurred L
  thumbnails) resets it, so no colour is dragged from one shot into the next;
* keyframe mode runs the model only every k-th frame, at cuts, and where the mean
  confidence drops below ``min_confidence``; between keyframes ab is carried along the
  flow.

All of it works on a "working" resolution (the frame scaled down to at most
``work_side`` pixels on its longer side): the ab field is smooth, so flow and blending
there cost little, and `colorkeras.color.merge_l_ab` puts it on the full-size L.

Measure: `temporal_warping_error` (how much the output changes along the true motion);
the per-frame quality against a truth clip is `colorkeras.evaluation.video_evaluate`'s.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Callable, Iterable

import numpy as np

from colorkeras.errors import InvalidArgument

TEMPORAL_MODES = ("off", "flow")

# Defaults, tuned on the generated clips (colorkeras.data.clips) at 64-640 px; the
# strength, DIS preset and work side on validation clips at 640x360 (bench/README.md
# "Video"): strength 0.85 -> 0.95 halves flow mode's warping error for 0.01 dB PSNR; in
# keyframe mode, carried frames follow the flow alone, and on a zoom "ultrafast" and
# "fast" (or a work side of 256 or 192) flicker 1.3-2.5x more than "medium" at 320 px,
# which still leaves keyframes over 8 fps. Flow mode's trust (consistency 1 -> 2 px, plus
# the lightness match at 4 L units) on validation clips with a toy-city-trained model: the
# worst clip's flow/off warping error 0.61x -> 0.49x, PSNR unchanged (+0.01 dB).
DEFAULT_WORK_SIDE = 320  # flow and blending at most this many pixels on the long side
DEFAULT_STRENGTH = 0.95  # weight of a fully trusted carried colour against the prediction
DEFAULT_PRESET = "medium"  # DIS preset: "ultrafast", "fast" or "medium"
DEFAULT_CONSISTENCY_PX = 2.0  # forward-backward error (px) at which trust falls to exp(-1/2)
DEFAULT_MATCH_L = 4.0  # L difference (L units) at which the lightness match's trust falls to exp(-1/2); None: off
DEFAULT_MIN_CONFIDENCE = 0.5  # keyframe mode: below this mean trust the model runs again
DEFAULT_CUT_THRESHOLD = 12.0  # mean |dL| (L units, 0-100) of thumbnails that is a cut
_THUMB = 16  # thumbnail side of the cut detector


def _cv2():
    import cv2

    return cv2


# ------------------------------------------------------------------------------------
# Flow helpers (shared by the stabiliser, the clip generator's checks and the measures)
# ------------------------------------------------------------------------------------
def _grid(height: int, width: int) -> tuple[np.ndarray, np.ndarray]:
    ys, xs = np.mgrid[0:height, 0:width].astype(np.float32)
    return xs, ys


def warp_backward(image: np.ndarray, flow: np.ndarray, border: str = "replicate") -> np.ndarray:
    """Pull ``image`` (the previous frame's field, (H, W) or (H, W, C)) onto the current
    frame: ``out(x) = image(x + flow(x))``, bilinear.

    Args:
        flow: (H, W, 2) float, (dx, dy) from each current pixel to where it was in the
            previous frame (a backward flow).
        border: "replicate" (edge values outside the frame) or "zero".
    """
    cv2 = _cv2()
    flow = np.asarray(flow, dtype=np.float32)
    height, width = flow.shape[:2]
    xs, ys = _grid(height, width)
    mode = cv2.BORDER_REPLICATE if border == "replicate" else cv2.BORDER_CONSTANT
    return cv2.remap(np.asarray(image, dtype=np.float32), xs + flow[..., 0], ys + flow[..., 1],
                     interpolation=cv2.INTER_LINEAR, borderMode=mode, borderValue=0)


def inside_mask(flow: np.ndarray) -> np.ndarray:
    """Where ``x + flow(x)`` lies inside the frame (the pixel was visible before)."""
    height, width = flow.shape[:2]
    xs, ys = _grid(height, width)
    x, y = xs + flow[..., 0], ys + flow[..., 1]
    return (x >= 0) & (x <= width - 1) & (y >= 0) & (y <= height - 1)


def flow_confidence(backward: np.ndarray, forward: np.ndarray,
                    consistency_px: float = DEFAULT_CONSISTENCY_PX) -> np.ndarray:
    """Per-pixel trust in a backward flow, in [0, 1], from forward-backward consistency.

    ``e(x) = |b(x) + f(x + b(x))|`` (0 for a consistent pair); trust is
    ``exp(-e^2 / (2 consistency_px^2))``, and 0 where ``x + b(x)`` leaves the frame.
    """
    returned = warp_backward(forward, backward)
    error2 = np.sum((backward + returned) ** 2, axis=-1)
    confidence = np.exp(-error2 / (2.0 * consistency_px**2)).astype(np.float32)
    confidence[~inside_mask(backward)] = 0.0
    return confidence


def lightness_match(current_u8: np.ndarray, previous_u8: np.ndarray, backward: np.ndarray,
                    match_l: float) -> np.ndarray:
    """Per-pixel trust from how well the previous frame's lightness, pulled along the flow,
    matches the current one (5x5 box means, so one coincidental pixel does not count):
    ``exp(-dL^2 / (2 match_l^2))`` with dL in L units, 0 where the flow leaves the frame.

    DIS flow in flat, textureless areas is often inconsistent forward and backward, yet the
    colour it carries there lands on the same flat area: the lightness match trusts it
    where the consistency check does not."""
    cv2 = _cv2()
    warped = warp_backward(previous_u8.astype(np.float32), backward)
    difference = cv2.blur(np.abs(current_u8.astype(np.float32) - warped), (5, 5)) / 2.55
    trust = np.exp(-difference**2 / (2.0 * match_l**2)).astype(np.float32)
    trust[~inside_mask(backward)] = 0.0
    return trust


def lightness_u8(lightness: np.ndarray) -> np.ndarray:
    """L in [0, 100] -> uint8 0-255, the image DIS flow runs on."""
    return np.clip(np.rint(np.asarray(lightness, np.float32) * 2.55), 0, 255).astype(np.uint8)


class SceneCutDetector:
    """Calls a frame a cut when its L thumbnail differs from the previous one by more
    than ``threshold`` (mean absolute difference, L units). Thumbnails are 16x16 area
    averages, so camera motion moves them little and a new shot moves them a lot."""

    def __init__(self, threshold: float = DEFAULT_CUT_THRESHOLD):
        if threshold <= 0:
            raise InvalidArgument(f"cut threshold must be > 0, got {threshold}")
        self.threshold = float(threshold)
        self._previous: np.ndarray | None = None
        self.last_distance = 0.0

    def reset(self) -> None:
        self._previous = None

    def __call__(self, lightness: np.ndarray) -> bool:
        cv2 = _cv2()
        thumb = cv2.resize(np.asarray(lightness, np.float32), (_THUMB, _THUMB),
                           interpolation=cv2.INTER_AREA)
        previous, self._previous = self._previous, thumb
        if previous is None:
            self.last_distance = 0.0
            return False
        self.last_distance = float(np.mean(np.abs(thumb - previous)))
        return self.last_distance > self.threshold


# ------------------------------------------------------------------------------------
# The stabiliser
# ------------------------------------------------------------------------------------
@dataclass
class StepInfo:
    """What `TemporalStabilizer.step` did for one frame."""

    predicted: bool  # the model ran on this frame
    cut: bool  # a scene cut was detected (the stabiliser reset)
    confidence: float  # mean flow trust (0 on the first frame and at cuts)


class TemporalStabilizer:
    """Blends each frame's predicted ab with the previous output carried along the flow.

    Args:
        mode: "flow" (stabilise) or "off" (every frame its own prediction; the cut
            detector still runs, for the statistics).
        keyframe_every: None to run the model on every frame; k to run it on every k-th
            frame (and at cuts and low-confidence frames) and carry ab in between.
        strength: weight of a fully trusted carried colour against a new prediction.
        consistency_px: see `flow_confidence`.
        match_l: None, or the scale of `lightness_match`: a pixel's trust is then the larger
            of its flow consistency and its lightness match.
        min_confidence: keyframe mode runs the model when the mean trust is below this.
        cut_threshold: see `SceneCutDetector`.
        preset: the DIS preset name: "ultrafast", "fast" or "medium".
    """

    def __init__(self, mode: str = "flow", keyframe_every: int | None = None, *,
                 strength: float = DEFAULT_STRENGTH,
                 consistency_px: float = DEFAULT_CONSISTENCY_PX,
                 match_l: float | None = DEFAULT_MATCH_L,
                 min_confidence: float = DEFAULT_MIN_CONFIDENCE,
                 cut_threshold: float = DEFAULT_CUT_THRESHOLD,
                 preset: str = DEFAULT_PRESET):
        if mode not in TEMPORAL_MODES:
            raise InvalidArgument(f"temporal must be one of {', '.join(TEMPORAL_MODES)}, got {mode!r}")
        if keyframe_every is not None:
            if int(keyframe_every) != keyframe_every or keyframe_every < 1:
                raise InvalidArgument(f"keyframe_every must be a whole number >= 1, got {keyframe_every}")
            if mode == "off" and keyframe_every > 1:
                raise InvalidArgument("keyframes carry colour along the flow: use temporal='flow'")
            keyframe_every = int(keyframe_every)
        if not 0.0 <= strength <= 1.0:
            raise InvalidArgument(f"strength must lie in [0, 1], got {strength}")
        presets = {"ultrafast": 0, "fast": 1, "medium": 2}
        if preset not in presets:
            raise InvalidArgument(f"preset must be one of {', '.join(presets)}, got {preset!r}")
        self.mode = mode
        self.keyframe_every = keyframe_every
        self.strength = float(strength)
        self.consistency_px = float(consistency_px)
        if match_l is not None and not match_l > 0:
            raise InvalidArgument(f"match_l must be None or > 0, got {match_l}")
        self.match_l = None if match_l is None else float(match_l)
        self.min_confidence = float(min_confidence)
        self.cuts = SceneCutDetector(cut_threshold)
        self.preset = preset
        self._preset = presets[preset]
        self._dis = None
        self._previous_l: np.ndarray | None = None
        self._previous_ab: np.ndarray | None = None
        self._since_key = 0
        self.flow_seconds = 0.0  # time spent on optical flow (for benchmarks)

    def _flows(self, current: np.ndarray, previous: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        if self._dis is None:
            self._dis = _cv2().DISOpticalFlow_create(self._preset)
        backward = self._dis.calc(current, previous, None)  # current(x) ~ previous(x + b)
        forward = self._dis.calc(previous, current, None)
        return backward, forward

    def step(self, lightness: np.ndarray, predict: Callable[[], np.ndarray]
             ) -> tuple[np.ndarray, StepInfo]:
        """The output ab for one frame.

        Args:
            lightness: (h, w) L in [0, 100] at the working resolution.
            predict: returns the model's ab for this frame, (h, w, 2) un-normalised;
                called only when the model is needed.
        """
        cut = self.cuts(lightness)
        first = self._previous_ab is None
        if self.mode == "off" or first or cut:
            ab = np.asarray(predict(), np.float32)
            self._remember(lightness, ab, keyframe=True)
            return ab, StepInfo(predicted=True, cut=cut, confidence=0.0)
        start = time.perf_counter()
        current = lightness_u8(lightness)
        backward, forward = self._flows(current, self._previous_l)
        confidence = flow_confidence(backward, forward, self.consistency_px)
        if self.match_l is not None:
            confidence = np.maximum(confidence, lightness_match(current, self._previous_l, backward, self.match_l))
        carried = warp_backward(self._previous_ab, backward)
        self.flow_seconds += time.perf_counter() - start
        mean_confidence = float(confidence.mean())
        keyframe = (
            self.keyframe_every is None
            or self._since_key + 1 >= self.keyframe_every
            or mean_confidence < self.min_confidence
        )
        if keyframe:
            weight = (self.strength * confidence)[..., None]
            ab = weight * carried + (1.0 - weight) * np.asarray(predict(), np.float32)
        else:
            ab = carried
        self._remember(lightness, ab, keyframe=keyframe, current=current)
        return ab, StepInfo(predicted=keyframe, cut=False, confidence=mean_confidence)

    def _remember(self, lightness, ab, keyframe: bool, current=None) -> None:
        self._previous_l = lightness_u8(lightness) if current is None else current
        self._previous_ab = ab
        self._since_key = 0 if keyframe else self._since_key + 1


# ------------------------------------------------------------------------------------
# Measures
# ------------------------------------------------------------------------------------
def temporal_warping_error(frames_ab: Iterable[np.ndarray], flows_true: Iterable[np.ndarray],
                           masks: Iterable[np.ndarray]) -> float:
    """Mean ab change along the true motion: how much an output flickers.

    For each frame t >= 1: the previous output ab_{t-1} is warped onto frame t with the
    true backward flow, and the Euclidean ab distance to ab_t is averaged over the
    pixels of ``masks[t]`` (visible in both frames). The result is the mean of those
    per-frame values, in ab units (0 for a perfectly coherent video). Entry 0 of
    ``flows_true`` and ``masks`` is ignored.

    Args:
        frames_ab: (H, W, 2) ab per frame (un-normalised, as `colorkeras.color` gives).
        flows_true: (H, W, 2) backward flow of frame t (see `warp_backward`).
        masks: (H, W) bool, the non-occluded pixels of frame t.
    """
    errors = []
    previous = None
    for t, (ab, flow, mask) in enumerate(zip(frames_ab, flows_true, masks)):
        ab = np.asarray(ab, np.float32)
        if t > 0 and np.asarray(mask, bool).any():
            errors.append(warping_error_frame(ab, previous, flow, mask))
        previous = ab
    if not errors:
        raise InvalidArgument("temporal_warping_error needs at least two frames with visible pixels")
    return float(np.mean(errors))


def warping_error_frame(ab: np.ndarray, previous_ab: np.ndarray, flow: np.ndarray, mask: np.ndarray) -> float:
    """One frame's term of `temporal_warping_error`: the mean ab distance between ``ab``
    and ``previous_ab`` warped along the backward ``flow``, over the pixels of ``mask``."""
    warped = warp_backward(np.asarray(previous_ab, np.float32), flow)
    distance = np.sqrt(np.sum((np.asarray(ab, np.float32) - warped) ** 2, axis=-1))
    return float(distance[np.asarray(mask, bool)].mean())
