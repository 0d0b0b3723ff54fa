"""Benchmark the three colorizers on this machine's CPU with the current Keras backend.

For each model (random weights, so nothing is downloaded) it prints the trainable and
non-trainable parameters, the forward rate of the end-to-end model (L -> ab, the frozen
extractor included: what `colorize` and `colorkeras embed` pay), and the training-step
rate of the training graph (what `colorkeras train` runs: for the fusion models
(L, cached embedding) -> ab, fed random (B, 1000) vectors in place of the cache).
Each rate is the batch over the median time of --steps calls, after --warmup untimed
calls (the first compiles the graph). Compiled as `colorkeras train` compiles: Adam, MSE, jit "auto".

    python bench/bench_models.py                       # 256x256, batch 8
    KERAS_BACKEND=jax python bench/bench_models.py --steps 5
    python bench/bench_models.py --models baseline --size 128 --batch 16
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from datetime import datetime

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402
from machine import machine_line  # noqa: E402 - bench/machine.py, beside this script

MODELS = ("baseline", "inception_fusion", "vit_fusion")
LEARNING_RATE = 1e-4  # the study's Adam learning rate (colorkeras.training.config)


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--models", nargs="+", choices=MODELS, default=list(MODELS))
    parser.add_argument("--size", type=int, default=256, help="image side (default: %(default)s)")
    parser.add_argument("--batch", type=int, default=8, help="batch size (default: %(default)s)")
    parser.add_argument("--steps", type=int, default=5, help="timed calls per rate (default: %(default)s)")
    parser.add_argument("--warmup", type=int, default=2, help="untimed calls first (default: %(default)s)")
    return parser.parse_args(argv)


def count_parameters(weights) -> int:
    return int(sum(np.prod(weight.shape) for weight in weights))


def images_per_second(call, batch: int, warmup: int, steps: int) -> float:
    """batch / median time of one `call` (which returns host values, so the work is done).

    The median, not the mean, so a step slowed by another process on the machine does
    not move the figure much.
    """
    for _ in range(warmup):
        call()
    seconds = []
    for _ in range(steps):
        start = time.perf_counter()
        call()
        seconds.append(time.perf_counter() - start)
    return batch / float(np.median(seconds))


def bench_model(name: str, size: int, batch: int, warmup: int, steps: int) -> dict:
    import keras

    from colorkeras.models import build_model

    model = build_model(name, image_size=size, weights=None)
    rng = np.random.default_rng(0)
    l_norm = rng.uniform(-1, 1, (batch, size, size, 1)).astype(np.float32)
    ab_norm = rng.uniform(-1, 1, (batch, size, size, 2)).astype(np.float32)

    forward = images_per_second(lambda: model.predict_on_batch(l_norm), batch, warmup, steps)

    trainable = model.training_graph()
    if model.extractor is not None:
        dim = model.extractor_model.output.shape[-1]
        inputs = (l_norm, rng.normal(size=(batch, dim)).astype(np.float32))
    else:
        inputs = l_norm
    trainable.compile(optimizer=keras.optimizers.Adam(LEARNING_RATE), loss="mse", jit_compile="auto")
    train = images_per_second(lambda: trainable.train_on_batch(inputs, ab_norm), batch, warmup, steps)
    return {
        "model": name,
        "trainable": count_parameters(model.trainable_weights),
        "non_trainable": count_parameters(model.non_trainable_weights),
        "forward": forward,
        "train": train,
        "jit": trainable.jit_compile,
    }


def main(argv=None) -> int:
    args = parse_args(argv)
    import keras

    print(f"date: {datetime.now().astimezone().isoformat(timespec='seconds')}")
    print(f"machine: {machine_line()}")
    print(f"python {sys.version.split()[0]}, keras {keras.__version__} ({keras.backend.backend()} backend), "
          f"{args.size}x{args.size}, batch {args.batch}, {args.warmup} warm-up + median of {args.steps} timed calls")
    results = []
    for name in args.models:
        print(f"{name} ...", flush=True)
        result = bench_model(name, args.size, args.batch, args.warmup, args.steps)
        print(f"  forward {result['forward']:.2f} images/s, training step {result['train']:.2f} images/s "
              f"(jit_compile={result['jit']})", flush=True)
        results.append(result)

    print()
    print("| model            | trainable params | non-trainable params | forward, end-to-end (img/s) "
          "| training step, training graph (img/s) |")
    print("|------------------|-----------------:|---------------------:|----------------------------:"
          "|--------------------------------------:|")
    for r in results:
        print(f"| {r['model']:16s} | {r['trainable']:16,d} | {r['non_trainable']:20,d} | {r['forward']:27.2f} "
              f"| {r['train']:37.2f} |")
    rates = {r["model"]: r["train"] for r in results}
    if "baseline" in rates:
        for name in ("inception_fusion", "vit_fusion"):
            if name in rates:
                print(f"{name} training (from cached embeddings) / baseline training: "
                      f"{rates[name] / rates['baseline']:.2f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
