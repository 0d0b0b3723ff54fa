"""Turn a folder of photos (one sub-folder per class) into a *prepared dataset*.

A prepared dataset is a folder that any backend can read without decoding a single JPEG:

```
settings.json      image size, seed, split fractions, storage encoding, classes, counts,
                   synthetic (the source holds toy-city's marker: not photographs)
manifest.csv       relpath, class, split, row, sha256, width, height (one line per image)
skipped.csv        relpath, reason (unreadable or grayscale-only sources)
train_l.npy        (N, S, S)    uint8 L      (see colorkeras.color: worst error 0.196)
train_ab.npy       (N, S, S, 2) uint8 ab     (worst error 0.406)
val_*.npy test_*.npy
```

The folder is built under a temporary name beside the destination
(``.OUT.partial-<pid>-<token>``) and renamed into place only when complete, so an
interrupted run never leaves a dataset that a later run would trust. ``settings.json`` is
written last inside it, as a second completeness marker. A replaced dataset is first moved
aside to ``.OUT.old-<pid>-<token>/old``; a later run removes such leftovers of runs that
are no longer alive, and puts an old dataset back if it never got its replacement. Only
folders named exactly so (a pid and 8 hex digits) that hold nothing but what prepare
leaves there count as leftovers: anything else beside OUT is left alone. ``--overwrite``
replaces a prepared dataset only while it holds nothing but prepare's files (and embed's
``embeddings/`` cache); a file of anyone else's in it is named, and never deleted.

Three modules share the work: ``colorkeras.data.sources`` lists the photos (and what is
left out, with reasons), ``colorkeras.data.destination`` owns the dataset folder (the
above), and this one reads the photos in parallel, splits them and writes the arrays.

Arrays are written with ordinary sequential writes, never through a writable memory map:
a full disk then fails one ``write`` with ENOSPC (a clear error) instead of killing the
process with SIGBUS when a page of a sparse mapped file cannot be stored.
"""

from __future__ import annotations

import csv
import ctypes
import hashlib
import json
import math
import os
import signal
import sys
import threading
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict, dataclass, field, replace
from multiprocessing import get_context
from pathlib import Path

import numpy as np

from colorkeras import color
from colorkeras.data.destination import (
    SCRATCH_AB,
    SCRATCH_L,
    SPLITS,
    bytes_needed,
    check_apart,
    check_destination,
    clean_up_after_dead_runs,
    is_prepared,
    move_into_place,
    read_settings,
    work_folder,
)
from colorkeras.data.sources import (
    PrepareError,
    SourceScan,
    check_source,
    list_sources,
    scan_many,
    shown,
    source_fingerprint,
)
from colorkeras.data.synthetic import toy_city_folder
from colorkeras.errors import InvalidArgument
from colorkeras.images import ImageReadError, is_grayscale, read_rgb, resize_square

# Also importable from here, where they lived before the preparation was split in three.
__all__ = ["FORMAT_VERSION", "SPLITS", "PrepareError", "PrepareReport", "PrepareSettings", "assign_splits",
           "check_source", "is_prepared", "list_sources", "load_for_dataset", "prepare", "read_settings"]

FORMAT_VERSION = 1


@dataclass(frozen=True)
class PrepareSettings:
    """What defines a prepared dataset: a run with equal settings and sources is a no-op.

    Args:
        image_size: side of the square arrays (the study: 256).
        seed: seed of the per-class split.
        keep_split: keep a source's own split folders (SRC/test/<class> stays test, SRC/val
            stays val); only its training images are drawn into train and val (val_fraction
            per class), test_fraction is not used. For sources whose split matters (video
            frames, where a random split puts neighbouring frames in train and test).
        val_fraction, test_fraction: per-class split fractions (the study: 0.1 each).
        keep_grayscale: keep sources that have no colour (default: report and skip them).
    """

    image_size: int = 256
    seed: int = 0
    val_fraction: float = 0.1
    test_fraction: float = 0.1
    keep_grayscale: bool = False
    keep_split: bool = False

    def __post_init__(self):
        if self.image_size < 8 or self.image_size % 8:
            raise InvalidArgument(f"image_size must be a multiple of 8 and >= 8, got {self.image_size}")
        for name in ("val_fraction", "test_fraction"):
            value = getattr(self, name)
            if not 0 <= value <= 1:  # also refuses NaN
                raise InvalidArgument(f"{name} must lie in [0, 1], got {value}")
        # test_fraction 1 (val 0) is an evaluation-only dataset: a new labelled set to
        # test a trained model on. Any other split without training images is a mistake.
        if self.val_fraction + self.test_fraction >= 1 and not self.is_test_only:
            raise InvalidArgument(
                "val_fraction + test_fraction must leave images for training (got "
                f"{self.val_fraction} + {self.test_fraction}); for an evaluation-only "
                "dataset use val_fraction 0 and test_fraction 1"
            )

    @property
    def is_test_only(self) -> bool:
        return self.val_fraction == 0 and self.test_fraction == 1


@dataclass
class PrepareReport:
    """What a preparation did; printed by the CLI."""

    out_dir: Path
    prepared: dict  # split -> count
    skipped: list  # (relpath, reason)
    empty_classes: list
    already_done: bool = False
    thin_classes: list = field(default_factory=list)
    notes: list = field(default_factory=list)  # things done besides preparing (a restore)

    def to_text(self) -> str:
        lines = [f"  {note}" for note in self.notes]
        if self.already_done:
            return "\n".join([f"{shown(self.out_dir)}: already prepared with these settings; nothing to do.", *lines])
        lines.insert(0, f"Prepared dataset: {shown(self.out_dir)}")
        lines.append("  " + ", ".join(f"{split}: {n}" for split, n in self.prepared.items()))
        if self.prepared and not self.prepared.get("train"):
            lines.append("  no training images: this dataset is for evaluation only")
        for name in self.empty_classes:
            lines.append(f"  class folder without images: {name}")
        for name in self.thin_classes:
            lines.append(f"  class too small for every split (no val or test image): {name}")
        if self.skipped:
            lines.append(f"  skipped {len(self.skipped)} file(s) or folder(s) (listed in skipped.csv):")
            for relpath, reason in self.skipped[:20]:
                lines.append(f"    {relpath}: {reason}")
            if len(self.skipped) > 20:
                lines.append(f"    ... and {len(self.skipped) - 20} more")
        return "\n".join(lines)


def _as_list(source_dir) -> list:
    return list(source_dir) if isinstance(source_dir, (list, tuple)) else [source_dir]


def _shown_sources(source_dir) -> str:
    """One source shown as `shown`, several joined by "; "."""
    return "; ".join(shown(source) for source in _as_list(source_dir))


# ------------------------------------------------------------------------------------
# Per-image work (runs in worker processes)
# ------------------------------------------------------------------------------------
def load_for_dataset(path: Path, image_size: int, keep_grayscale: bool):
    """One source file -> (l_uint8, ab_uint8, sha256, width, height), or (None, reason)."""
    try:
        data = path.read_bytes()
    except OSError as error:
        return None, f"cannot read: {error.strerror or error}"
    sha256 = hashlib.sha256(data).hexdigest()
    try:
        rgb = read_rgb(path)
    except ImageReadError as error:
        return None, error.reason
    if not keep_grayscale and is_grayscale(rgb):
        return None, "grayscale (no colour to learn from)"
    height, width = rgb.shape[:2]
    lab = color.rgb_to_lab(resize_square(rgb, image_size))
    return (color.quantize_l(lab[..., 0]), color.quantize_ab(lab[..., 1:]), sha256, width, height), None


def _work(job):
    index, path, image_size, keep_grayscale = job
    result, reason = load_for_dataset(Path(path), image_size, keep_grayscale)
    return index, result, reason


_PR_SET_PDEATHSIG = 1  # from <linux/prctl.h>


def _die_with_parent(parent_pid: int) -> None:
    """Pool initializer: a worker ends when the preparing process ends, even by kill -9.

    Without it, workers of a killed run block on their task queue for good (every worker
    holds the queue's write end, so it never reports end-of-file).
    """
    if sys.platform.startswith("linux"):
        try:
            ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, int(signal.SIGTERM))
        except (OSError, AttributeError):
            pass  # the watchdog below still ends the worker, a second later
    # The parent may have died before prctl took effect (then it never signals).
    if os.getppid() != parent_pid:
        os._exit(1)
    threading.Thread(target=_watch_parent, args=(parent_pid,), daemon=True,
                     name="colorkeras-watch-parent").start()


def _watch_parent(parent_pid: int) -> None:
    # Portable fallback: an orphan is re-parented, so its parent pid changes.
    while True:
        time.sleep(1.0)
        if os.getppid() != parent_pid:
            os._exit(1)


# ------------------------------------------------------------------------------------
# Splitting
# ------------------------------------------------------------------------------------
def assign_splits(classes: list[str], settings: PrepareSettings, own_splits: list[str] | None = None) -> list[str]:
    """Seeded 80/10/10 (by default) split within each class; input order must be sorted.

    With ``settings.keep_split``, ``own_splits`` (the source's own split of each image)
    are kept for test and val images; the rest is split into train and val per class."""
    splits = [""] * len(classes)
    by_class: dict[str, list[int]] = {}
    for position, name in enumerate(classes):
        if settings.keep_split and own_splits is not None and own_splits[position] != "train":
            splits[position] = own_splits[position]
            continue
        by_class.setdefault(name, []).append(position)
    if settings.keep_split:
        settings = replace(settings, test_fraction=0.0)
    for class_index, name in enumerate(sorted(by_class)):
        members = by_class[name]
        order = np.random.default_rng([settings.seed, class_index]).permutation(len(members))
        # Halves round up (Python's round() would send 0.5 to even, and a class of 5
        # would get no validation or test image).
        n_val = math.floor(settings.val_fraction * len(members) + 0.5)
        n_test = math.floor(settings.test_fraction * len(members) + 0.5)
        for rank, member in enumerate(order):
            split = "val" if rank < n_val else "test" if rank < n_val + n_test else "train"
            splits[members[member]] = split
    return splits


# ------------------------------------------------------------------------------------
# The preparation
# ------------------------------------------------------------------------------------
def prepare(
    source_dir,
    out_dir,
    settings: PrepareSettings | None = None,
    *,
    workers: int | None = None,
    overwrite: bool = False,
    progress: bool = True,
) -> PrepareReport:
    """Prepare SRC (class sub-folders) into OUT; see the module docstring for the layout.

    ``source_dir`` may be a list of folders: they are prepared as one dataset, each class
    named after its source (`scan_many`). ``overwrite`` replaces a dataset prepared with
    other settings or sources; a folder that is not a prepared dataset, or a dataset that
    holds files prepare did not write, is never replaced.
    """
    settings = settings or PrepareSettings()
    if workers is not None and workers < 1:
        raise InvalidArgument(f"workers must be at least 1, got {workers}")
    sources, out_dir = _checked_paths(source_dir, out_dir)
    scan = scan_many(sources)
    if not scan.images:
        detail = "".join(f"; {relpath}: {reason}" for relpath, reason in scan.left_out[:3])
        raise PrepareError(f"{', '.join(map(shown, sources))}: no image files found in the class folders{detail}")
    wanted = _wanted_settings(settings, scan)
    notes = clean_up_after_dead_runs(out_dir)
    existing = check_destination(out_dir, wanted, overwrite)
    if existing is not None:
        return PrepareReport(out_dir, existing.get("counts", {}), [], scan.empty_classes,
                             already_done=True, notes=notes)
    source_dir = sources[0] if len(sources) == 1 else sources
    with work_folder(out_dir, bytes_needed(len(scan.images), settings.image_size)) as work_dir:
        report = _prepare_into(work_dir, source_dir, scan, settings, wanted, workers, progress)
        move_into_place(work_dir, out_dir)
    report.out_dir = out_dir
    report.empty_classes = scan.empty_classes
    report.notes = notes
    return report


def _checked_paths(source_dir, out_dir) -> tuple[list[Path], Path]:
    """The source folders and the dataset folder, resolved; every source readable and
    apart from the dataset folder."""
    sources = [Path(source).resolve() for source in _as_list(source_dir)]
    if not sources:
        raise InvalidArgument("no source folder given")
    out_dir = Path(out_dir).resolve()
    for source in sources:
        check_source(source)
        check_apart(source, out_dir)
    return sources, out_dir


def _wanted_settings(settings: PrepareSettings, scan: SourceScan) -> dict:
    """What settings.json must say for the dataset to be this preparation's (a rerun with
    the same is a no-op)."""
    recorded = asdict(settings)
    if not settings.keep_split:  # datasets prepared before the option existed stay prepared
        del recorded["keep_split"]
    return {"format_version": FORMAT_VERSION, **recorded, "source_fingerprint": source_fingerprint(scan.images)}


def _results(jobs, workers: int):
    """(index, result, reason) per job, in job order."""
    if workers == 1:
        yield from map(_work, jobs)
        return
    # spawn, not fork: the caller may have TensorFlow loaded, which does not survive fork.
    executor = ProcessPoolExecutor(workers, mp_context=get_context("spawn"),
                                   initializer=_die_with_parent, initargs=(os.getpid(),))
    try:
        yield from executor.map(_work, jobs, chunksize=16)
    finally:
        executor.shutdown(cancel_futures=True)


def _prepare_into(work_dir, source_dir, scan, settings, wanted, workers, progress):
    images = scan.images
    info, reasons, kept = _read_sources(work_dir, images, settings, workers, progress)
    if not kept:
        raise PrepareError(f"{_shown_sources(source_dir)}: none of the {len(images)} files could be prepared")
    rows, counts, kept = _write_splits(work_dir, images, info, reasons, kept, settings)
    all_classes = {images[i].class_name for i in kept}
    thin = set()
    for split, fraction in (("val", settings.val_fraction), ("test", settings.test_fraction)):
        if fraction > 0:
            thin |= all_classes - {r[1] for r in rows if r[2] == split}
    thin = sorted(thin)
    rows.sort(key=lambda r: (SPLITS.index(r[2]), r[3]))
    _write_csv(work_dir / "manifest.csv", ("relpath", "class", "split", "row", "sha256", "width", "height"), rows)
    skipped = sorted(scan.left_out + [(images[i].relpath, reason) for i, reason in reasons.items()])
    _write_csv(work_dir / "skipped.csv", ("relpath", "reason"), skipped)
    settings_doc = {
        **wanted,
        "source_dir": _shown_sources(source_dir),
        # Not among the settings a rerun compares: datasets prepared before it was
        # recorded stay prepared. Runs copy it (colorize warns about toy-city models).
        "synthetic": any(toy_city_folder(source) is not None for source in _as_list(source_dir)),
        "classes": sorted(all_classes),
        "counts": counts,
        "skipped": len(skipped),
        "storage": {
            "dtype": "uint8",
            "l_range": [0.0, 100.0],
            "ab_range": [color.AB_STORAGE_MIN, color.AB_STORAGE_MAX],
        },
    }
    (work_dir / "settings.json").write_text(json.dumps(settings_doc, indent=2, sort_keys=True) + "\n")
    return PrepareReport(work_dir, counts, skipped, [], thin_classes=thin)


def _read_sources(work_dir, images, settings, workers, progress):
    """Read every source into the scratch arrays of ``work_dir``, in the order results come.

    Returns (info, reasons, kept): per image (sha256, width, height) or None; why each
    unread image was left out; the indices of the images read, in scratch-row order.
    """
    from tqdm.auto import tqdm

    size = settings.image_size
    info: list = [None] * len(images)
    reasons: dict[int, str] = {}
    kept: list[int] = []
    jobs = [(i, str(image.path), size, settings.keep_grayscale) for i, image in enumerate(images)]
    bar = tqdm(total=len(images), desc="prepare", unit="img", disable=not progress)
    results = _results(jobs, workers or os.cpu_count() or 1)
    # Plain appends, not a writable memory map (see the module docstring).
    try:
        with open(work_dir / SCRATCH_L, "wb") as l_file, open(work_dir / SCRATCH_AB, "wb") as ab_file:
            for index, result, reason in results:
                if result is None:
                    reasons[index] = reason
                else:
                    l_u8, ab_u8, sha256, width, height = result
                    l_file.write(np.ascontiguousarray(l_u8, np.uint8).tobytes())
                    ab_file.write(np.ascontiguousarray(ab_u8, np.uint8).tobytes())
                    info[index] = (sha256, width, height)
                    kept.append(index)
                bar.update()
    finally:
        results.close()  # stops the workers at once if the loop failed
        bar.close()
    return info, reasons, kept


def _write_splits(work_dir, images, info, reasons, kept, settings):
    """Sort the scratch rows into the split arrays (copies of a photo read once), then
    remove the scratch arrays. Returns the manifest rows, the count per split and the
    indices of the images kept."""
    size = settings.image_size
    all_l = np.memmap(work_dir / SCRATCH_L, np.uint8, "r", shape=(len(kept), size, size))
    all_ab = np.memmap(work_dir / SCRATCH_AB, np.uint8, "r", shape=(len(kept), size, size, 2))
    row_of = {index: row for row, index in enumerate(kept)}
    kept = _drop_duplicates(kept, info, images, reasons)
    splits = assign_splits([images[i].class_name for i in kept], settings, [images[i].own_split for i in kept])
    rows = []
    counts = {}
    for split in SPLITS:
        members = [i for i, s in zip(kept, splits) if s == split]
        counts[split] = len(members)
        _write_npy(work_dir / f"{split}_l.npy", all_l, [row_of[i] for i in members])
        _write_npy(work_dir / f"{split}_ab.npy", all_ab, [row_of[i] for i in members])
        for row, index in enumerate(members):
            sha256, width, height = info[index]
            rows.append((images[index].relpath, images[index].class_name, split, row, sha256, width, height))
    del all_l, all_ab
    for name in (SCRATCH_L, SCRATCH_AB):
        (work_dir / name).unlink()
    return rows, counts, kept


def _drop_duplicates(kept: list[int], info: list, images: list, reasons: dict[int, str]) -> list[int]:
    """Exact copies of a photo (the same sha256) are read once: the first by relpath is
    kept, each other one is recorded in ``reasons`` ("same content as <relpath>"), so no
    photo lands in two splits (train and test) or twice in one."""
    first: dict[str, int] = {}
    unique = []
    for index in sorted(kept, key=lambda i: images[i].relpath):
        sha256 = info[index][0]
        if sha256 in first:
            reasons[index] = f"same content as {images[first[sha256]].relpath}"
        else:
            first[sha256] = index
            unique.append(index)
    chosen = set(unique)
    return [index for index in kept if index in chosen]


def _write_npy(path: Path, source: np.ndarray, rows: list[int], chunk: int = 256) -> None:
    """Write source[rows] as a .npy file, a chunk of rows at a time (bounded memory)."""
    header = {"descr": np.lib.format.dtype_to_descr(source.dtype), "fortran_order": False,
              "shape": (len(rows), *source.shape[1:])}
    with open(path, "wb") as handle:
        np.lib.format.write_array_header_1_0(handle, header)
        for start in range(0, len(rows), chunk):
            handle.write(np.ascontiguousarray(source[rows[start:start + chunk]]).tobytes())


def _write_csv(path: Path, header, rows) -> None:
    with open(path, "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle, lineterminator="\n")
        writer.writerow(header)
        writer.writerows(rows)
