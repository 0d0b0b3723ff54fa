"""Benchmark video colorization on this machine's CPU: fps per stage and per mode.

A generated clip (a camera panning over the toy city, colorkeras.data.clips, with an AAC
tone) is colorized by `colorkeras.video.colorize_video` with a random-weight baseline in
three modes: every frame on its own (temporal="off"), flow-stabilised (temporal="flow"),
and keyframes (flow, the model on every k-th frame). Per mode it prints the wall fps and
each stage's rate (frames / seconds spent in it): decode, model (input preparation and
the forward pass), flow (DIS both ways, confidence, warp), colour (L of the frame and
LAB->RGB at full size) and encode (H.264 CRF 18, veryfast). Peak memory is the process's
maximum resident set (resource.getrusage), which includes TensorFlow.

    python bench/bench_video.py                       # 640x360, 48 frames, 256 px model
    python bench/bench_video.py --width 1280 --height 720 --frames 24 --keyframe-every 8
"""

from __future__ import annotations

import argparse
import os
import resource
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
    args = parser.parse_args(argv)

    from colorkeras.runtime import quiet_tensorflow_startup

    quiet_tensorflow_startup()
    import av
    import cv2
    import keras

    from colorkeras.data import clips
    from colorkeras.models.registry import build_model
    from colorkeras.predictor import Predictor
    from colorkeras.video import colorize_video

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
              f"model: random baseline {args.size} px")
        print(f"{'mode':<16}{'wall fps':>9}{'model runs':>11}" + "".join(
            f"{stage + ' fps':>13}" for stage in ("decode", "model", "flow", "colour", "encode")))
        for name, temporal, keyframes in (("every frame", "off", None), ("flow", "flow", None),
                                          (f"keyframes k={args.keyframe_every}", "flow", args.keyframe_every)):
            start = time.perf_counter()
            report = colorize_video(predictor, src, work / f"{temporal}{keyframes}.mp4", temporal,
                                    keyframes, progress=False)
            wall = time.perf_counter() - start
            rates = []
            for stage in ("decode", "model", "flow", "colour", "encode"):
                seconds = report.seconds[stage]
                rates.append(f"{report.frames / seconds:>13.1f}" if seconds > 0 else f"{'-':>13}")
            print(f"{name:<16}{report.frames / wall:>9.2f}{report.model_frames:>11}" + "".join(rates))
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"peak memory (max RSS of the process, TensorFlow included): {peak:.0f} MB")


if __name__ == "__main__":
    main()
