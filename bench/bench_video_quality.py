"""Video quality of the temporal modes: flicker (warping error) and PSNR on generated clips.

Clips with known truth and true flow (`colorkeras.data.clips`) at 640x360: the toy city
under a panning and a zooming camera, and camera moves over real street photos
(``../shared/data/camvid-street/test``, 480x360 JPEGs; skipped with a line if absent).
`colorkeras.evaluation.video_evaluate.evaluate_clip` colorizes each clip per mode (off: every frame
alone; flow: stabilised; keyframes: the model every k-th frame) and measures, with the
true flow, the temporal warping error (mean ab change along the motion, ab units) and the
mean PSNR against the truth.

1. ``--tune``: on VALIDATION clips (seed A) keyframe mode is run for each DIS preset and
   working size, beside flow mode; the flow stage's fps of each setting is timed too.
2. On REPORT clips (seed B: other toy-city scenes, other photos) off / flow / keyframes
   are compared with the defaults: the issue's targets are ratios and dB differences
   between modes.

Model: by default a random-weight 32 px baseline whose last conv is scaled up (untrained
models predict almost grey; this one gives colour that flickers, what stabilisation is
for; its absolute PSNR is meaningless, the differences between modes are the point).
``--train`` trains a tiny baseline on the toy city first (TrainConfig.demo, as `colorkeras demo`,
about a minute) and uses it instead.

    python bench/bench_video_quality.py --tune      # grid on seed A, then report on seed B
    python bench/bench_video_quality.py --frames 48 # report only (defaults)
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))
from machine import machine_line  # noqa: E402 - bench/machine.py, beside this script

CAMVID = Path(__file__).resolve().parents[1] / ".." / "shared" / "data" / "camvid-street" / "test"
SEED_A, SEED_B = 1, 2
PRESETS = ("ultrafast", "fast", "medium")
WORK_SIDES = (320, 256, 192)


def random_model(size: int = 32):
    import keras

    from colorkeras.models.registry import build_model

    keras.utils.set_random_seed(0)
    model = build_model("baseline", size)
    conv = model.get_layer("decoder").get_layer("decoder_conv5")
    kernel, bias = conv.get_weights()
    conv.set_weights([kernel * 40, bias])
    return model, f"random baseline {size} px, last conv x40"


def trained_model(work: Path):
    from colorkeras.training.config import TrainConfig
    from colorkeras.data.prepare import PrepareSettings, prepare
    from colorkeras.data.synthetic import write_toy_city
    from colorkeras.training.train import train

    from colorkeras.demo import DEMO_IMAGES_PER_CLASS, DEMO_SOURCE_SIZE

    config = TrainConfig.demo()  # what `colorkeras demo` trains
    write_toy_city(work / "toy_city", per_class=DEMO_IMAGES_PER_CLASS, size=DEMO_SOURCE_SIZE, seed=0)
    prepare(work / "toy_city", work / "prepared", PrepareSettings(image_size=config.image_size), progress=False)
    start = time.perf_counter()
    train(work / "prepared", work / "run", config, verbose=0)
    return work / "run", f"baseline {config.image_size} px trained on the toy city ({config.epochs} epochs, " \
                         f"{time.perf_counter() - start:.0f} s)"


def camvid_photos() -> list[Path]:
    if not CAMVID.is_dir():
        return []
    return sorted(p for p in CAMVID.rglob("*.jpg"))


def make_clips(seed: int, frames: int, width: int, height: int) -> list[tuple[str, object]]:
    """Toy-city pan and zoom clips and camvid camera moves (one with a cut) for ``seed``."""
    from PIL import Image

    from colorkeras.data import clips

    rng = np.random.default_rng(seed)
    out = [
        (f"city pan s{seed}", clips.pan_clip(frames, width, height, pan=(2.0, 0.5), seed=seed, index=seed)),
        (f"city zoom s{seed}", clips.pan_clip(frames, width, height, pan=(0.5, 0.2), zoom=1.01,
                                              scene_class="park", seed=seed, index=seed)),
    ]
    photos = camvid_photos()
    if photos:
        # Seed A takes photos from the first half of the folder, seed B from the second.
        half = len(photos) // 2
        pool = photos[:half] if seed == SEED_A else photos[half:]
        picks = [pool[i] for i in rng.choice(len(pool), 3, replace=False)]
        pictures = [np.asarray(Image.open(p).convert("RGB")) for p in picks]
        out.append((f"camvid pan s{seed}", clips.camera_clip(pictures[0], frames, width, height,
                                                            pan=(1.5, 0.3), cover=0.7)))
        first = clips.camera_clip(pictures[1], frames // 2, width, height, pan=(1.0, 0.2), zoom=1.005, cover=0.7)
        second = clips.camera_clip(pictures[2], frames - frames // 2, width, height, pan=(-1.2, 0.0), cover=0.7)
        out.append((f"camvid zoom+cut s{seed}", clips.concat_clips(first, second)))
    return out


def flow_fps(clip, preset: str, work_side: int, repeats: int = 8) -> float:
    """Frames per second of the flow stage alone (DIS both ways, confidence, warp)."""
    import cv2

    from colorkeras import color
    from colorkeras.inference.temporal import TemporalStabilizer
    from colorkeras.inference.frames import work_shape

    height, width = clip.frames.shape[1:3]
    work_h, work_w = work_shape(height, width, work_side)
    ls = [cv2.resize(color.rgb_to_l(f), (work_w, work_h), interpolation=cv2.INTER_AREA) for f in clip.frames[:repeats + 1]]
    stabilizer = TemporalStabilizer("flow", 10**6, preset=preset, min_confidence=0.0)
    ab = np.zeros((work_h, work_w, 2), np.float32)
    for lightness in ls:
        stabilizer.step(lightness, lambda: ab)
    return repeats / stabilizer.flow_seconds


def evaluate(model, clip, modes, keyframe_every, **options):
    from colorkeras.evaluation.video_evaluate import evaluate_clip

    summary = evaluate_clip(model, clip, modes, keyframe_every, **options).summary()
    return {mode: (summary[mode]["warping_error"], summary[mode]["psnr"], summary[mode]["model_frames"])
            for mode in [*modes, "grey floor"]}


def tune_trust(predictor, clips_a, k) -> None:
    """Flow mode per (consistency_px, match_l) on the validation clips: warping error and
    PSNR per clip, and the worst clip's flow/off ratio (the target is per clip)."""
    print(f"\nVALIDATION (seed {SEED_A}): flow mode's trust, {len(clips_a)} clips; per clip flow/off warp "
          "ratio and PSNR change; worst ratio last")
    off = [evaluate(predictor, clip, ("off",), k)["off"] for _, clip in clips_a]
    print("  " + "  ".join(f"{name}: off {w:.3f}/{p:.2f}" for (name, _), (w, p, _) in zip(clips_a, off)))
    for consistency in (1.0, 2.0, 4.0):
        for match in (None, 2.0, 4.0):
            runs = [evaluate(predictor, clip, ("flow",), k, consistency_px=consistency, match_l=match)["flow"]
                    for _, clip in clips_a]
            ratios = [w / o[0] for (w, _, _), o in zip(runs, off)]
            cells = "  ".join(f"{r:.2f}x {p - o[1]:+.2f}dB" for r, (w, p, _), o in zip(ratios, runs, off))
            print(f"  consistency {consistency:g} px, match_l {match}: {cells}   worst {max(ratios):.2f}x", flush=True)


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--width", type=int, default=640)
    parser.add_argument("--height", type=int, default=360)
    parser.add_argument("--frames", type=int, default=48)
    parser.add_argument("--tune-frames", type=int, default=24)
    parser.add_argument("--keyframe-every", type=int, default=8)
    parser.add_argument("--tune", action="store_true", help="grid of DIS presets and work sizes on seed A")
    parser.add_argument("--train", action="store_true", help="train a tiny toy-city baseline first")
    parser.add_argument("--tune-trust", action="store_true",
                        help="flow mode's trust on seed A: consistency_px x match_l (lightness match)")
    args = parser.parse_args(argv)

    from colorkeras.runtime import quiet_tensorflow_startup

    quiet_tensorflow_startup()
    from colorkeras.inference.predictor import Predictor
    from colorkeras.inference.temporal import DEFAULT_PRESET, DEFAULT_STRENGTH, DEFAULT_WORK_SIDE

    print(f"bench_video_quality {datetime.now():%Y-%m-%d %H:%M}; {machine_line()}")
    with tempfile.TemporaryDirectory() as work:
        model, what = trained_model(Path(work)) if args.train else random_model()
        predictor = Predictor.open(model)
        print(f"model: {what}")
        if not camvid_photos():
            print(f"camvid photos not found at {CAMVID.resolve()}: camera moves over real photos skipped")
        k = args.keyframe_every
        if args.tune:
            clips_a = make_clips(SEED_A, args.tune_frames, args.width, args.height)
            clips_a = [clips_a[0], clips_a[-1]]  # a toy-city pan and (with camvid) a real-photo zoom with a cut
            print(f"\nVALIDATION (seed {SEED_A}), {args.tune_frames} frames at {args.width}x{args.height}, "
                  f"mean over {len(clips_a)} clips ({', '.join(n for n, _ in clips_a)})")
            reference = [evaluate(predictor, clip, ("off", "flow"), k) for _, clip in clips_a]
            for mode in ("off", "flow"):
                print(f"  {mode + ' (defaults)':<30} warp {np.mean([r[mode][0] for r in reference]):7.3f}   "
                      f"PSNR {np.mean([r[mode][1] for r in reference]):6.2f}")
            print(f"  {'keyframes k=' + str(k) + ' preset/side':<30} {'warp':>12} {'PSNR':>10} {'model runs':>11}"
                  f" {'flow fps':>9}")
            for preset in PRESETS:
                for side in WORK_SIDES:
                    runs = [evaluate(predictor, clip, ("keyframes",), k, preset=preset, work_side=side)
                            for _, clip in clips_a]
                    fps = flow_fps(clips_a[0][1], preset, side)
                    print(f"  {preset + ' / ' + str(side):<30} {np.mean([r['keyframes'][0] for r in runs]):12.3f} "
                          f"{np.mean([r['keyframes'][1] for r in runs]):10.2f} "
                          f"{np.mean([r['keyframes'][2] for r in runs]):11.1f} {fps:9.1f}", flush=True)

        if args.tune_trust:
            tune_trust(predictor, make_clips(SEED_A, args.tune_frames, args.width, args.height), k)

        clips_b = make_clips(SEED_B, args.frames, args.width, args.height)
        print(f"\nREPORT (seed {SEED_B}), {args.frames} frames at {args.width}x{args.height}; defaults: "
              f"DIS {DEFAULT_PRESET}, work side {DEFAULT_WORK_SIDE}, strength {DEFAULT_STRENGTH}, "
              f"keyframes every {k}")
        print(f"{'clip':<22}{'mode':<12}{'warp err':>9}{'PSNR dB':>9}{'runs':>6}   "
              "flow/off warp   dPSNR flow-off   kf/flow warp   dPSNR kf-flow")
        for name, clip in clips_b:
            result = evaluate(predictor, clip, ("off", "flow", "keyframes"), k)
            (w_off, p_off, _), (w_flow, p_flow, _), (w_kf, p_kf, _) = (result[m] for m in ("off", "flow", "keyframes"))
            for mode in ("off", "flow", "keyframes", "grey floor"):
                w, p, runs = result[mode]
                tail = (f"   {w_flow / w_off:13.2f}x   {p_flow - p_off:+14.2f}   {w_kf / w_flow:11.2f}x"
                        f"   {p_kf - p_flow:+13.2f}") if mode == "off" else ""
                print(f"{name if mode == 'off' else '':<22}{mode:<12}{w:9.3f}{p:9.2f}{runs:6d}{tail}", flush=True)


if __name__ == "__main__":
    main()
