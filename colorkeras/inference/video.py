"""Colorize videos: streamed decode, per-frame colorization at full size, streamed encode.

``colorize_video(predictor, src, out_path)`` reads one frame at a time (memory stays
bounded whatever the length), colorizes it on its own L (the model predicts ab at its
input size; the ab field is resized to the frame and put on the frame's full-size L,
as `colorkeras.inference.colorize` does for photos), optionally stabilises the colours over time
(`colorkeras.inference.temporal`), and encodes it. The output keeps the frame size, every frame
and its timestamp (so the frame rate and count), and the audio: the audio stream's
packets are copied unchanged (remuxed, not re-encoded).

Inputs: .mp4 .mov .avi .mkv .webm, animated .gif, or a folder of numbered frames (PNG or
JPEG, in natural order: frame2 before frame10; frame rate ``fps``, default 25).

Outputs, chosen by ``out_path``'s suffix:

* .mp4 .mov .mkv: H.264 (libx264, CRF 18); .webm: VP9 (CRF 30). yuv420p, or yuv444p when
  the width or height is odd, so the size is kept exactly;
* no suffix: a folder of PNG frames ``frame_000000.png``, ... (lossless).

The output is written under a hidden temporary name beside the target and renamed at
the end: an interrupted run leaves nothing under the final name. The input is never
overwritten. `colorize_video_paths` is the batch form ``colorkeras colorize`` routes
video files to.
"""

from __future__ import annotations

import os
import re
import shutil
import time
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path
from typing import Iterable, Iterator

import numpy as np

from colorkeras import color
from colorkeras.errors import ColorkerasError, InvalidArgument
from colorkeras.fileio import folder_lock, process_alive, write_atomic
from colorkeras.inference.temporal import DEFAULT_WORK_SIDE, StepInfo, TemporalStabilizer

VIDEO_SUFFIXES = frozenset({".mp4", ".mov", ".avi", ".mkv", ".webm", ".gif"})
OUTPUT_VIDEO_SUFFIXES = frozenset({".mp4", ".mov", ".mkv", ".webm"})
FRAME_SUFFIXES = frozenset({".png", ".jpg", ".jpeg"})
DEFAULT_FOLDER_FPS = Fraction(25)
# The largest frame colorize and evaluate-video take, checked from the file's header
# before any frame is decoded. Memory grows with the frame size, not the film's length:
# about 120 bytes a pixel were measured on 2 cores (decoded frame, full-size L, colour
# and the encoder's frames in flight; 1.45 GB above the model for a 12 MP clip) and about
# 210 on a larger machine (13.4 GB for 64 MP), so 36 MP (8K UHD, 7680x4320, is 33 MP)
# needs up to about 8 GB and fits a 24 GiB machine beside the model.
MAX_VIDEO_PIXELS = 36_000_000
# colorize_video_paths: the output suffix of each input kind (a folder of frames: "").
_BATCH_SUFFIX = {".mp4": ".mp4", ".mov": ".mov", ".mkv": ".mkv", ".webm": ".webm",
                 ".avi": ".mkv", ".gif": ".mp4", "": ".mp4"}
# Audio codecs each output container takes; a stream of another codec is left out (with
# a warning in the report) rather than re-encoded. None: any.
_AUDIO_CODECS = {
    ".mp4": {"aac", "mp3", "opus", "alac", "flac", "ac3", "eac3"},
    ".mov": {"aac", "mp3", "alac", "ac3", "pcm_s16le", "pcm_s16be", "pcm_s24le", "pcm_f32le"},
    ".webm": {"opus", "vorbis"},
    ".mkv": None,
}
_FRAME_NAME = re.compile(r"frame_[0-9]{6,}\.png")


class VideoError(ColorkerasError):
    """A video that cannot be read or written (not a video, no video stream, a damaged
    file, an output that exists)."""


def as_predictor(model_or_path):
    """A Predictor (``colorkeras.inference.predictor``) from a Predictor, a Keras colorizer, or the
    path of a saved model or run folder."""
    from colorkeras.inference.predictor import Predictor

    if isinstance(model_or_path, Predictor):
        return model_or_path
    if isinstance(model_or_path, (str, os.PathLike)):
        return Predictor.open(model_or_path)
    return Predictor(model_or_path)


# ------------------------------------------------------------------------------------
# Frames -> colorized frames
# ------------------------------------------------------------------------------------
@dataclass
class FrameResult:
    rgb: np.ndarray  # uint8 (H, W, 3), the colorized frame
    ab: np.ndarray  # (h, w, 2) ab at the working resolution
    info: StepInfo


def _work_shape(height: int, width: int, work_side: int) -> tuple[int, int]:
    scale = min(1.0, work_side / max(height, width))
    return max(1, round(height * scale)), max(1, round(width * scale))


class FrameColorizer:
    """Colorizes a stream of frames one by one with a `TemporalStabilizer`; keeps the
    stage timings (``seconds``) for benchmarks."""

    def __init__(self, predictor, temporal: str = "flow", keyframe_every: int | None = None,
                 work_side: int = DEFAULT_WORK_SIDE, **stabilizer_options):
        self.predictor = as_predictor(predictor)
        self.stabilizer = TemporalStabilizer(temporal, keyframe_every, **stabilizer_options)
        self.work_side = int(work_side)
        self.seconds = {"model": 0.0, "colour": 0.0}
        self.model_frames = 0

    def __call__(self, rgb: np.ndarray) -> FrameResult:
        import cv2

        from colorkeras.inference.predictor import lightness

        start = time.perf_counter()
        height, width = rgb.shape[:2]
        full_l = lightness(rgb)
        work_h, work_w = _work_shape(height, width, self.work_side)
        work_l = full_l if (work_h, work_w) == (height, width) else cv2.resize(
            full_l, (work_w, work_h), interpolation=cv2.INTER_AREA)
        self.seconds["colour"] += time.perf_counter() - start

        def predict() -> np.ndarray:
            begin = time.perf_counter()
            inputs = self.predictor.model_input(rgb)[None]
            ab = color.denormalize_ab(self.predictor.predict_normalized(inputs)[0])
            self.model_frames += 1
            self.seconds["model"] += time.perf_counter() - begin
            return color.resize_ab(ab, work_h, work_w)

        ab, info = self.stabilizer.step(work_l, predict)
        start = time.perf_counter()
        out = color.merge_l_ab(full_l, ab)
        self.seconds["colour"] += time.perf_counter() - start
        return FrameResult(out, ab, info)

    @property
    def flow_seconds(self) -> float:
        return self.stabilizer.flow_seconds


def colorize_frames(predictor, frames: Iterable[np.ndarray], temporal: str = "flow",
                    keyframe_every: int | None = None, **options) -> Iterator[FrameResult]:
    """Colorize uint8 RGB frames in order, lazily (one frame in memory at a time)."""
    colorizer = FrameColorizer(predictor, temporal, keyframe_every, **options)
    for rgb in frames:
        yield colorizer(rgb)


# ------------------------------------------------------------------------------------
# Reading
# ------------------------------------------------------------------------------------
def _natural_key(path: Path):
    return [int(part) if part.isdigit() else part.lower() for part in re.split(r"(\d+)", path.name)]


def frame_files(folder) -> list[Path]:
    """The frames of a frame folder (PNG/JPEG, not hidden, not in sub-folders), in
    natural order."""
    folder = Path(folder)
    files = [p for p in folder.iterdir()
             if p.is_file() and not p.name.startswith(".") and p.suffix.lower() in FRAME_SUFFIXES]
    if not files:
        raise VideoError(f"{folder} holds no PNG or JPEG frames")
    return sorted(files, key=_natural_key)


def _too_large(width: int, height: int) -> str | None:
    """Why a frame of this size is refused (over MAX_VIDEO_PIXELS); None when it is not."""
    if width * height <= MAX_VIDEO_PIXELS:
        return None
    return (f"{width}x{height} = {width * height:,} pixels a frame, more than the video limit of "
            f"{MAX_VIDEO_PIXELS:,} ({MAX_VIDEO_PIXELS / 1e6:.0f} MP, about 8 GB of memory); "
            "scale the video down first")


def _check_frame_size(path, width: int, height: int) -> None:
    """Refuse frames above MAX_VIDEO_PIXELS (read from the header, before decoding)."""
    reason = _too_large(width, height)
    if reason:
        raise VideoError(f"{path}: {reason}")


def _check_frame_file(path) -> None:
    """`_check_frame_size` for the first file of a frame folder, from its header."""
    import warnings

    from PIL import Image

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            with Image.open(path) as image:
                width, height = image.size
    except Image.DecompressionBombError as error:  # far above the limit
        raise VideoError(f"{path}: more than the video limit of {MAX_VIDEO_PIXELS:,} pixels a frame "
                         f"({error})") from error
    except Exception:  # noqa: BLE001 - an unreadable header: reading the frame says why
        return
    _check_frame_size(path, width, height)


def _gif_screen_size(path) -> tuple[int, int] | None:
    """The logical screen size a GIF's header declares (every frame is drawn on it),
    without Pillow (which refuses to open one over its pixel limit); None: not a GIF."""
    try:
        with open(path, "rb") as handle:
            head = handle.read(10)
    except OSError:
        return None
    if len(head) < 10 or head[:6] not in (b"GIF87a", b"GIF89a"):
        return None
    return int.from_bytes(head[6:8], "little"), int.from_bytes(head[8:10], "little")


def gif_in_folder_reason(path) -> str:
    """Why ``colorize`` leaves out a .gif found inside a folder of photos (it reports it)."""
    size = _gif_screen_size(path)
    too_large = _too_large(*size) if size else None
    return too_large or ("a .gif inside a folder is not colorized; give it as an input of its own "
                         "(an animated .gif is colorized as a video)")


class _Source:
    """Frames (and audio packets) of a video file or a frame folder, streamed."""

    def __init__(self, path: Path, fps=None):
        self.path = path
        self.audio = None
        self.container = None
        if path.is_dir():
            self._files = frame_files(path)
            _check_frame_file(self._files[0])
            first = self._read(self._files[0])
            self.height, self.width = first.shape[:2]
            self.rate = Fraction(fps) if fps else DEFAULT_FOLDER_FPS
            self.time_base = 1 / self.rate
            self.frames = len(self._files)
            return
        import av

        try:
            self.container = av.open(str(path))
        except (av.FFmpegError, OSError) as error:
            raise VideoError(f"{path}: cannot open as a video ({error})") from error
        if not self.container.streams.video:
            self.container.close()
            raise VideoError(f"{path}: has no video stream")
        self.video = self.container.streams.video[0]
        self.video.thread_type = "AUTO"
        if self.container.streams.audio:
            self.audio = self.container.streams.audio[0]
        context = self.video.codec_context
        self.width, self.height = context.width, context.height
        try:
            _check_frame_size(path, self.width, self.height)
        except VideoError:
            self.container.close()
            raise
        rate = self.video.average_rate or self.video.guessed_rate or DEFAULT_FOLDER_FPS
        self.rate = Fraction(rate)
        self.time_base = Fraction(self.video.time_base) if self.video.time_base else 1 / self.rate
        self.frames = int(self.video.frames or 0) or None

    @staticmethod
    def _read(file: Path) -> np.ndarray:
        """One frame of a frame folder; a frame that cannot be read stops this video only
        (a VideoError naming it: the batch reports the video skipped and goes on)."""
        from colorkeras.images import ImageReadError, read_rgb

        try:
            return read_rgb(file)
        except ImageReadError as error:
            raise VideoError(f"frame {file.name} cannot be read: {error.reason}") from error

    def items(self) -> Iterator[tuple[str, object, int | None]]:
        """("video", uint8 RGB frame, pts) and ("audio", packet, None) in file order."""
        if self.container is None:
            for index, file in enumerate(self._files):
                rgb = self._read(file)
                if rgb.shape[:2] != (self.height, self.width):
                    raise VideoError(f"{file} is {rgb.shape[1]}x{rgb.shape[0]}; the frames before "
                                     f"it are {self.width}x{self.height}")
                yield "video", rgb, index
            return
        import av

        streams = [self.video] + ([self.audio] if self.audio is not None else [])
        try:
            for packet in self.container.demux(*streams):
                if packet.stream.index == self.video.index:
                    for frame in packet.decode():
                        yield "video", frame.to_ndarray(format="rgb24"), frame.pts
                elif packet.dts is not None:  # not a demuxer flush packet
                    yield "audio", packet, None
        except av.FFmpegError as error:
            raise VideoError(f"{self.path}: damaged video data ({error})") from error

    def close(self) -> None:
        if self.container is not None:
            self.container.close()


@dataclass
class VideoInfo:
    """What `probe_video` read from a video file without decoding a frame."""

    width: int
    height: int
    fps: Fraction
    frames: int | None  # as the header states (None: it does not say)
    seconds: float | None  # the length (None: not known)
    audio: bool


def probe_video(path) -> VideoInfo:
    """The frame size, frame rate, frame count and length of a video file, from its header
    and, where the header states no length (a browser's WebM recording), from the time
    stamps of its packets; no frame is decoded.

    Raises:
        VideoError: as `colorize_video` would: not a video, no video stream, frames over
            MAX_VIDEO_PIXELS.
    """
    import av

    source = _Source(Path(path))
    try:
        seconds = None
        video = source.video
        if video.duration is not None and video.time_base:
            seconds = float(video.duration * video.time_base)
        elif source.container.duration:
            seconds = source.container.duration / av.time_base
        elif source.frames:
            seconds = float(source.frames / source.rate)
        else:
            last = None
            try:
                for packet in source.container.demux(video):
                    if packet.pts is not None and packet.time_base:
                        last = max(last or 0.0, float((packet.pts + (packet.duration or 0)) * packet.time_base))
            except av.FFmpegError as error:
                raise VideoError(f"{path}: damaged video data ({error})") from error
            seconds = last
        return VideoInfo(source.width, source.height, source.rate, source.frames, seconds,
                         source.audio is not None)
    finally:
        source.close()


# ------------------------------------------------------------------------------------
# Writing
# ------------------------------------------------------------------------------------
def add_video_stream(container, suffix: str, width: int, height: int, rate, time_base,
                     crf: int | None = None):
    """An encoder stream for ``suffix`` (H.264 or VP9) that keeps ``width`` x ``height``
    exactly: yuv420p, or yuv444p when a side is odd."""
    suffix = suffix.lower()
    if suffix == ".webm":
        codec = "libvpx-vp9"
        options = {"crf": str(30 if crf is None else crf), "b": "0", "deadline": "realtime",
                   "cpu-used": "8", "row-mt": "1"}
    elif suffix in OUTPUT_VIDEO_SUFFIXES:
        codec = "libx264"
        options = {"crf": str(18 if crf is None else crf), "preset": "veryfast"}
    else:
        raise InvalidArgument(f"cannot write video as {suffix!r}; use one of "
                              f"{', '.join(sorted(OUTPUT_VIDEO_SUFFIXES))}, or no suffix for PNG frames")
    stream = container.add_stream(codec, rate=Fraction(rate), options=options)
    stream.width, stream.height = width, height
    stream.pix_fmt = "yuv420p" if width % 2 == 0 and height % 2 == 0 else "yuv444p"
    stream.codec_context.time_base = Fraction(time_base)
    return stream


class _VideoSink:
    def __init__(self, tmp: Path, suffix: str, source: _Source, report: "VideoReport"):
        import av

        self._av = av
        self.container = av.open(str(tmp), "w", format=_FORMATS[suffix.lower()])
        self.time_base = source.time_base
        self.stream = add_video_stream(self.container, suffix, source.width, source.height,
                                       source.rate, source.time_base)
        self.step = max(1, round(1 / (source.rate * source.time_base)))
        self.last_pts = None
        self.audio = None
        if source.audio is not None:
            allowed = _AUDIO_CODECS[suffix.lower()]
            name = source.audio.codec_context.name
            if allowed is None or name in allowed:
                self.audio = self.container.add_stream_from_template(source.audio)
            else:
                report.warnings.append(f"audio ({name}) left out: {suffix} cannot hold it; "
                                       "use .mkv to keep it")

    def write(self, rgb: np.ndarray, pts: int | None) -> None:
        if pts is None or (self.last_pts is not None and pts <= self.last_pts):
            pts = 0 if self.last_pts is None else self.last_pts + self.step
        self.last_pts = pts
        frame = self._av.VideoFrame.from_ndarray(rgb, format="rgb24")
        frame.pts = pts
        frame.time_base = self.time_base
        self.container.mux(self.stream.encode(frame))

    def audio_packet(self, packet) -> bool:
        if self.audio is None:
            return False
        packet.stream = self.audio
        self.container.mux(packet)
        return True

    def finish(self) -> None:
        self.container.mux(self.stream.encode(None))
        self.container.close()

    def abort(self) -> None:
        self.container.close()


_FORMATS = {".mp4": "mp4", ".mov": "mov", ".mkv": "matroska", ".webm": "webm"}


class _FrameFolderSink:
    def __init__(self, folder: Path):
        folder.mkdir()
        self.folder = folder
        self.count = 0

    def write(self, rgb: np.ndarray, pts) -> None:
        from PIL import Image

        Image.fromarray(rgb).save(self.folder / f"frame_{self.count:06d}.png")
        self.count += 1

    def audio_packet(self, packet) -> bool:
        return False

    def finish(self) -> None:
        pass

    def abort(self) -> None:
        pass


def _replace_folder_atomic(target: Path, write, overwrite: bool, before_replace=None) -> None:
    """`write_atomic` for a folder of frames: written under a hidden name, renamed at the
    end; an old output folder is replaced only when it holds nothing but our frames."""

    def write_folder(tmp: Path) -> None:
        try:
            write(tmp)
            if target.exists():
                if not overwrite or not target.is_dir() or any(
                        not _FRAME_NAME.fullmatch(p.name) for p in target.iterdir()):
                    raise VideoError(f"{target} exists and is not an earlier frame output; left alone")
                shutil.rmtree(target)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise

    write_atomic(target, write_folder, before_replace=before_replace)


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
    warnings: list[str] = field(default_factory=list)
    seconds: dict[str, float] = field(default_factory=dict)


def _same_file(a: Path, b: Path) -> bool:
    try:
        return a.resolve() == b.resolve() or (b.exists() and os.path.samefile(a, b))
    except OSError:
        return False


def colorize_video(predictor, src, out_path, temporal: str = "flow",
                   keyframe_every: int | None = None, progress: bool = True, *,
                   overwrite: bool = False, fps=None, work_side: int = DEFAULT_WORK_SIDE,
                   before_replace=None, **stabilizer_options) -> VideoReport:
    """Colorize one video (or frame folder) into ``out_path``.

    Args:
        predictor: a Predictor (``image_size``, ``predict_normalized``), a Keras
            colorizer, or the path of a saved model.
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

    Raises:
        InvalidArgument: a bad option, an unknown output suffix, or ``out_path`` is the
            input. VideoError: unreadable input, or the output exists.
    """
    src, out = Path(src), Path(out_path)
    suffix = out.suffix.lower()
    if suffix and suffix not in OUTPUT_VIDEO_SUFFIXES:
        raise InvalidArgument(f"cannot write {out}: use a suffix of "
                              f"{', '.join(sorted(OUTPUT_VIDEO_SUFFIXES))}, or none for PNG frames")
    if not src.exists():
        raise VideoError(f"{src}: not found")
    if _same_file(src, out):
        raise InvalidArgument(f"refusing to write {out}: it is the input")
    if (out.exists() or out.is_symlink()) and not overwrite:
        raise VideoError(f"{out} exists; pass overwrite to replace it")
    remove_stale_temporaries(out)
    colorizer = FrameColorizer(predictor, temporal, keyframe_every, work_side=work_side,
                               **stabilizer_options)
    source = _Source(src, fps)
    report = VideoReport(src, out, width=source.width, height=source.height, fps=source.rate,
                         header_frames=source.frames if source.container is not None else None)
    seconds = {"decode": 0.0, "encode": 0.0}

    def write(tmp: Path) -> None:
        from tqdm.auto import tqdm

        sink = _VideoSink(tmp, suffix, source, report) if suffix else _FrameFolderSink(tmp)
        try:
            with tqdm(total=source.frames, desc=src.name, unit="frame", disable=not progress) as bar:
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

    try:
        if suffix:
            if out.is_dir():
                raise VideoError(f"{out} is a folder; left alone")
            write_atomic(out, write, before_replace=before_replace)
        else:
            _replace_folder_atomic(out, write, overwrite, before_replace)
    finally:
        source.close()
    if report.frames == 0:
        raise VideoError(f"{src}: no frames decoded")
    if report.header_frames and report.frames != report.header_frames:
        report.warnings.append(
            f"{src.name}: {report.frames} frames decoded where its header says {report.header_frames}: "
            f"the file is truncated or damaged, and the output has the {report.frames} that could be read")
    report.model_frames = colorizer.model_frames
    report.seconds = {**seconds, "model": colorizer.seconds["model"],
                      "flow": colorizer.flow_seconds, "colour": colorizer.seconds["colour"]}
    return report


def remove_stale_temporaries(out: Path) -> list[Path]:
    """Remove what a killed run (kill -9, power loss) left of ``out``: the hidden
    temporary ``.<stem>.<pid>.<8 hex>.tmp<suffix>`` of `write_atomic` (a folder of our
    frames for a frame output) whose process is gone. Only that exact name; the check
    is by process id on this machine. Returns what was removed."""
    out = Path(out)
    pattern = re.compile(rf"\.{re.escape(out.stem)}\.([0-9]+)\.[0-9a-f]{{8}}\.tmp{re.escape(out.suffix)}")
    removed = []
    try:
        entries = list(out.parent.iterdir())
    except OSError:
        return removed  # no output folder yet: nothing left there
    for path in entries:
        match = pattern.fullmatch(path.name)
        if not match or process_alive(int(match[1])):
            continue
        try:
            if path.is_symlink():
                continue
            if path.is_file() and out.suffix:
                path.unlink()
            elif path.is_dir() and not out.suffix and all(_FRAME_NAME.fullmatch(p.name) for p in path.iterdir()):
                shutil.rmtree(path)
            else:
                continue
        except OSError:
            continue  # not ours to fight over; the write goes on beside it
        removed.append(path)
    return removed


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
    import warnings

    from PIL import Image

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
class VideoBatchReport:
    written: list[VideoReport] = field(default_factory=list)
    existing: list[Path] = field(default_factory=list)
    skipped: list[tuple[Path, str]] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.skipped

    def to_text(self) -> str:
        lines = [f"colorized {len(self.written)} video(s); {len(self.existing)} already done (kept); "
                 f"{len(self.skipped)} skipped"]
        for item in self.written:
            lines.append(f"  {item.output}: {item.frames} frames ({item.model_frames} through the model), "
                         f"{len(item.cuts)} scene cut(s), {item.audio_packets} audio packets copied")
            lines += [f"    warning: {message}" for message in item.warnings]
        lines += [f"  skipped {path}: {reason}" for path, reason in self.skipped]
        if self.existing:
            lines.append("  (existing outputs are kept; rerun with --overwrite to redo them)")
        return "\n".join(lines)


def plan_video_outputs(inputs, out_dir) -> tuple[list[tuple[Path, Path]], list[tuple[Path, str]]]:
    """(input, output) pairs: ``out_dir/<stem><suffix>``, the suffix kept for .mp4 .mov
    .mkv .webm; .avi -> .mkv (holds any audio), .gif -> .mp4, a frame folder -> .mp4.

    Raises InvalidArgument when an output would be an input file.
    """
    jobs, skipped, claimed = [], [], {}
    out_dir = Path(out_dir)
    for item in map(Path, inputs):
        if not item.exists():
            skipped.append((item, "not found"))
            continue
        kind = "" if item.is_dir() else item.suffix.lower()
        if kind not in _BATCH_SUFFIX:
            skipped.append((item, f"not a video ({', '.join(sorted(VIDEO_SUFFIXES))}) or frame folder"))
            continue
        target = out_dir / f"{item.name if item.is_dir() else item.stem}{_BATCH_SUFFIX[kind]}"
        if _same_file(item, target):
            raise InvalidArgument(f"refusing to colorize {item}: its output {target} is the input; "
                                  "choose another output folder")
        key = target.resolve()
        if key in claimed:
            skipped.append((item, f"output {target} is already the output of {claimed[key]}"))
            continue
        claimed[key] = item
        jobs.append((item, target))
    return jobs, skipped


def colorize_video_paths(model_path, inputs: list, out_dir, temporal: str = "flow",
                         keyframe_every: int | None = None, overwrite: bool = False, *,
                         progress: bool = True) -> VideoBatchReport:
    """Colorize video files (and frame folders) into ``out_dir``; see `plan_video_outputs`
    for the names. Existing outputs are kept unless ``overwrite``; a file that fails is
    reported in ``skipped`` and the rest go on. The model is loaded only when some video
    needs it.

    Raises:
        InvalidArgument: a bad option or an output that would be an input (nothing done).
        ModelLoadError: the model cannot be loaded.
    """
    from colorkeras.inference.colorize import OutputManifest, _stamp

    TemporalStabilizer(temporal, keyframe_every)  # check the options before any work
    jobs, skipped = plan_video_outputs(inputs, out_dir)
    report = VideoBatchReport(skipped=list(skipped))
    if not jobs:
        return report
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
            if (target.exists() or target.is_symlink()) and not overwrite:
                report.existing.append(source)
                continue
            if predictor is None:
                predictor = as_predictor(model_path)

            def expect(tmp: Path, source=source, target=target) -> None:
                manifest.expect([(source, target, _stamp(tmp))])

            try:
                report.written.append(colorize_video(predictor, source, target, temporal, keyframe_every,
                                                     progress, overwrite=overwrite, before_replace=expect))
            except VideoError as error:
                reason = str(error)  # said once: the report names the file
                report.skipped.append((source, reason.removeprefix(f"{source}: ")))
                continue
            manifest.confirm([target])
    return report
