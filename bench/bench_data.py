"""Benchmark data preparation and the two readers of a prepared dataset.

Prints one table: images/s of `colorkeras prepare` with 1 and with N worker processes on
the same source folder (total and per core), and images/s of each reader delivering the
training batches that `colorkeras train` uses (batch 64, 256x256, seeded shuffle and
random horizontal flips):

* tf.data          ``make_tf_dataset`` (what the TensorFlow backend trains from);
* PyDataset        ``make_py_dataset``, ``__getitem__`` called in order in this thread;
* PyDataset xN     the same PyDataset with ``workers=N``, iterated the way ``fit()`` does
                   on JAX (Keras' ``PyDatasetAdapter`` and its thread pool).

Below the table: bytes sent per training image, host to device, for one real batch: the
stored uint8 batch the readers yield now (L + ab, 3 bytes per pixel; normalised inside the
compiled step) against the float32 batch they yielded before (the same batch normalised on
the host with ``color.stored_to_normalized``, 12 bytes per pixel). Target (issue 13): at
most 1/3.

Each reader runs --warmup batches (which also pull the arrays into the page cache), then
--repeats timed runs of --batches batches, crossing epoch boundaries as training does;
the table shows the best run, since other processes may share the cores.

    python bench/bench_data.py                      # ../shared/data/intel-urban
    python bench/bench_data.py --data DIR --work /tmp/bench-work --skip-prepare
    python bench/bench_data.py --profile            # also time each tf.data stage
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402
from machine import machine_line  # noqa: E402 - bench/machine.py, beside this script

REPO_ROOT = Path(__file__).resolve().parents[1]
DEFAULT_DATA = REPO_ROOT.parent / "shared" / "data" / "intel-urban"
# Targets from the prepared-datasets issue: a T4 trains the baseline at a few hundred
# images/s, so the input pipeline must never be what the GPU waits for.
TF_DATA_TARGET = 2000.0  # images/s on the 2-core dev machine
PREPARE_TARGET_PER_CORE = 50.0  # images/s per core


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA,
                        help="source image folder (default: %(default)s)")
    parser.add_argument("--work", type=Path, default=None,
                        help="keep prepared datasets here (default: a temporary folder, removed)")
    parser.add_argument("--skip-prepare", action="store_true",
                        help="do not time preparation; reuse the dataset in --work if there")
    parser.add_argument("--prepare-workers", type=int, nargs="+", default=None,
                        help="worker counts to time preparation with (default: 1 and all cores)")
    parser.add_argument("--image-size", type=int, default=256)
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--warmup", type=int, default=10, help="untimed batches per reader")
    parser.add_argument("--batches", type=int, default=100, help="timed batches per run")
    parser.add_argument("--repeats", type=int, default=3,
                        help="timed runs per reader; the table shows the best (others may share the cores)")
    parser.add_argument("--py-workers", type=int, default=None,
                        help="workers of the threaded PyDataset run (default: all cores)")
    parser.add_argument("--profile", action="store_true",
                        help="also time the tf.data pipeline stage by stage")
    return parser.parse_args(argv)


# ------------------------------------------------------------------------------------
# Preparation
# ------------------------------------------------------------------------------------
def time_prepare(source: Path, out_dir: Path, image_size: int, workers: int):
    """Prepare `source` into a fresh `out_dir`; return (seconds, source files, report)."""
    from colorkeras.data.prepare import PrepareSettings, is_prepared, list_sources, prepare

    if out_dir.exists():
        if not is_prepared(out_dir):
            raise SystemExit(f"{out_dir} exists and is not a prepared dataset; not removing it")
        shutil.rmtree(out_dir)
    files = len(list_sources(source)[0])
    start = time.perf_counter()
    report = prepare(source, out_dir, PrepareSettings(image_size=image_size), workers=workers, progress=False)
    return time.perf_counter() - start, files, report


# ------------------------------------------------------------------------------------
# Readers: each is an endless stream of training batches, epoch after epoch.
# ------------------------------------------------------------------------------------
def tf_data_batches(prepared, batch_size):
    from colorkeras.data.pipeline import make_tf_dataset

    dataset = make_tf_dataset(prepared, "train", batch_size=batch_size, shuffle=True, augment=True, seed=0)
    while True:
        yield from dataset  # each pass is one epoch with its own order


def py_sequential_batches(prepared, batch_size):
    from colorkeras.data.pipeline import make_py_dataset

    dataset = make_py_dataset(prepared, "train", batch_size=batch_size, shuffle=True, augment=True, seed=0)
    while True:
        for index in range(len(dataset)):
            yield dataset[index]
        dataset.on_epoch_end()


def py_threaded_batches(prepared, batch_size, workers):
    # fit() on JAX iterates a PyDataset through this adapter (private to Keras; there is
    # no public equivalent); workers > 1 runs __getitem__ in a thread pool
    # (OrderedEnqueuer) ahead of the consumer. PyDataset.__iter__ alone is sequential.
    from keras.src.trainers.data_adapters.py_dataset_adapter import PyDatasetAdapter

    from colorkeras.data.pipeline import make_py_dataset

    dataset = make_py_dataset(prepared, "train", batch_size=batch_size, shuffle=True, augment=True,
                              seed=0, workers=workers)
    adapter = PyDatasetAdapter(dataset, shuffle=False)
    try:
        while True:
            adapter.on_epoch_begin()
            yield from adapter.get_numpy_iterator()
            adapter.on_epoch_end()
    finally:
        if adapter.enqueuer is not None:
            adapter.enqueuer.stop()


def time_stream(stream, warmup: int, batches: int, repeats: int) -> list[float]:
    """Images/s of `repeats` runs of `batches` batches, after `warmup` untimed ones."""
    for _ in range(warmup):
        next(stream)
    rates = []
    for _ in range(repeats):
        images = 0
        start = time.perf_counter()
        for _ in range(batches):
            inputs, _targets = next(stream)
            images += len(inputs[0] if isinstance(inputs, tuple) else inputs)
        rates.append(images / (time.perf_counter() - start))
    stream.close()
    return rates


# ------------------------------------------------------------------------------------
# Profiling the tf.data pipeline stage by stage
# ------------------------------------------------------------------------------------
def profile_tf_data(prepared, batch_size, warmup, batches):
    """Rebuild make_tf_dataset's map one stage at a time and time each version.

    Every version maps the same stream of index batches with AUTOTUNE parallelism and
    prefetch, as make_tf_dataset does; only the work inside the map changes.
    """
    import tensorflow as tf

    from colorkeras import color
    from colorkeras.data.pipeline import BatchReader, _batches, _gather, epoch_order

    reader = BatchReader(prepared, "train", batch_size)
    count, size = len(reader.l_array), prepared.image_size

    def index_stream():
        epoch = 0
        while True:
            yield from _batches(epoch_order(count, 0, epoch, True), batch_size, True)
            epoch += 1

    def numpy_gather(indices):
        def gather(idx):
            return _gather(reader.l_array, idx), _gather(reader.ab_array, idx)

        l_u8, ab_u8 = tf.numpy_function(gather, [indices], [tf.uint8, tf.uint8])
        l_u8.set_shape([None, size, size])
        ab_u8.set_shape([None, size, size, 2])
        return l_u8, ab_u8


    def cast(l_u8, ab_u8):
        return tf.cast(l_u8, tf.float32)[..., None], tf.cast(ab_u8, tf.float32)

    def flip(l_image, ab_image):  # as make_tf_dataset: reverse the width, select per image
        flips = tf.random.uniform([tf.shape(l_image)[0]]) < 0.5

        def mirror(image):
            mask = tf.reshape(flips, [-1] + [1] * (len(image.shape) - 1))
            return tf.where(mask, tf.reverse(image, axis=[2]), image)

        return mirror(l_image), mirror(ab_image)

    def normalise(l_f, ab_f):
        return color.stored_to_normalized(l_f, ab_f)

    def numpy_batch(indices):  # the TF-free reader's batch function, flips included
        def batch(idx):
            return reader.numpy_batch(idx, np.random.default_rng().random(len(idx)) < 0.5)

        l_norm, ab_norm = tf.numpy_function(batch, [indices], [tf.float32, tf.float32])
        return l_norm, ab_norm

    stages = {
        "index batches only": [],
        "numpy_function _gather (uint8)": [numpy_gather],
        "  + cast to float32": [numpy_gather, cast],
        "  + flip on float32 (reverse + where)": [numpy_gather, cast, flip],
        "  + normalise (= make_tf_dataset's map)": [numpy_gather, cast, flip, normalise],
        "_gather, flip on uint8, cast, normalise": [numpy_gather, flip, cast, normalise],
        "numpy_function BatchReader.numpy_batch": [numpy_batch],
    }
    for name, functions in stages.items():
        def work(value, functions=functions):
            values = (value,)
            for function in functions:
                values = function(*values)
            return values

        pipeline = tf.data.Dataset.from_generator(index_stream, output_signature=tf.TensorSpec([None], tf.int64))
        pipeline = pipeline.map(work, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
        stream = iter(pipeline.prefetch(tf.data.AUTOTUNE))
        for _ in range(warmup):
            next(stream)
        start = time.perf_counter()
        for _ in range(batches):
            next(stream)
        print(f"  {name:44s} {batches * batch_size / (time.perf_counter() - start):9,.0f} images/s", flush=True)

    # Single ops on one batch, in a tf.function, for scale (ms per batch of batch_size).
    rows = np.arange(batch_size)
    l_u8 = tf.constant(_gather(reader.l_array, rows))
    ab_u8 = tf.constant(_gather(reader.ab_array, rows))
    l_f, ab_f = cast(l_u8, ab_u8)
    ops = {
        "tf.cast uint8 -> float32 (L and ab)": lambda: cast(l_u8, ab_u8),
        "tf.reverse width, float32 (L and ab)": lambda: (tf.reverse(l_f, [2]), tf.reverse(ab_f, [2])),
        "tf.reverse + tf.where, float32": lambda: flip(l_f, ab_f),
        "tf.reverse + tf.where, uint8": lambda: flip(l_u8, ab_u8),
        "normalise, float32 (stored_to_normalized)": lambda: normalise(l_f, ab_f),
    }
    print(f"\n  one batch of {batch_size}, tf.function, ms per batch:")
    for name, function in ops.items():
        function = tf.function(function)
        function()
        start = time.perf_counter()
        for _ in range(10):
            function()
        print(f"  {name:44s} {(time.perf_counter() - start) * 100:9.1f} ms")


# ------------------------------------------------------------------------------------
# Bytes per training image, host to device
# ------------------------------------------------------------------------------------
BYTES_TARGET = 1.0 / 3.0  # issue 13: at most 1/3 of the float32 batches' bytes


def bytes_per_image(prepared, batch_size) -> tuple[float, float]:
    """(before, now): bytes per image of one training batch as float32 normalised on the
    host (the readers' old output) and as the stored uint8 batch they yield now."""
    from colorkeras import color
    from colorkeras.data.pipeline import make_py_dataset

    inputs, ab_stored = make_py_dataset(prepared, "train", batch_size=batch_size, seed=0)[0]
    sent = [*(inputs if isinstance(inputs, tuple) else (inputs,)), ab_stored]
    l_norm, ab_norm = color.stored_to_normalized(sent[0], ab_stored)
    before = [l_norm, *sent[1:-1], ab_norm]  # an embedding, if any, is float32 either way
    count = len(ab_stored)
    return sum(a.nbytes for a in before) / count, sum(a.nbytes for a in sent) / count


# ------------------------------------------------------------------------------------
# Report
# ------------------------------------------------------------------------------------
def verdict(value, target):
    return "PASS" if value >= target else "MISS"


def main(argv=None) -> int:
    args = parse_args(argv)
    data = args.data.resolve()
    if not data.is_dir():
        print(f"bench_data: no source data at {data}; skipping (pass --data DIR).")
        return 0
    cores = os.cpu_count() or 1
    prepare_workers = args.prepare_workers or sorted({1, cores})
    py_workers = args.py_workers or cores

    import keras

    from colorkeras.data.pipeline import PreparedDataset
    from colorkeras.data.prepare import is_prepared

    print(f"date: {datetime.now().astimezone().isoformat(timespec='seconds')}")
    print(f"machine: {machine_line()}")
    print(f"python {sys.version.split()[0]}, keras {keras.__version__} ({keras.backend.backend()} backend)")
    print(f"data: {data}")
    import colorkeras.data.pipeline

    print(f"readers from: {Path(colorkeras.data.pipeline.__file__)}")

    work = args.work.resolve() if args.work else Path(tempfile.mkdtemp(prefix="bench-data-"))
    work.mkdir(parents=True, exist_ok=True)
    rows = []  # (what, images/s, cores used, target, verdict)
    try:
        reader_dir = work / f"{data.name}-w{max(prepare_workers)}"
        if not args.skip_prepare:
            for workers in prepare_workers:
                out_dir = work / f"{data.name}-w{workers}"
                print(f"preparing with {workers} worker(s) -> {out_dir} ...", flush=True)
                seconds, files, report = time_prepare(data, out_dir, args.image_size, workers)
                rate = files / seconds
                print(f"  {files} files in {seconds:.1f} s; prepared {sum(report.prepared.values())} "
                      f"({report.prepared}), skipped {len(report.skipped)}", flush=True)
                used = min(workers, cores)
                rows.append((f"prepare, workers={workers} ({files} files, {seconds:.0f} s)", rate, used,
                             f">= {PREPARE_TARGET_PER_CORE:.0f}/core",
                             verdict(rate / used, PREPARE_TARGET_PER_CORE)))
        elif not is_prepared(reader_dir):
            print(f"preparing (untimed) -> {reader_dir} ...", flush=True)
            time_prepare(data, reader_dir, args.image_size, max(prepare_workers))

        prepared = PreparedDataset.open(reader_dir)
        print(f"readers: {prepared.count('train')} training images, batch {args.batch}, "
              f"{args.warmup} warm-up batches, then best of {args.repeats} x {args.batches} batches",
              flush=True)
        readers = [  # (name, stream, cores it may use, target)
            ("tf.data (make_tf_dataset)", lambda: tf_data_batches(prepared, args.batch), cores, TF_DATA_TARGET),
            ("PyDataset, __getitem__ in order", lambda: py_sequential_batches(prepared, args.batch), 1, None),
            (f"PyDataset, workers={py_workers} (fit's enqueuer)",
             lambda: py_threaded_batches(prepared, args.batch, py_workers), min(py_workers, cores), None),
        ]
        for name, make_stream, used, target in readers:
            rates = time_stream(make_stream(), args.warmup, args.batches, args.repeats)
            rate = max(rates)
            print(f"  {name}: best {rate:,.0f} images/s (runs: {', '.join(f'{r:,.0f}' for r in rates)})",
                  flush=True)
            rows.append((name, rate, used, f">= {target:,.0f} on {cores}" if target else "-",
                         verdict(rate, target) if target else "-"))

        print()
        print(f"| {'what':52s} | {'images/s':>9s} | {'cores':>5s} | {'per core':>8s} | {'target':>14s} | verdict |")
        print(f"|{'-' * 54}|{'-' * 10}:|{'-' * 6}:|{'-' * 9}:|{'-' * 15}:|---------|")
        for what, rate, used, target, result in rows:
            print(f"| {what:52s} | {rate:9,.0f} | {used:5d} | {rate / used:8,.0f} | {target:>14s} | {result:7s} |")
        size = prepared.image_size
        print(f"(readers: {size}x{size} training batches of {args.batch}, seeded shuffle + random flip; "
              "'cores' = cores the step can use)")
        before, now = bytes_per_image(prepared, args.batch)
        print(f"\nbytes sent per training image ({size}x{size}): float32 normalised on the host (before) "
              f"{before:,.0f}; stored uint8 (now) {now:,.0f}; ratio {now / before:.3f} "
              f"(target <= 1/3): {verdict(BYTES_TARGET, now / before)}")

        if args.profile:
            print("\ntf.data stage by stage (same index stream, AUTOTUNE map, prefetch):")
            profile_tf_data(prepared, args.batch, args.warmup, args.batches)
    finally:
        if args.work is None:
            shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
