"""Films in and out, streamed: decoding, probing, encoding, and what a killed run left.

Inputs: .mp4 .mov .avi .mkv .webm, animated .gif, or a folder of numbered frames (PNG or
JPEG, in natural order: frame2 before frame10; frame rate ``fps``, default 25). `Source`
reads one frame at a time (memory stays bounded whatever the length) together with the
audio packets, which writers copy unchanged (remuxed, not re-encoded). Frames above
`MAX_VIDEO_PIXELS` are refused from the file's header, before any is decoded.

Outputs: `VideoSink` encodes .mp4 .mov .mkv as H.264 and .webm as VP9
(`colorkeras.data.media.add_video_stream`), keeping the frame size, every frame's
timestamp and the audio where the container holds its codec; `FrameFolderSink` writes
PNG frames ``frame_000000.png``, ... (lossless). Both are written under a hidden
temporary name and renamed at the end (`colorkeras.fileio.write_atomic`,
`replace_folder_atomic`), and `remove_stale_temporaries` clears what a killed run left.
"""

from __future__ import annotations

import re
import shutil
import warnings
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Iterator

import numpy as np
from PIL import Image

from colorkeras.data.media import add_video_stream
from colorkeras.errors import ColorkerasError
from colorkeras.fileio import process_alive, write_atomic
from colorkeras.images import ImageReadError, read_rgb

FRAME_SUFFIXES = frozenset({".png", ".jpg", ".jpeg"})
DEFAULT_FOLDER_FPS = Fraction(25)
# The largest frame colorize and evaluate-video take, checked from the file's header
# before any frame is decoded. Memory grows with the frame size, not the film's length:
# about 120 bytes a pixel were measured on 2 cores (decoded frame, full-size L, colour
# and the encoder's frames in flight; 1.45 GB above the model for a 12 MP clip) and about
# 210 on a larger machine (13.4 GB for 64 MP), so 36 MP (8K UHD, 7680x4320, is 33 MP)
# needs up to about 8 GB and fits a 24 GiB machine beside the model.
MAX_VIDEO_PIXELS = 36_000_000
# Audio codecs each output container takes; a stream of another codec is left out (with
# a warning in the report) rather than re-encoded. None: any.
_AUDIO_CODECS = {
    ".mp4": {"aac", "mp3", "opus", "alac", "flac", "ac3", "eac3"},
    ".mov": {"aac", "mp3", "alac", "ac3", "pcm_s16le", "pcm_s16be", "pcm_s24le", "pcm_f32le"},
    ".webm": {"opus", "vorbis"},
    ".mkv": None,
}
_FORMATS = {".mp4": "mp4", ".mov": "mov", ".mkv": "matroska", ".webm": "webm"}
_FRAME_NAME = re.compile(r"frame_[0-9]{6,}\.png")


class VideoError(ColorkerasError):
    """A video that cannot be read or written (not a video, no video stream, a damaged
    file, an output that exists)."""


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


class Source:
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

    source = Source(Path(path))
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
class VideoSink:
    """Encodes frames into ``tmp`` (.mp4 .mov .mkv .webm by ``suffix``) at ``source``'s
    size, rate and time base, copying its audio where the container holds the codec
    (otherwise a note in ``notes``)."""

    def __init__(self, tmp: Path, suffix: str, source: Source, notes: list[str]):
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
                notes.append(f"audio ({name}) left out: {suffix} cannot hold it; use .mkv to keep it")

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


class FrameFolderSink:
    """Writes frames as ``frame_000000.png``, ... into a new ``folder`` (no audio)."""

    def __init__(self, folder: Path):
        folder.mkdir()
        self.folder = folder
        self.count = 0

    def write(self, rgb: np.ndarray, pts) -> None:
        Image.fromarray(rgb).save(self.folder / f"frame_{self.count:06d}.png")
        self.count += 1

    def audio_packet(self, packet) -> bool:
        return False

    def finish(self) -> None:
        pass

    def abort(self) -> None:
        pass


def replace_folder_atomic(target: Path, write, overwrite: bool, before_replace=None) -> None:
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
