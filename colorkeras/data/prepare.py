"""Turn a folder of photos (one sub-folder per class) into a *prepared dataset*.

A prepared dataset is a folder that any backend can read without decoding a single JPEG:

```
settings.json      image size, seed, split fractions, storage encoding, classes, counts
manifest.csv       relpath, class, split, row, sha256, width, height (one line per image)
skipped.csv        relpath, reason (unreadable or grayscale-only sources)
train_l.npy        (N, S, S)    uint8 L      (see colorkeras.color: worst error 0.196)
train_ab.npy       (N, S, S, 2) uint8 ab     (worst error 0.406)
val_*.npy test_*.npy
```

The folder is built under a temporary name beside the destination and renamed into place
only when complete, so an interrupted run never leaves a dataset that a later run would
trust. ``settings.json`` is written last inside it, as a second completeness marker.
"""

from __future__ import annotations

import csv
import hashlib
import json
import math
import os
import shutil
import tempfile
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict, dataclass, field
from multiprocessing import get_context
from pathlib import Path

import numpy as np

from colorkeras.errors import ColorkerasError, InvalidArgument
from colorkeras import color
from colorkeras.images import ImageReadError, is_grayscale, list_images, read_rgb, resize_square

FORMAT_VERSION = 1
SPLITS = ("train", "val", "test")
# A source tree laid out as <split>/<class>/... (intel-urban is) is recognised by these
# top-level names; its own split is ignored and the study's 80/10/10 is drawn instead.
SPLIT_FOLDER_NAMES = frozenset({"train", "training", "test", "testing", "val", "valid", "validation"})


class PrepareError(ColorkerasError):
    """A preparation that cannot go on (no images, a destination holding something else)."""


@dataclass(frozen=True)
class PrepareSettings:
    """What defines a prepared dataset: a run with equal settings and sources is a no-op.

    Args:
        image_size: side of the square arrays (the study: 256).
        seed: seed of the per-class split.
        val_fraction, test_fraction: per-class split fractions (the study: 0.1 each).
        keep_grayscale: keep sources that have no colour (default: report and skip them).
    """

    image_size: int = 256
    seed: int = 0
    val_fraction: float = 0.1
    test_fraction: float = 0.1
    keep_grayscale: bool = False

    def __post_init__(self):
        if self.image_size < 8 or self.image_size % 8:
            raise InvalidArgument(f"image_size must be a multiple of 8 and >= 8, got {self.image_size}")
        if not (0 <= self.val_fraction < 1 and 0 <= self.test_fraction < 1):
            raise InvalidArgument("val_fraction and test_fraction must lie in [0, 1)")
        if self.val_fraction + self.test_fraction >= 1:
            raise InvalidArgument("val_fraction + test_fraction must leave images for training")


@dataclass
class PrepareReport:
    """What a preparation did; printed by the CLI."""

    out_dir: Path
    prepared: dict  # split -> count
    skipped: list  # (relpath, reason)
    empty_classes: list
    already_done: bool = False
    thin_classes: list = field(default_factory=list)

    def to_text(self) -> str:
        if self.already_done:
            return f"{self.out_dir}: already prepared with these settings; nothing to do."
        lines = [f"Prepared dataset: {self.out_dir}"]
        lines.append("  " + ", ".join(f"{split}: {n}" for split, n in self.prepared.items()))
        for name in self.empty_classes:
            lines.append(f"  class folder without images: {name}")
        for name in self.thin_classes:
            lines.append(f"  class too small for every split (no val or test image): {name}")
        if self.skipped:
            lines.append(f"  skipped {len(self.skipped)} file(s) (listed in skipped.csv):")
            for relpath, reason in self.skipped[:20]:
                lines.append(f"    {relpath}: {reason}")
            if len(self.skipped) > 20:
                lines.append(f"    ... and {len(self.skipped) - 20} more")
        return "\n".join(lines)


# ------------------------------------------------------------------------------------
# Listing sources
# ------------------------------------------------------------------------------------
def find_class_folders(source_dir: Path) -> tuple[dict[str, list[Path]], list[str]]:
    """Map class name -> class folders under source_dir, and list empty class folders.

    Classes are the first-level sub-folders, or the second level when the first level
    holds only split folders (train/test/...), in which case the same class name in
    several splits is one class.
    """
    top = sorted(p for p in source_dir.iterdir() if p.is_dir() and not p.name.startswith("."))
    if not top:
        raise PrepareError(f"{source_dir}: no class sub-folders (expected SRC/<class>/<images>)")
    if all(p.name.lower() in SPLIT_FOLDER_NAMES for p in top):
        folders = [c for split in top for c in sorted(split.iterdir()) if c.is_dir()]
    else:
        folders = top
    classes: dict[str, list[Path]] = {}
    for folder in folders:
        if not folder.name.startswith("."):
            classes.setdefault(folder.name, []).append(folder)
    empty = [name for name, dirs in classes.items() if not any(list_images(d) for d in dirs)]
    return classes, empty


def list_sources(source_dir: Path) -> tuple[list[tuple[str, str]], list[str]]:
    """Sorted (relpath, class) pairs of every candidate image, and the empty classes."""
    classes, empty = find_class_folders(source_dir)
    sources = []
    for name, dirs in classes.items():
        for folder in dirs:
            for path in list_images(folder):
                sources.append((path.relative_to(source_dir).as_posix(), name))
    sources.sort()
    return sources, empty


def _source_fingerprint(source_dir: Path, sources: list[tuple[str, str]]) -> str:
    """Cheap identity of the source tree (paths and sizes), to tell a no-op rerun."""
    digest = hashlib.sha256()
    for relpath, name in sources:
        digest.update(f"{relpath}\t{name}\t{(source_dir / relpath).stat().st_size}\n".encode())
    return digest.hexdigest()


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


# ------------------------------------------------------------------------------------
# Splitting
# ------------------------------------------------------------------------------------
def assign_splits(classes: list[str], settings: PrepareSettings) -> list[str]:
    """Seeded 80/10/10 (by default) split within each class; input order must be sorted."""
    splits = [""] * len(classes)
    by_class: dict[str, list[int]] = {}
    for position, name in enumerate(classes):
        by_class.setdefault(name, []).append(position)
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
def is_prepared(out_dir: Path) -> bool:
    return (Path(out_dir) / "settings.json").is_file()


def read_settings(out_dir: Path) -> dict:
    path = Path(out_dir) / "settings.json"
    if not path.is_file():
        raise PrepareError(
            f"{out_dir} is not a prepared dataset (no settings.json). "
            "Run `colorkeras prepare SRC OUT` first."
        )
    return json.loads(path.read_text())


def prepare(
    source_dir,
    out_dir,
    settings: PrepareSettings | None = None,
    *,
    workers: int | None = None,
    overwrite: bool = False,
    progress: bool = True,
) -> PrepareReport:
    """Prepare SRC (class sub-folders) into OUT; see the module docstring for the layout."""
    settings = settings or PrepareSettings()
    source_dir, out_dir = Path(source_dir).resolve(), Path(out_dir).resolve()
    if not source_dir.is_dir():
        raise PrepareError(f"{source_dir}: source folder does not exist")
    if out_dir == source_dir or source_dir in out_dir.parents:
        raise PrepareError("the prepared dataset must not be written inside its source folder")
    sources, empty = list_sources(source_dir)
    if not sources:
        raise PrepareError(f"{source_dir}: no image files found in its class folders")
    wanted = {"format_version": FORMAT_VERSION, **asdict(settings),
              "source_fingerprint": _source_fingerprint(source_dir, sources)}

    if out_dir.exists():
        if is_prepared(out_dir):
            existing = read_settings(out_dir)
            if all(existing.get(key) == value for key, value in wanted.items()):
                return PrepareReport(out_dir, existing.get("counts", {}), [], empty, already_done=True)
            if not overwrite:
                raise PrepareError(
                    f"{out_dir} holds a prepared dataset with other settings or sources; "
                    "pass --overwrite to replace it, or choose another folder."
                )
        elif any(out_dir.iterdir()) and not overwrite:
            raise PrepareError(f"{out_dir} exists and is not a prepared dataset; choose another folder.")

    out_dir.parent.mkdir(parents=True, exist_ok=True)
    # Leftovers of an interrupted run are never trusted; clear them before starting over.
    for stale in out_dir.parent.glob(f".{out_dir.name}.partial-*"):
        shutil.rmtree(stale, ignore_errors=True)
    work_dir = Path(tempfile.mkdtemp(prefix=f".{out_dir.name}.partial-", dir=out_dir.parent))
    try:
        report = _prepare_into(work_dir, source_dir, sources, settings, wanted, workers, progress)
        if out_dir.exists():
            trash = Path(tempfile.mkdtemp(prefix=f".{out_dir.name}.old-", dir=out_dir.parent))
            os.replace(out_dir, trash / "old")
            os.replace(work_dir, out_dir)
            shutil.rmtree(trash, ignore_errors=True)
        else:
            os.replace(work_dir, out_dir)
    finally:
        shutil.rmtree(work_dir, ignore_errors=True)
    report.out_dir = out_dir
    report.empty_classes = empty
    return report


def _prepare_into(work_dir, source_dir, sources, settings, wanted, workers, progress):
    from tqdm.auto import tqdm

    size = settings.image_size
    count = len(sources)
    all_l = np.lib.format.open_memmap(work_dir / "all_l.tmp.npy", "w+", np.uint8, (count, size, size))
    all_ab = np.lib.format.open_memmap(work_dir / "all_ab.tmp.npy", "w+", np.uint8, (count, size, size, 2))
    info: list = [None] * count
    reasons: dict[int, str] = {}
    jobs = [(i, str(source_dir / rel), size, settings.keep_grayscale) for i, (rel, _) in enumerate(sources)]
    workers = workers or os.cpu_count() or 1
    bar = tqdm(total=count, desc="prepare", unit="img", disable=not progress)
    if workers == 1:
        results = map(_work, jobs)
        executor = None
    else:
        # spawn, not fork: the caller may have TensorFlow loaded, which does not survive fork.
        executor = ProcessPoolExecutor(workers, mp_context=get_context("spawn"))
        results = executor.map(_work, jobs, chunksize=16)
    try:
        for index, result, reason in results:
            if result is None:
                reasons[index] = reason
            else:
                l_u8, ab_u8, sha256, width, height = result
                all_l[index], all_ab[index] = l_u8, ab_u8
                info[index] = (sha256, width, height)
            bar.update()
    finally:
        bar.close()
        if executor is not None:
            executor.shutdown(cancel_futures=True)

    kept = [i for i in range(count) if info[i] is not None]
    if not kept:
        raise PrepareError(f"{source_dir}: none of the {count} files could be prepared")
    splits = assign_splits([sources[i][1] for i in kept], settings)
    rows = []
    counts = {}
    for split in SPLITS:
        members = [i for i, s in zip(kept, splits) if s == split]
        counts[split] = len(members)
        l_out = np.lib.format.open_memmap(work_dir / f"{split}_l.npy", "w+", np.uint8, (len(members), size, size))
        ab_out = np.lib.format.open_memmap(work_dir / f"{split}_ab.npy", "w+", np.uint8, (len(members), size, size, 2))
        for row, index in enumerate(members):
            l_out[row], ab_out[row] = all_l[index], all_ab[index]
            relpath, name = sources[index]
            sha256, width, height = info[index]
            rows.append((relpath, name, split, row, sha256, width, height))
        l_out.flush()
        ab_out.flush()
        del l_out, ab_out
    del all_l, all_ab
    for tmp in work_dir.glob("all_*.tmp.npy"):
        tmp.unlink()

    all_classes = {sources[i][1] for i in kept}
    thin = set()
    for split, fraction in (("val", settings.val_fraction), ("test", settings.test_fraction)):
        if fraction > 0:
            thin |= all_classes - {r[1] for r in rows if r[2] == split}
    thin = sorted(thin)
    rows.sort(key=lambda r: (SPLITS.index(r[2]), r[3]))
    _write_csv(work_dir / "manifest.csv", ("relpath", "class", "split", "row", "sha256", "width", "height"), rows)
    skipped = [(sources[i][0], reasons[i]) for i in sorted(reasons)]
    _write_csv(work_dir / "skipped.csv", ("relpath", "reason"), skipped)
    classes = sorted({sources[i][1] for i in kept})
    settings_doc = {
        **wanted,
        "source_dir": str(source_dir),
        "classes": classes,
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


def _write_csv(path: Path, header, rows) -> None:
    with open(path, "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle, lineterminator="\n")
        writer.writerow(header)
        writer.writerows(rows)
