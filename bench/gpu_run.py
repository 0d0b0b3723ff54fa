"""One script for a lent GPU host (JAX and PyTorch, no TensorFlow): all the GPU figures in one run.

For each batch size (default 64 and 256), at SIZE x SIZE in --precision (mixed_bfloat16):
  * step_img_s:  the training step with data already on the device: the very graph, loss
                 and optimizer `colorkeras train` fits (``train.compile_for_training``:
                 uint8 L in, normalised in the step, Adam), as a jitted stateless step;
  * fit_img_s:   the real path: Keras `fit` from a prepared dataset through the readers
                 `colorkeras train` uses (``train._make_inputs``: stored uint8 batches,
                 threaded read-ahead), timed per step after a warm-up, no validation
                 or checkpoints;
  * torch_img_s: the same baseline network as a plain PyTorch loop (torch.compile, bf16
                 autocast, channels-last, BatchNorm included); null when torch is missing;
  * floor_img_s: images/s at the card's dense bf16 datasheet peak (FLOPs per training
                 image: the baseline's forward x 3); the card is looked up by name.
Writes OUT/gpu_run.json (the card's name, then one record per batch size) and prints a
table last.

Optional part 2 (--epochs N): prepare --data, train the study's recipe for N epochs
through `colorkeras.training.train.train`, evaluate, and pack the run folder into OUT.

Usage (on the GPU host, from the repository root):
    KERAS_BACKEND=jax PYTHONPATH=. python bench/gpu_run.py --data intel-urban.zip --out $OUT
Without --data, `fit` reads a toy city generated and prepared at SIZE (few images: its
fit figure then carries an epoch boundary every step or two).
Tiny CPU rehearsal:
    KERAS_BACKEND=jax python bench/gpu_run.py --out /tmp/o --size 32 --batches 4 8 \
        --bench-steps 2 --no-compile
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tarfile
import time
import zipfile
from pathlib import Path

os.environ.setdefault("KERAS_BACKEND", "jax")
os.environ.setdefault("XLA_PYTHON_CLIENT_PREALLOCATE", "false")

# Dense (no sparsity) bf16 datasheet peaks in TFLOP/s, by a part of the card's name; the
# first match wins (T4: fp16, it has no bf16).
PEAK_TFLOPS = (("H200", 989.0), ("H100 PCIe", 756.0), ("H100", 989.0), ("A100", 312.0),
               ("L4", 121.0), ("T4", 65.0))


def log(message: str) -> None:
    print(message, flush=True)


def card_peak(name: str) -> float | None:
    """The card's dense bf16 datasheet peak (TFLOP/s), or None for a card not listed."""
    for part, tflops in PEAK_TFLOPS:
        if re.search(rf"\b{re.escape(part)}\b", name, re.IGNORECASE):  # "L4", not "L40S"
            return tflops
    return None


def card_name() -> str:
    """The accelerator's name (nvidia-smi's, else JAX's device kind), or "cpu"."""
    try:
        names = subprocess.run(["nvidia-smi", "--query-gpu=name", "--format=csv,noheader"],
                               capture_output=True, text=True, timeout=30).stdout.strip().splitlines()
        if names:
            return names[0].strip()
    except (OSError, subprocess.SubprocessError):
        pass
    import jax

    device = jax.devices()[0]
    return device.device_kind if device.platform == "gpu" else "cpu"


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
# Keras on JAX: what `colorkeras train` fits
# ------------------------------------------------------------------------------------
def training_model(size: int, batch: int, precision: str):
    """(config, compiled uint8-input training graph) exactly as `colorkeras train` builds them."""
    import keras

    from colorkeras.training.config import TrainConfig
    from colorkeras.models import build_model
    from colorkeras.training.objectives import get_objective
    from colorkeras.training.train import compile_for_training

    config = TrainConfig(image_size=size, batch_size=batch, mixed_precision=precision)
    previous = keras.mixed_precision.dtype_policy()
    keras.mixed_precision.set_dtype_policy(precision)
    try:
        keras.utils.set_random_seed(config.seed)
        trainable = compile_for_training(build_model("baseline", size), config, get_objective(config.loss))
    finally:
        keras.mixed_precision.set_dtype_policy(previous)
    return config, trainable


def keras_step_rate(size: int, batch: int, steps: int, precision: str) -> float:
    """The training step with its uint8 batch already on the device (jitted, stateless)."""
    import jax
    import jax.numpy as jnp

    _, model = training_model(size, batch, precision)
    optimizer, loss_fn = model.optimizer, model.loss
    optimizer.build(model.trainable_variables)

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
    l_stored = jax.random.randint(key, (batch, size, size, 1), 0, 256).astype(jnp.uint8)
    ab_stored = jax.random.randint(key, (batch, size, size, 2), 96, 160).astype(jnp.uint8)
    state = ([v.value for v in model.trainable_variables], [v.value for v in model.non_trainable_variables],
             [v.value for v in optimizer.variables])
    for _ in range(3):  # compile and warm up
        state, loss = step(state, l_stored, ab_stored)
    jnp.asarray(loss).block_until_ready()
    start = time.perf_counter()
    for _ in range(steps):
        state, loss = step(state, l_stored, ab_stored)
    jnp.asarray(loss).block_until_ready()
    return batch * steps / (time.perf_counter() - start)


def step_clock(warmup: int):
    """A Keras callback timing `fit` from the end of step `warmup` to the end of training;
    it waits for the device only at those two points, so fit runs as it would."""
    import keras

    class StepClock(keras.callbacks.Callback):
        steps, start, stop = 0, None, None

        def on_train_batch_end(self, batch, logs=None):
            self.steps += 1
            if self.steps == warmup:
                float(keras.ops.convert_to_numpy((logs or {})["loss"]))  # wait for the step
                self.start = time.perf_counter()

        def on_train_end(self, logs=None):  # after Keras turned the last logs into floats
            self.stop = time.perf_counter()

        def rate(self, batch: int) -> float:
            return batch * (self.steps - warmup) / (self.stop - self.start)

    return StepClock()


def keras_fit_rate(prepared: Path, size: int, batch: int, steps: int, precision: str, warmup: int = 5) -> float:
    """Keras `fit` from the prepared dataset through `colorkeras train`'s readers."""
    from colorkeras.data.pipeline import PreparedDataset
    from colorkeras.training.train import _make_inputs

    config, model = training_model(size, batch, precision)
    dataset = PreparedDataset.open(prepared)
    train_data, _, per_epoch, _ = _make_inputs(dataset, config, None, 0)
    epochs = -(-(warmup + steps) // per_epoch)
    clock = step_clock(warmup)
    model.fit(train_data, epochs=epochs, steps_per_epoch=per_epoch, callbacks=[clock], verbose=0, shuffle=False)
    return clock.rate(batch)


def prepared_for_fit(args) -> Path:
    """A dataset prepared at --size: --data if given, else a generated toy city."""
    from colorkeras.data.prepare import PrepareSettings, is_prepared, prepare

    work = Path(args.work)
    target = work / f"prepared-{args.size}"
    if is_prepared(target):
        return target
    if args.data:
        source = unpacked(Path(args.data), work)
    else:
        from colorkeras.data.synthetic import write_toy_city

        source = work / "toy-city"
        # Enough for one step of the largest batch in the 80 % training split.
        per_class = max(args.batches) * 5 // 4 // 4 + 8
        write_toy_city(source, per_class=per_class, size=max(args.size, 48), seed=0)
    prepare(source, target, PrepareSettings(image_size=args.size), progress=False)
    return target


def unpacked(source: Path, work: Path) -> Path:
    if source.suffix != ".zip":
        return source
    target = work / "source"
    if not target.exists():
        with zipfile.ZipFile(source) as archive:
            archive.extractall(target)
    children = [p for p in target.iterdir() if p.is_dir()]
    return children[0] if len(children) == 1 else target


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


def torch_available() -> bool:
    import importlib.util

    return importlib.util.find_spec("torch") is not None


def measured(what: str, batch: int, function, errors: dict):
    """images/s of `function`, or None (the error is logged and kept) if it fails."""
    try:
        rate = function()
    except Exception as error:  # noqa: BLE001 - report and go on to the next figure
        errors[f"{what}@{batch}"] = f"{type(error).__name__}: {error}"
        log(f"  {what:6s} batch {batch:4d}: FAILED {type(error).__name__}: {error}")
        return None
    log(f"  {what:6s} batch {batch:4d}: {rate:9.1f} images/s")
    return rate


def benchmark(args, card: str, peak: float | None) -> dict:
    flops = training_flops(args.size)
    log(f"Training FLOPs per image at {args.size}px (baseline, forward x 3): {flops / 1e9:.2f} GFLOP")
    log(f"Card: {card}; dense bf16 peak {f'{peak:g} TFLOP/s' if peak else 'unknown (floor_img_s null)'}")
    prepared = prepared_for_fit(args)
    with_torch = torch_available()
    if not with_torch:
        log("PyTorch is not installed here: skipping the PyTorch loop (torch_img_s is null).")
    records, errors = [], {}
    for batch in args.batches:
        records.append({
            "batch": batch,
            "step_img_s": measured("step", batch, lambda: keras_step_rate(
                args.size, batch, args.bench_steps, args.precision), errors),
            "fit_img_s": measured("fit", batch, lambda: keras_fit_rate(
                prepared, args.size, batch, args.bench_steps, args.precision), errors),
            "torch_img_s": measured("torch", batch, lambda: torch_step_rate(
                args.size, batch, args.bench_steps, args.compile), errors) if with_torch else None,
            "floor_img_s": peak * 1e12 / flops if peak else None,
        })
    return {"card": card, "peak_bf16_tflops": peak, "size": args.size, "precision": args.precision,
            "training_gflop_per_image": flops / 1e9, "bench_steps": args.bench_steps,
            "fit_data": str(prepared), "torch": with_torch, "records": records, "errors": errors}


def table(result: dict) -> str:
    def rate(value):
        return f"{value:,.0f}" if value is not None else "-"

    def ratio(a, b, percent=False):
        if a is None or b is None:
            return "-"
        return f"{a / b:.1%}" if percent else f"{a / b:.2f}x"

    lines = [f"{result['card']}, {result['size']}px, {result['precision']} (images/s)", "",
             "| batch | step | fit | torch | floor | fit / step | step / floor | step / torch |",
             "| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"]
    for r in result["records"]:
        lines.append(f"| {r['batch']} | {rate(r['step_img_s'])} | {rate(r['fit_img_s'])} | "
                     f"{rate(r['torch_img_s'])} | {rate(r['floor_img_s'])} | "
                     f"{ratio(r['fit_img_s'], r['step_img_s'])} | "
                     f"{ratio(r['step_img_s'], r['floor_img_s'], percent=True)} | "
                     f"{ratio(r['step_img_s'], r['torch_img_s'])} |")
    return "\n".join(lines)


# ------------------------------------------------------------------------------------
# The real run
# ------------------------------------------------------------------------------------
def real_run(args) -> dict:
    from colorkeras.training.config import TrainConfig
    from colorkeras.data.prepare import PrepareSettings, prepare
    from colorkeras.evaluation.evaluate import evaluate_run
    from colorkeras.training.train import train

    work = Path(args.work)
    source = unpacked(Path(args.data), work)
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
    parser.add_argument("--data", help="image folder or .zip with class sub-folders (fit's dataset; part 2)")
    parser.add_argument("--out", required=True, help="folder for gpu_run.json (and the packed run)")
    parser.add_argument("--work", default="/tmp/colorkeras-gpu-run")
    parser.add_argument("--size", type=int, default=256)
    parser.add_argument("--batches", type=int, nargs="+", default=[64, 256])
    parser.add_argument("--bench-steps", type=int, default=30, help="timed steps per figure")
    parser.add_argument("--precision", default="mixed_bfloat16", help="Keras dtype policy of step and fit")
    parser.add_argument("--peak-tflops", type=float, default=None,
                        help="dense bf16 peak of a card not in the table (TFLOP/s)")
    parser.add_argument("--no-compile", dest="compile", action="store_false", help="PyTorch without torch.compile")
    parser.add_argument("--epochs", type=int, default=0, help="part 2: train this many epochs (0: skip)")
    args = parser.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    Path(args.work).mkdir(parents=True, exist_ok=True)

    import jax
    import keras

    card = card_name()
    peak = args.peak_tflops or card_peak(card)
    log(json.dumps({"keras": keras.__version__, "jax": jax.__version__, "card": card,
                    "devices": [str(d) for d in jax.devices()]}))
    result = benchmark(args, card, peak)
    result.update(keras=keras.__version__, jax=jax.__version__)
    (out / "gpu_run.json").write_text(json.dumps(result, indent=2))
    if args.epochs:
        if not args.data:
            parser.error("--epochs needs --data")
        result["run"] = real_run(args)
        (out / "gpu_run.json").write_text(json.dumps(result, indent=2))
        pack(Path(args.work), out)
        shutil.copy(Path(args.work) / "run" / "log.csv", out / "log.csv")
        log(f"\nReal run: {json.dumps(result['run']['timings'])}")
    log("\n" + table(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
