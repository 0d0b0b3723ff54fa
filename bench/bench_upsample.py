"""Benchmark chroma upsampling at full resolution: plain resize vs the guided filter.

Where a colour truth exists at high resolution, a perfect model at S px (256) would
predict the ab of the photo resized to S x S (as `colorkeras.images.resize_square` and
data preparation make it). That ab is brought back to the photo's size with
`colorkeras.inference.upsample.upsample_ab` (``"resize"`` and ``"guided"``) and compared with the
photo's own ab: the mean absolute ab error (per channel, in ab units) over every pixel
and in the edge band (`edge_band`: pixels within EDGE_BAND_PX of an L edge).

Sets: the toy city rendered at 1024 and 2048 px (seed 2, held out: the defaults were
chosen with ``--tune`` on seed 1 and on camvid-street/train), and the real photos of
``../shared/data/camvid-street/test`` (480x360; skipped with a line if absent).
Then a 24 MP photo (6000x4000, the toy city resized up) goes through
`Predictor.colorize` with a random-weight 256 px baseline, once per method, each in its
own process: wall time of the call and peak memory (max RSS, TensorFlow included, and
its rise over the RSS before the call).

    python bench/bench_upsample.py             # the measurement (about 3 minutes on 2 cores)
    python bench/bench_upsample.py --tune      # the validation grid the defaults came from
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from datetime import datetime
from pathlib import Path

import numpy as np

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.path.insert(0, str(Path(__file__).resolve().parent))
from machine import machine_line  # noqa: E402 - bench/machine.py, beside this script

ROOT = Path(__file__).resolve().parent.parent
CAMVID = ROOT.parent / "shared" / "data" / "camvid-street"
MODEL_SIZE = 256
EDGE_THRESHOLD = 4.0  # L units per pixel (Sobel 3x3 magnitude / 8)
EDGE_BAND_PX = 3  # the band reaches this many pixels from an edge pixel
TUNE_SEED, MEASURE_SEED = 1, 2


def edge_band(lightness: np.ndarray) -> np.ndarray:
    """Boolean (H, W): pixels within EDGE_BAND_PX of a pixel whose L gradient exceeds EDGE_THRESHOLD."""
    import cv2

    gx = cv2.Sobel(lightness, cv2.CV_32F, 1, 0, ksize=3)
    gy = cv2.Sobel(lightness, cv2.CV_32F, 0, 1, ksize=3)
    edges = (np.hypot(gx, gy) / 8.0 > EDGE_THRESHOLD).astype(np.uint8)
    disc = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * EDGE_BAND_PX + 1,) * 2)
    return cv2.dilate(edges, disc).astype(bool)


def truth(rgb: np.ndarray):
    """(L, ab, band) of the photo and the ab a perfect MODEL_SIZE px model would predict."""
    from colorkeras import color
    from colorkeras.images import resize_square

    lab = color.rgb_to_lab(rgb)
    small = color.rgb_to_lab(resize_square(rgb, MODEL_SIZE))[..., 1:]
    return lab[..., 0], lab[..., 1:], edge_band(lab[..., 0]), small


def toy_city(size: int, seed: int, per_class: int):
    from colorkeras.data.synthetic import SCENE_CLASSES, render_scene

    for index in range(per_class):
        for scene in SCENE_CLASSES:
            yield render_scene(scene, size=size, seed=seed, index=index)


def camvid(split: str, limit: int | None):
    from colorkeras.images import list_images, read_rgb

    for path in list_images(CAMVID / split)[:limit]:
        yield read_rgb(path)


def evaluate(photos, settings: dict[str, dict]):
    """Per setting: (band error, all error, seconds per photo); the count of photos."""
    from colorkeras.inference.upsample import upsample_ab

    sums = {name: np.zeros(3) for name in settings}
    count = 0
    for rgb in photos:
        lightness, ab, band, small = truth(rgb)
        for name, options in settings.items():
            start = time.perf_counter()
            up = upsample_ab(small, lightness, **options)
            seconds = time.perf_counter() - start
            error = np.abs(up - ab).mean(axis=-1)
            sums[name] += (error[band].mean() if band.any() else 0.0, error.mean(), seconds)
        count += 1
    return {name: total / max(count, 1) for name, total in sums.items()}, count


def tune() -> None:
    grid = {"resize": {"method": "resize"}}
    for radius in (1, 2, 4):
        for eps in (1e-5, 1e-4, 1e-3, 1e-2):
            grid[f"guided r={radius} eps={eps:g}"] = {"method": "guided", "radius": radius, "eps": eps}
    sets = [(f"toy city 1024 px, seed {TUNE_SEED}", lambda: toy_city(1024, TUNE_SEED, 2))]
    if (CAMVID / "train").is_dir():
        sets.append(("camvid-street train (first 40)", lambda: camvid("train", 40)))
    for title, photos in sets:
        results, count = evaluate(photos(), grid)
        print(f"\n{title}: {count} photos; mean |ab error| band / all")
        for name, (band, every, seconds) in results.items():
            print(f"  {name:<26}{band:7.3f} /{every:6.3f}   {seconds * 1000:6.0f} ms")


def measure() -> None:
    settings = {"resize": {"method": "resize"}, "guided": {"method": "guided"}}
    sets = [("toy city 1024 px", lambda: toy_city(1024, MEASURE_SEED, 3)),
            ("toy city 2048 px", lambda: toy_city(2048, MEASURE_SEED, 1))]
    if (CAMVID / "test").is_dir():
        sets.append(("camvid-street test 480x360", lambda: camvid("test", None)))
    else:
        print(f"camvid-street test: {CAMVID / 'test'} is absent; its row is skipped")
    from colorkeras.inference.upsample import DEFAULT_EPS, DEFAULT_RADIUS

    print(f"model size {MODEL_SIZE}; guided radius {DEFAULT_RADIUS}, eps {DEFAULT_EPS:g}; edge band: "
          f"Sobel |grad L| > {EDGE_THRESHOLD:g}/px, dilated {EDGE_BAND_PX} px")
    print("| set | n | resize band / all | guided band / all | band reduction | resize ms/photo "
          "| guided ms/photo |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    for title, photos in sets:
        results, count = evaluate(photos(), settings)
        (rb, ra, rt), (gb, ga, gt) = results["resize"], results["guided"]
        print(f"| {title} | {count} | {rb:.2f} / {ra:.2f} | {gb:.2f} / {ga:.2f} | "
              f"{100 * (1 - gb / rb):.0f}% | {rt * 1000:.0f} | {gt * 1000:.0f} |", flush=True)
    print("\n24 MP photo (6000x4000) through Predictor.colorize, random 256 px baseline, "
          "one process per method:")
    print("| method | colorize s | upsample_ab s | peak RSS MB | RSS rise in the call MB |")
    print("|---|---:|---:|---:|---:|")
    for method in ("resize", "guided"):
        result = subprocess.run([sys.executable, __file__, "--large", method], check=True,
                                capture_output=True, text=True, env={**os.environ, "PYTHONPATH": str(ROOT)})
        figures = json.loads(result.stdout.strip().splitlines()[-1])
        print(f"| {method} | {figures['colorize_s']:.1f} | {figures['upsample_s']:.2f} | "
              f"{figures['peak_mb']:.0f} | {figures['peak_mb'] - figures['before_mb']:.0f} |", flush=True)


def large(method: str) -> None:
    """One 24 MP colorize in this process; prints a JSON line of time and memory."""
    import resource

    from PIL import Image

    from colorkeras.runtime import quiet_tensorflow_startup

    quiet_tensorflow_startup()
    import keras

    from colorkeras.data.synthetic import render_scene
    from colorkeras.models.registry import build_model
    from colorkeras.inference.predictor import Predictor
    from colorkeras.inference.upsample import upsample_ab

    keras.utils.set_random_seed(0)
    predictor = Predictor(build_model("baseline", MODEL_SIZE), chroma_upsampling=method)
    predictor.predict_normalized(np.zeros((1, MODEL_SIZE, MODEL_SIZE, 1), np.float32))  # warm up
    scene = render_scene("street", size=1024, seed=MEASURE_SEED, index=0)
    rgb = np.asarray(Image.fromarray(scene).resize((6000, 4000), Image.BICUBIC))
    del scene
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    start = time.perf_counter()
    predictor.colorize(rgb)
    colorize_s = time.perf_counter() - start
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    # Then the upsampling step alone, on the photo's own L (after the peak was read).
    lightness = predictor.lightness(rgb)
    start = time.perf_counter()
    upsample_ab(np.zeros((MODEL_SIZE, MODEL_SIZE, 2), np.float32) + 10, lightness, method)
    upsample_s = time.perf_counter() - start
    print(json.dumps({"colorize_s": colorize_s, "upsample_s": upsample_s, "peak_mb": peak,
                      "before_mb": before}))


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tune", action="store_true", help="the validation grid (seed 1, camvid train)")
    parser.add_argument("--large", choices=("resize", "guided"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.large:
        large(args.large)
        return
    import cv2

    print(f"bench_upsample {datetime.now():%Y-%m-%d %H:%M}; {machine_line()}")
    print(f"numpy {np.__version__}, opencv {cv2.__version__}")
    tune() if args.tune else measure()


if __name__ == "__main__":
    main()
