"""Video streams written with PyAV: the encoder settings every writer of a film shares.

`add_video_stream` is what the generated clips (`colorkeras.data.clips.write_clip`) and
the colorized films (`colorkeras.inference.video_io.VideoSink`) encode with, so both keep
a frame's size exactly and use the same codecs. PyAV is imported by the caller, which
hands its open container in.
"""

from __future__ import annotations

from fractions import Fraction

from colorkeras.errors import InvalidArgument

OUTPUT_VIDEO_SUFFIXES = frozenset({".mp4", ".mov", ".mkv", ".webm"})


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
