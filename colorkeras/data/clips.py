"""Short colour clips with known truth and known motion, for testing video colorization.

A clip is a virtual camera moving over one big still picture: each frame is a window of
the picture (panning: the window slides; zooming: it shrinks or grows) resampled to the
frame size. Because the camera's path is known, so is the exact optical flow between
frames and which pixels were visible before (`Clip.flows`, `Clip.masks`), which is what
`colorkeras.inference.temporal.temporal_warping_error` needs.

The picture is the toy city (`colorkeras.data.synthetic.render_scene`, rendered larger
than the frame) or any real photo (`camera_clip`). `cut_clip` joins two shots with a
scene cut. `write_clip` writes a clip as H.264 .mp4 with a sine-tone AAC audio track, so
round trips can check that frame count, size, frame rate and audio survive.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path

import numpy as np

from colorkeras.data.media import add_video_stream
from colorkeras.data.toy_scenes import render_scene
from colorkeras.errors import InvalidArgument
from colorkeras.fileio import write_atomic

DEFAULT_FPS = Fraction(25)


@dataclass
class Clip:
    """A clip and its truth.

    frames: (T, H, W, 3) uint8 RGB. flows: (T, H, W, 2) float32 backward flow of each
    frame (dx, dy to where the pixel was in the previous frame; frame 0 all zero).
    masks: (T, H, W) bool, pixels visible in the previous frame (frame 0 and the first
    frame after a cut: none). cuts: indices of frames that start a new shot.
    """

    frames: np.ndarray
    flows: np.ndarray
    masks: np.ndarray
    cuts: tuple[int, ...] = ()
    fps: Fraction = field(default=DEFAULT_FPS)

    def __len__(self) -> int:
        return len(self.frames)

    @property
    def height(self) -> int:
        return int(self.frames.shape[1])

    @property
    def width(self) -> int:
        return int(self.frames.shape[2])


def camera_clip(picture: np.ndarray, frames: int = 16, width: int = 96, height: int = 64,
                pan: tuple[float, float] = (1.5, 0.5), zoom: float = 1.0, cover: float = 0.6,
                fps: Fraction = DEFAULT_FPS) -> Clip:
    """A camera moving over ``picture`` (uint8 RGB of any size, e.g. a real photo).

    Args:
        pan: (dx, dy) camera motion in frame pixels per frame (at the first frame's scale).
        zoom: scale change per frame (> 1 zooms in, < 1 out).
        cover: the first window's share of the picture (fitted to the frame's aspect).
    """
    import cv2

    picture = np.ascontiguousarray(picture, dtype=np.uint8)
    if picture.ndim != 3 or picture.shape[-1] != 3:
        raise InvalidArgument(f"expected an RGB picture (H, W, 3), got shape {picture.shape}")
    if frames < 1 or width < 8 or height < 8:
        raise InvalidArgument(f"need frames >= 1 and a frame of at least 8x8, got {frames}, {width}x{height}")
    if zoom <= 0 or not 0 < cover <= 1:
        raise InvalidArgument(f"need zoom > 0 and 0 < cover <= 1, got {zoom}, {cover}")
    scene_h, scene_w = picture.shape[:2]
    scale0 = cover * min((scene_w - 1) / (width - 1), (scene_h - 1) / (height - 1))
    steps = np.arange(frames, dtype=np.float64)
    scales = scale0 * zoom ** (-steps)
    centre0 = np.array([(scene_w - 1) / 2, (scene_h - 1) / 2]) - 0.5 * (frames - 1) * np.asarray(pan) * scale0
    centres = centre0[None] + steps[:, None] * np.asarray(pan, np.float64)[None] * scale0
    # Frame pixel (u, v) shows picture point (scale * u + bx, scale * v + by).
    offsets = centres - scales[:, None] * np.array([(width - 1) / 2, (height - 1) / 2])
    ends = offsets + scales[:, None] * np.array([width - 1, height - 1])
    if offsets.min() < 0 or ends[:, 0].max() > scene_w - 1 or ends[:, 1].max() > scene_h - 1:
        raise InvalidArgument("the camera leaves the picture: use a bigger picture, less pan or zoom, "
                              "or a smaller cover")
    if scale0 > 1:  # the frames shrink the picture: blur it first against aliasing
        picture = cv2.GaussianBlur(picture, (0, 0), 0.45 * scale0)
    out = np.empty((frames, height, width, 3), np.uint8)
    for t in range(frames):
        matrix = np.array([[scales[t], 0, offsets[t, 0]], [0, scales[t], offsets[t, 1]]])
        out[t] = cv2.warpAffine(picture, matrix, (width, height),
                                flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP)
    ys, xs = np.mgrid[0:height, 0:width].astype(np.float64)
    flows = np.zeros((frames, height, width, 2), np.float32)
    masks = np.zeros((frames, height, width), bool)
    for t in range(1, frames):
        # Where picture point of frame-t pixel (u, v) sits in frame t-1.
        u = (scales[t] * xs + offsets[t, 0] - offsets[t - 1, 0]) / scales[t - 1]
        v = (scales[t] * ys + offsets[t, 1] - offsets[t - 1, 1]) / scales[t - 1]
        flows[t, ..., 0] = u - xs
        flows[t, ..., 1] = v - ys
        masks[t] = (u >= 0) & (u <= width - 1) & (v >= 0) & (v <= height - 1)
    return Clip(out, flows, masks, (), Fraction(fps))


def city_picture(size: int = 256, scene_class: str = "street", seed: int = 0, index: int = 0) -> np.ndarray:
    """A toy-city scene rendered large, to move a camera over."""
    return render_scene(scene_class, size=size, seed=seed, index=index)


def pan_clip(frames: int = 16, width: int = 96, height: int = 64, pan=(1.5, 0.5), zoom: float = 1.0,
             scene_class: str = "street", seed: int = 0, index: int = 0,
             picture_size: int | None = None, fps: Fraction = DEFAULT_FPS) -> Clip:
    """A camera panning (and optionally zooming) over a toy-city scene."""
    size = picture_size or max(128, 2 * max(width, height))
    return camera_clip(city_picture(size, scene_class, seed, index), frames, width, height,
                       pan=pan, zoom=zoom, fps=fps)


def concat_clips(first: Clip, second: Clip) -> Clip:
    """``first`` then ``second`` with a scene cut between them (same size and rate)."""
    if first.frames.shape[1:] != second.frames.shape[1:] or first.fps != second.fps:
        raise InvalidArgument("clips to join must have the same frame size and rate")
    masks = second.masks.copy()
    masks[0] = False
    flows = second.flows.copy()
    flows[0] = 0
    cut = len(first)
    return Clip(np.concatenate([first.frames, second.frames]), np.concatenate([first.flows, flows]),
                np.concatenate([first.masks, masks]),
                first.cuts + (cut,) + tuple(cut + c for c in second.cuts), first.fps)


def cut_clip(frames: int = 16, cut_at: int = 8, width: int = 96, height: int = 64,
             classes: tuple[str, str] = ("street", "park"), seed: int = 0,
             fps: Fraction = DEFAULT_FPS) -> Clip:
    """Two panning shots of different toy-city scenes with a cut at frame ``cut_at``."""
    if not 0 < cut_at < frames:
        raise InvalidArgument(f"cut_at must lie inside the clip (1..{frames - 1}), got {cut_at}")
    first = pan_clip(cut_at, width, height, pan=(1.5, 0.5), scene_class=classes[0], seed=seed, fps=fps)
    second = pan_clip(frames - cut_at, width, height, pan=(-1.0, 0.3), scene_class=classes[1],
                      seed=seed, fps=fps)
    return concat_clips(first, second)


def write_clip(clip: Clip, path, audio: bool = True, tone_hz: float = 440.0,
               sample_rate: int = 48_000, crf: int = 12) -> Path:
    """Write ``clip`` as a video (by suffix: .mp4 .mov .mkv H.264, .webm VP9) with, for
    .mp4/.mov/.mkv, a mono AAC sine tone as long as the clip. Written atomically."""
    import av

    path = Path(path)

    def write(tmp: Path) -> None:
        with av.open(str(tmp), "w") as container:
            stream = add_video_stream(container, path.suffix, clip.width, clip.height, clip.fps,
                                      Fraction(1) / clip.fps, crf=crf)
            audio_stream = None
            if audio and path.suffix.lower() != ".webm":
                audio_stream = container.add_stream("aac", rate=sample_rate, layout="mono")
            for t, rgb in enumerate(clip.frames):
                frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(rgb), format="rgb24")
                frame.pts = t
                container.mux(stream.encode(frame))
            container.mux(stream.encode(None))
            if audio_stream is not None:
                total = int(round(len(clip) / clip.fps * sample_rate))
                block = 1024
                for start in range(0, total, block):
                    n = min(block, total - start)
                    samples = 0.2 * np.sin(2 * math.pi * tone_hz * (start + np.arange(n)) / sample_rate)
                    frame = av.AudioFrame.from_ndarray(samples[None].astype(np.float32), format="fltp",
                                                       layout="mono")
                    frame.sample_rate = sample_rate
                    frame.pts = start
                    container.mux(audio_stream.encode(frame))
                container.mux(audio_stream.encode(None))

    return write_atomic(path, write)
