"""One script for a lent GPU host (JAX and PyTorch, no TensorFlow): benchmark, then a real run.

Part 1, training throughput at SIZE x SIZE with data already on the GPU, bf16 mixed precision:
  * the study's baseline in Keras 3 on JAX (a jitted stateless train step: forward,
    backward, Adam), batch 64 and 256;
  * the fusion models' training graph fed cached embeddings (random (B, 1000) inputs; the
    graph is the same for InceptionV3 and ViT-B/16, both give 1000 logits);
  * the same baseline network as a plain PyTorch loop with torch.compile and bf16 autocast.
  Each is reported in images/s and as a share of the arithmetic floor (FLOPs per image
  per training step over the card's dense bf16 peak).

Part 2, a real run: prepare an image folder (or .zip of one) at SIZE, train the baseline
with the study's recipe through `colorkeras.train.train` (Keras fit, TF-free reader), evaluate
the test split (model and grey floor), and pack the run folder into OUT for the trip back.

Usage (on the GPU host, from the repository root):
    KERAS_BACKEND=jax PYTHONPATH=. python bench/gpu_run.py --data intel-urban.zip --out $OUT
Tiny CPU rehearsal:
    KERAS_BACKEND=jax python bench/gpu_run.py --data DIR --out /tmp/o --size 32 --epochs 1 \
        --bench-steps 2 --batches 4 --no-compile
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tarfile
import time
import zipfile
from pathlib import Path

os.environ.setdefault("KERAS_BACKEND", "jax")
os.environ.setdefault("XLA_PYTHON_CLIENT_PREALLOCATE", "false")

H200_BF16_DENSE_TFLOPS = 989.0  # vendor datasheet, dense (no sparsity)


def log(message: str) -> None:
    print(message, flush=True)


# ------------------------------------------------------------------------------------
# Arithmetic floor
# ------------------------------------------------------------------------------------
def baseline_forward_flops(size: int, input_channels: int = 1) -> float:
    """Multiply-adds x 2 of every conv of the baseline for one image at size x size."""
    convs = []  # (output side, in channels, out channels, kernel)
    side, channels = size, input_channels
    for filters, stride in zip((64, 128, 128, 256, 256, 512, 512, 256), (2, 1, 2, 1, 2, 1, 1, 1)):
        side //= stride
        convs.append((side, channels, filters, 3))
        channels = filters
    for filters, upsample_before in ((128, False), (64, True), (64, False), (32, True), (2, False)):
        side *= 2 if upsample_before else 1
        convs.append((side, channels, filters, 3))
        channels = filters
    return sum(2.0 * s * s * cin * cout * k * k for s, cin, cout, k in convs)


def training_flops(size: int) -> float:
    # Backward costs about twice the forward (gradients for inputs and for weights).
    return 3.0 * baseline_forward_flops(size)


# ------------------------------------------------------------------------------------
# Keras on JAX: a jitted stateless train step with data on the device
# ------------------------------------------------------------------------------------
def keras_step_rate(name: str, size: int, batch: int, steps: int) -> float:
    import jax
    import jax.numpy as jnp
    import keras

    from colorkeras.models import build_model, training_graph

    keras.mixed_precision.set_dtype_policy("mixed_bfloat16")
    try:
        model = training_graph(build_model(name, size, weights=None, extractor_size="tiny"))
    finally:
        keras.mixed_precision.set_dtype_policy("float32")
    optimizer = keras.optimizers.Adam(1e-4, weight_decay=1e-6)
    optimizer.build(model.trainable_variables)
    loss_fn = keras.losses.MeanSquaredError()

    def compute_loss(trainable, non_trainable, inputs, target):
        prediction, non_trainable = model.stateless_call(trainable, non_trainable, inputs, training=True)
        return loss_fn(target, prediction), non_trainable

    grad_fn = jax.value_and_grad(compute_loss, has_aux=True)

    @jax.jit
    def step(state, inputs, target):
        trainable, non_trainable, optimizer_vars = state
        (loss, non_trainable), grads = grad_fn(trainable, non_trainable, inputs, target)
        trainable, optimizer_vars = optimizer.stateless_apply(optimizer_vars, grads, trainable)
        return (trainable, non_trainable, optimizer_vars), loss

    key = jax.random.PRNGKey(0)
    l_input = jax.random.uniform(key, (batch, size, size, 1), minval=-1, maxval=1)
    target = jax.random.uniform(key, (batch, size, size, 2), minval=-0.5, maxval=0.5)
    inputs = l_input if len(model.inputs) == 1 else [l_input, jax.random.normal(key, (batch, 1000))]
    state = ([v.value for v in model.trainable_variables], [v.value for v in model.non_trainable_variables],
             [v.value for v in optimizer.variables])
    for _ in range(3):  # compile and warm up
        state, loss = step(state, inputs, target)
    jnp.asarray(loss).block_until_ready()
    start = time.perf_counter()
    for _ in range(steps):
        state, loss = step(state, inputs, target)
    jnp.asarray(loss).block_until_ready()
    return batch * steps / (time.perf_counter() - start)


# ------------------------------------------------------------------------------------
# The same baseline as a plain PyTorch loop
# ------------------------------------------------------------------------------------
def torch_baseline():
    import torch
    from torch import nn

    def block(cin, cout, stride=1):
        return [nn.Conv2d(cin, cout, 3, stride, 1), nn.ReLU(inplace=True), nn.BatchNorm2d(cout)]

    layers, channels = [], 1
    for filters, stride in zip((64, 128, 128, 256, 256, 512, 512, 256), (2, 1, 2, 1, 2, 1, 1, 1)):
        layers += block(channels, filters, stride)
        channels = filters
    layers += block(256, 128) + [nn.Upsample(scale_factor=2)] + block(128, 64) + block(64, 64)
    layers += [nn.Upsample(scale_factor=2)] + block(64, 32)
    layers += [nn.Conv2d(32, 2, 3, 1, 1), nn.Tanh(), nn.Upsample(scale_factor=2)]
    return nn.Sequential(*layers), torch


def torch_step_rate(size: int, batch: int, steps: int, compile_model: bool) -> float:
    model, torch = torch_baseline()
    device = "cuda" if torch.cuda.is_available() else "cpu"
    model = model.to(device).to(memory_format=torch.channels_last)
    trainable = sum(p.numel() for p in model.parameters())
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-4, weight_decay=1e-6)
    l_input = torch.rand(batch, 1, size, size, device=device).mul(2).sub(1).contiguous(memory_format=torch.channels_last)
    target = torch.rand(batch, 2, size, size, device=device).sub(0.5)

    def step():
        optimizer.zero_grad(set_to_none=True)
        with torch.autocast(device, dtype=torch.bfloat16):
            loss = torch.nn.functional.mse_loss(model(l_input).float(), target)
        loss.backward()
        optimizer.step()
        return loss

    if compile_model:
        step = torch.compile(step)
    for _ in range(3):
        step()
    if device == "cuda":
        torch.cuda.synchronize()
    start = time.perf_counter()
    for _ in range(steps):
        step()
    if device == "cuda":
        torch.cuda.synchronize()
    log(f"  (PyTorch baseline: {trainable:,} trainable parameters, device {device})")
    return batch * steps / (time.perf_counter() - start)


def benchmark(args) -> list[dict]:
    rows = []
    flops = training_flops(args.size)
    log(f"Training FLOPs per image at {args.size}px (baseline, forward x 3): {flops / 1e9:.1f} GFLOP")
    for batch in args.batches:
        for label, run in (
            ("Keras/JAX baseline", lambda: keras_step_rate("baseline", args.size, batch, args.bench_steps)),
            # The training graph is the same for InceptionV3 and ViT: both give 1000 logits.
            ("Keras/JAX fusion from cached embeddings", lambda: keras_step_rate("inception_fusion", args.size, batch, args.bench_steps)),
            (f"PyTorch baseline{' compiled' if args.compile else ''}", lambda: torch_step_rate(args.size, batch, args.bench_steps, args.compile)),
        ):
            try:
                rate = run()
                rows.append({"what": label, "batch": batch, "images_per_s": rate,
                             "floor_share": rate * flops / (args.peak_tflops * 1e12)})
                log(f"{label:40s} batch {batch:4d}: {rate:9.1f} images/s")
            except Exception as error:  # noqa: BLE001 - report and go on to the next figure
                rows.append({"what": label, "batch": batch, "error": f"{type(error).__name__}: {error}"})
                log(f"{label:40s} batch {batch:4d}: FAILED {type(error).__name__}: {error}")
    return rows


# ------------------------------------------------------------------------------------
# The real run
# ------------------------------------------------------------------------------------
def real_run(args) -> dict:
    from colorkeras.config import TrainConfig
    from colorkeras.data.prepare import PrepareSettings, prepare
    from colorkeras.evaluate import evaluate_run
    from colorkeras.train import train

    work = Path(args.work)
    source = Path(args.data)
    if source.suffix == ".zip":
        target = work / "source"
        if not target.exists():
            with zipfile.ZipFile(source) as archive:
                archive.extractall(target)
        children = [p for p in target.iterdir() if p.is_dir()]
        source = children[0] if len(children) == 1 else target
    timings = {}
    start = time.perf_counter()
    report = prepare(source, work / "prepared", PrepareSettings(image_size=args.size), progress=False)
    timings["prepare_s"] = time.perf_counter() - start
    log(report.to_text())
    config = TrainConfig(image_size=args.size, epochs=args.epochs)
    start = time.perf_counter()
    result = train(work / "prepared", work / "run", config, verbose=2)
    timings["train_s"] = time.perf_counter() - start
    log(result.to_text())
    start = time.perf_counter()
    evaluate_run(work / "run", work / "prepared", split="test", progress=False)
    timings["evaluate_s"] = time.perf_counter() - start
    return {"config": config.to_dict(), "timings": timings, "train": result.to_text(),
            "counts": report.prepared}


def pack(work: Path, out: Path, part_bytes: int = 15 * 2**20) -> None:
    """The run folder (without optimizer state, TensorBoard, predictions) as .tar.gz parts."""
    archive = work / "run.tar.gz"
    with tarfile.open(archive, "w:gz") as tar:
        for path in sorted((work / "run").rglob("*")):
            relative = path.relative_to(work)
            # Predictions are left behind (they would not fit the trip back); evaluating
            # best.keras again where the report is made writes them anew.
            if (path.is_file() and relative.parts[1] not in ("state", "tensorboard")
                    and path.name != "predictions_ab.npy"):
                tar.add(path, arcname=str(relative))
    data = archive.read_bytes()
    for index in range(0, len(data), part_bytes):
        (out / f"run.tar.gz.part{index // part_bytes}").write_bytes(data[index:index + part_bytes])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", help="image folder or .zip with class sub-folders (part 2)")
    parser.add_argument("--out", required=True, help="folder for the figures and the packed run")
    parser.add_argument("--work", default="/tmp/colorkeras-gpu-run")
    parser.add_argument("--size", type=int, default=256)
    parser.add_argument("--epochs", type=int, default=50)
    parser.add_argument("--batches", type=int, nargs="+", default=[64, 256])
    parser.add_argument("--bench-steps", type=int, default=30)
    parser.add_argument("--peak-tflops", type=float, default=H200_BF16_DENSE_TFLOPS)
    parser.add_argument("--no-compile", dest="compile", action="store_false")
    parser.add_argument("--skip-bench", action="store_true")
    args = parser.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    Path(args.work).mkdir(parents=True, exist_ok=True)

    import jax
    import keras

    summary = {"keras": keras.__version__, "jax": jax.__version__, "devices": [str(d) for d in jax.devices()]}
    try:
        summary["gpu"] = subprocess.run(["nvidia-smi", "--query-gpu=name,memory.total,driver_version",
                                         "--format=csv,noheader"], capture_output=True, text=True).stdout.strip()
    except OSError:
        summary["gpu"] = "no nvidia-smi"
    log(json.dumps(summary))
    if not args.skip_bench:
        summary["bench"] = benchmark(args)
        (out / "summary.json").write_text(json.dumps(summary, indent=2))
    if args.data:
        summary["run"] = real_run(args)
        (out / "summary.json").write_text(json.dumps(summary, indent=2))
        pack(Path(args.work), out)
        shutil.copy(Path(args.work) / "run" / "log.csv", out / "log.csv")

    log("\n| what | batch | images/s | share of the bf16 floor |\n| --- | ---: | ---: | ---: |")
    for row in summary.get("bench", []):
        if "error" in row:
            log(f"| {row['what']} | {row['batch']} | failed: {row['error'][:80]} | |")
        else:
            log(f"| {row['what']} | {row['batch']} | {row['images_per_s']:.0f} | {row['floor_share']:.1%} |")
    if "run" in summary:
        log(f"\nReal run: {json.dumps(summary['run']['timings'])}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
