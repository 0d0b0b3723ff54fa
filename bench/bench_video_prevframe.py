"""Does a colorizer that also sees the previous frame's colour beat the flow stabiliser?

Issue 12: add a model family that takes the previous output's ab, carried along the
flow, only if it beats the stabiliser on flicker and PSNR. This experiment trains two
small U-Nets (same layers, same data, same steps, same seed) on toy-city camera clips:

* per-frame: L -> ab;
* recurrent: (L, previous ab carried onto this frame, its trust) -> ab. In training the
  previous ab is the previous frame's truth moved by the true flow, with noise, a random
  colour cast and dropped areas, and no previous colour at all for a quarter of the
  samples (first frames, cuts), so that it cannot just copy a perfect input.

Both are then run on other clips (seed B: other scenes and camera moves, one with a cut),
with the flow computed as the video path computes it (DIS on L, forward-backward trust):

* per-frame, off: every frame alone;
* per-frame, flow: the shipped stabiliser (`colorkeras.inference.temporal.TemporalStabilizer`);
* recurrent: its own previous output, carried by DIS flow, as its third input;
* recurrent + flow: the recurrent model's output stabilised as well;

and measured with the true flow (temporal warping error, ab units) and against the truth
(PSNR), beside the grey floor. The decision rule is the issue's: the variant must beat
"per-frame, flow" on both measures.

    python bench/bench_video_prevframe.py              # about 5 minutes on 2 cores
    python bench/bench_video_prevframe.py --steps 60 --clips 8    # seconds: a smoke run
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from datetime import datetime
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))
from machine import machine_line  # noqa: E402 - bench/machine.py, beside this script

SIZE = 64
AB_SCALE = 127.5  # normalised ab = ab / 127.5, as colorkeras.color


def make_clips(count: int, frames: int, seed: int):
    from colorkeras.data import clips
    from colorkeras.data.synthetic import SCENE_CLASSES

    rng = np.random.default_rng(seed)
    out = []
    for i in range(count):
        pan = (float(rng.uniform(-2, 2)), float(rng.uniform(-0.6, 0.6)))
        zoom = float(rng.choice([1.0, 1.0, 1.01, 0.99]))
        scene = SCENE_CLASSES[int(rng.integers(len(SCENE_CLASSES)))]
        out.append(clips.pan_clip(frames, SIZE, SIZE, pan=pan, zoom=zoom, scene_class=scene, seed=seed,
                                  index=int(rng.integers(10**6)), picture_size=192))
    return out


def lab_frames(clip):
    from colorkeras import color

    lab = np.stack([color.rgb_to_lab(frame) for frame in clip.frames]).astype(np.float32)
    return lab[..., :1], lab[..., 1:]


def training_pairs(clip_list, rng):
    """(L_norm, previous ab carried and corrupted, trust, target ab_norm) per frame t >= 1."""
    from colorkeras.inference.temporal import warp_backward

    ls, prevs, trusts, targets = [], [], [], []
    for clip in clip_list:
        lightness, ab = lab_frames(clip)
        for t in range(1, len(clip)):
            carried = warp_backward(ab[t - 1], clip.flows[t])
            trust = clip.masks[t].astype(np.float32)
            carried = carried + rng.normal(0, 4.0, carried.shape) + rng.normal(0, 6.0, (1, 1, 2))
            if rng.random() < 0.5:  # drop a random block (occlusion, low trust)
                y, x = rng.integers(0, SIZE - 16, 2)
                trust[y:y + 24, x:x + 24] = 0
            if rng.random() < 0.25:  # no previous frame: a first frame or a cut
                trust[:] = 0
            carried = carried * trust[..., None]
            ls.append(lightness[t] / 50.0 - 1.0)
            prevs.append(carried / AB_SCALE)
            trusts.append(trust[..., None])
            targets.append(ab[t] / AB_SCALE)
    return (np.stack(ls).astype(np.float32), np.stack(prevs).astype(np.float32),
            np.stack(trusts).astype(np.float32), np.stack(targets).astype(np.float32))


def small_unet(channels: int, name: str):
    """Three levels (16-32-64), bilinear upsampling, skips, tanh ab head."""
    import keras
    from keras import layers

    inputs = keras.Input((SIZE, SIZE, channels))
    x, skips = inputs, []
    for filters in (16, 32):
        x = layers.Conv2D(filters, 3, padding="same", activation="relu")(x)
        x = layers.Conv2D(filters, 3, padding="same", activation="relu")(x)
        skips.append(x)
        x = layers.MaxPooling2D(2)(x)
    x = layers.Conv2D(64, 3, padding="same", activation="relu")(x)
    for filters, skip in zip((32, 16), reversed(skips)):
        x = layers.UpSampling2D(2, interpolation="bilinear")(x)
        x = layers.Concatenate()([x, skip])
        x = layers.Conv2D(filters, 3, padding="same", activation="relu")(x)
    outputs = layers.Conv2D(2, 1, activation="tanh")(x)
    model = keras.Model(inputs, outputs, name=name)
    model.compile(keras.optimizers.Adam(1e-3), "mse")
    return model


def run_clip(clip, per_frame, recurrent, stabilise: bool, model_kind: str):
    """ab per frame (un-normalised) for one way of running the models."""
    from colorkeras.inference.temporal import TemporalStabilizer, flow_confidence, lightness_u8, warp_backward

    lightness, _ = lab_frames(clip)
    stabilizer = TemporalStabilizer("flow") if stabilise else None
    previous_l = previous_ab = None
    import cv2

    dis = cv2.DISOpticalFlow_create(2)
    outputs = []
    for t in range(len(clip)):
        l_norm = lightness[t] / 50.0 - 1.0
        if model_kind == "per-frame":
            def predict():
                return per_frame(l_norm[None], training=False).numpy()[0] * AB_SCALE
        else:
            current = lightness_u8(lightness[t][..., 0])
            if previous_ab is None or t in clip.cuts:
                carried, trust = np.zeros((SIZE, SIZE, 2), np.float32), np.zeros((SIZE, SIZE), np.float32)
            else:
                backward = dis.calc(current, previous_l, None)
                forward = dis.calc(previous_l, current, None)
                trust = flow_confidence(backward, forward)
                carried = warp_backward(previous_ab, backward) * trust[..., None]
            stacked = np.concatenate([l_norm, carried / AB_SCALE, trust[..., None]], axis=-1)[None]

            def predict():
                return recurrent(stacked, training=False).numpy()[0] * AB_SCALE
            previous_l = current
        if stabilizer is None:
            ab = predict()
        else:
            ab, _ = stabilizer.step(lightness[t][..., 0], predict)
        previous_ab = np.asarray(ab, np.float32)
        outputs.append(previous_ab)
    return outputs


def measure(clip, outputs):
    from colorkeras.evaluation.video_evaluate import clip_quality
    from colorkeras.inference.temporal import temporal_warping_error
    from colorkeras import color

    warp = temporal_warping_error(outputs, clip.flows, clip.masks)
    lightness, _ = lab_frames(clip)
    rgb = [np.clip(color.lab_to_rgb(np.concatenate([l, ab], -1)) * 255 + 0.5, 0, 255).astype(np.uint8)
           for l, ab in zip(lightness, outputs)]
    return warp, float(np.mean(clip_quality(rgb, list(clip.frames))["psnr"]))


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--clips", type=int, default=60, help="training clips (12 frames each)")
    parser.add_argument("--steps", type=int, default=1500, help="training steps of batch 32 per model")
    parser.add_argument("--test-clips", type=int, default=6, help="report clips (24 frames, seed B)")
    args = parser.parse_args(argv)

    from colorkeras.runtime import quiet_tensorflow_startup

    quiet_tensorflow_startup()
    import keras

    from colorkeras.data import clips as clips_module

    print(f"bench_video_prevframe {datetime.now():%Y-%m-%d %H:%M}; {machine_line()}; Keras {keras.__version__} "
          f"on {keras.backend.backend()}")
    rng = np.random.default_rng(0)
    started = time.perf_counter()
    train_clips = make_clips(args.clips, 12, seed=1)
    l_in, prev_in, trust_in, target = training_pairs(train_clips, rng)
    print(f"{len(target)} training frames from {args.clips} clips at {SIZE}x{SIZE} "
          f"({time.perf_counter() - started:.0f} s to render)", flush=True)

    models = {}
    for kind, channels in (("per-frame", 1), ("recurrent", 4)):
        keras.utils.set_random_seed(0)
        model = small_unet(channels, kind.replace("-", "_"))
        inputs = l_in if channels == 1 else np.concatenate([l_in, prev_in, trust_in], axis=-1)
        order = np.random.default_rng(1)
        start = time.perf_counter()
        for step in range(args.steps):
            batch = order.integers(0, len(target), 32)
            loss = model.train_on_batch(inputs[batch], target[batch])
        print(f"trained {kind}: {args.steps} steps, last batch loss {float(loss):.5f}, "
              f"{time.perf_counter() - start:.0f} s", flush=True)
        models[kind] = model

    test_clips = make_clips(args.test_clips - 1, 24, seed=2)
    first, second = make_clips(2, 12, seed=3)
    test_clips.append(clips_module.concat_clips(first, second))
    ways = (("per-frame, off", "per-frame", False), ("per-frame, flow (shipped)", "per-frame", True),
            ("recurrent", "recurrent", False), ("recurrent + flow", "recurrent", True))
    results = {name: [] for name, _, _ in ways}
    grey = []
    for clip in test_clips:
        for name, kind, stabilise in ways:
            results[name].append(measure(clip, run_clip(clip, models["per-frame"], models["recurrent"],
                                                        stabilise, kind)))
        grey.append(measure(clip, [np.zeros((SIZE, SIZE, 2), np.float32)] * len(clip)))
    print(f"\nREPORT: {len(test_clips)} clips of 24 frames at {SIZE}x{SIZE} (seed B, the last with a cut); "
          "mean over clips")
    print(f"{'way':<28}{'warp err':>9}{'PSNR dB':>9}   per clip warp")
    for name, _, _ in ways:
        warps = [w for w, _ in results[name]]
        print(f"{name:<28}{np.mean(warps):9.3f}{np.mean([p for _, p in results[name]]):9.2f}   "
              + " ".join(f"{w:.3f}" for w in warps))
    print(f"{'grey floor':<28}{0.0:9.3f}{np.mean([p for _, p in grey]):9.2f}")
    shipped = results["per-frame, flow (shipped)"]
    variant = results["recurrent"]
    beats = (np.mean([w for w, _ in variant]) < np.mean([w for w, _ in shipped])
             and np.mean([p for _, p in variant]) > np.mean([p for _, p in shipped]))
    print(f"\nthe recurrent variant {'BEATS' if beats else 'does not beat'} the shipped stabiliser on both "
          f"measures ({time.perf_counter() - started:.0f} s in all)")


if __name__ == "__main__":
    main()
