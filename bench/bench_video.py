"""Benchmark video colorization on this machine's CPU: fps per stage and per mode.

A generated clip (a camera panning over the toy city, colorkeras.data.clips, with an AAC
tone) is colorized by `colorkeras.inference.video.colorize_video` with a random-weight baseline in
three modes: every frame on its own (temporal="off"), flow-stabilised (temporal="flow"),
and keyframes (flow, the model on every k-th frame). Per mode it prints the wall fps and
each stage's rate (frames / seconds spent in it): decode, model (input preparation and
the forward pass), flow (DIS both ways, confidence, warp), colour (L of the frame and
LAB->RGB at full size) and encode (H.264 CRF 18, veryfast), and the process's CPU
seconds per frame (on a shared machine wall fps falls with the load; CPU time less so).

Peak memory: keyframe mode is run in a fresh process on the clip and on a clip 4x as
long; each prints its maximum resident set (resource.getrusage, TensorFlow included).
Streaming keeps it independent of the length.

    python bench/bench_video.py                       # 640x360, 48 frames, 256 px model
    python bench/bench_video.py --width 1280 --height 720 --frames 24 --keyframe-every 8
"""

from __future__ import annotations

import argparse
import os
import resource
import subprocess
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

sys.path.insert(0, str(Path(__file__).resolve().parent))
from machine import machine_line  # noqa: E402 - bench/machine.py, beside this script


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--width", type=int, default=640)
    parser.add_argument("--height", type=int, default=360)
    parser.add_argument("--frames", type=int, default=48)
    parser.add_argument("--size", type=int, default=256, help="model input side")
    parser.add_argument("--keyframe-every", type=int, default=8)
    parser.add_argument("--no-memory", action="store_true", help="skip the short vs long peak-memory runs")
    parser.add_argument("--memory-child", help=argparse.SUPPRESS)  # a clip to colorize in keyframe mode
    args = parser.parse_args(argv)
    if args.memory_child:
        return memory_child(args)

    from colorkeras.runtime import quiet_tensorflow_startup

    quiet_tensorflow_startup()
    import av
    import cv2
    import keras

    from colorkeras.data import clips
    from colorkeras.models.registry import build_model
    from colorkeras.inference.predictor import Predictor
    from colorkeras.inference.temporal import DEFAULT_PRESET, DEFAULT_STRENGTH, DEFAULT_WORK_SIDE
    from colorkeras.inference.video import colorize_video

    print(f"bench_video {datetime.now():%Y-%m-%d %H:%M}; {machine_line()}")
    print(f"keras {keras.__version__} ({keras.backend.backend()}), av {av.__version__}, opencv {cv2.__version__}")
    keras.utils.set_random_seed(0)
    predictor = Predictor(build_model("baseline", args.size))
    predictor.predict_normalized(__import__("numpy").zeros((1, args.size, args.size, 1), "float32"))
    with tempfile.TemporaryDirectory() as work:
        work = Path(work)
        clip = clips.camera_clip(clips.city_picture(2 * max(args.width, args.height)), args.frames,
                                 args.width, args.height, pan=(2.0, 0.5))
        src = clips.write_clip(clip, work / "clip.mp4", crf=18)
        print(f"clip: {args.width}x{args.height}, {args.frames} frames at {clip.fps} fps, "
              f"model: random baseline {args.size} px; flow: DIS {DEFAULT_PRESET} at {DEFAULT_WORK_SIDE} px, "
              f"strength {DEFAULT_STRENGTH}")
        print(f"{'mode':<16}{'wall fps':>9}{'CPU s/frame':>12}{'model runs':>11}" + "".join(
            f"{stage + ' fps':>13}" for stage in ("decode", "model", "flow", "colour", "encode")))
        for name, temporal, keyframes in (("every frame", "off", None), ("flow", "flow", None),
                                          (f"keyframes k={args.keyframe_every}", "flow", args.keyframe_every)):
            start, cpu = time.perf_counter(), _cpu_seconds()
            report = colorize_video(predictor, src, work / f"{temporal}{keyframes}.mp4", temporal,
                                    keyframes, progress=False)
            wall, cpu = time.perf_counter() - start, _cpu_seconds() - cpu
            rates = []
            for stage in ("decode", "model", "flow", "colour", "encode"):
                seconds = report.seconds[stage]
                rates.append(f"{report.frames / seconds:>13.1f}" if seconds > 0 else f"{'-':>13}")
            print(f"{name:<16}{report.frames / wall:>9.2f}{cpu / report.frames:>12.3f}{report.model_frames:>11}"
                  + "".join(rates))
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        print(f"peak memory of this process (max RSS, TensorFlow included): {peak:.0f} MB")
        if not args.no_memory:
            long = clips.camera_clip(clips.city_picture(2 * max(args.width, args.height)), 4 * args.frames,
                                     args.width, args.height, pan=(0.5, 0.125))
            long_src = clips.write_clip(long, work / "long.mp4", crf=18)
            del long
            for label, path, frames in (("short", src, args.frames), ("4x long", long_src, 4 * args.frames)):
                child = subprocess.run([sys.executable, __file__, "--memory-child", str(path), "--size",
                                        str(args.size), "--keyframe-every", str(args.keyframe_every)],
                                       capture_output=True, text=True, check=True)
                print(f"peak memory, keyframes, fresh process, {label} clip ({frames} frames): "
                      f"{child.stdout.strip().splitlines()[-1]}")


def _cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def memory_child(args) -> None:
    """Colorize ``args.memory_child`` in keyframe mode; print the peak RSS in MB."""
    from colorkeras.runtime import quiet_tensorflow_startup

    quiet_tensorflow_startup()
    import keras

    from colorkeras.models.registry import build_model
    from colorkeras.inference.predictor import Predictor
    from colorkeras.inference.video import colorize_video

    keras.utils.set_random_seed(0)
    predictor = Predictor(build_model("baseline", args.size))
    with tempfile.TemporaryDirectory() as work:
        report = colorize_video(predictor, args.memory_child, Path(work) / "out.mp4", "flow",
                                args.keyframe_every, progress=False)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"{peak:.0f} MB max RSS ({report.frames} frames)")


if __name__ == "__main__":
    main()
