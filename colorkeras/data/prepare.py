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

Arrays are written with ordinary sequential writes, never through a writable memory map:
a full disk then fails one ``write`` with ENOSPC (a clear error) instead of killing the
process with SIGBUS when a page of a sparse mapped file cannot be stored.
"""

from __future__ import annotations

import csv
import ctypes
import errno
import hashlib
import json
import math
import os
import re
import secrets
import shutil
import signal
import sys
import threading
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict, dataclass, field, replace
from multiprocessing import get_context
from pathlib import Path

import numpy as np

from colorkeras.fileio import free_bytes_if_short, is_temporary_name, process_alive
from colorkeras.errors import ColorkerasError, InvalidArgument
from colorkeras import color
from colorkeras.data.synthetic import toy_city_folder
from colorkeras.images import (
    IMAGE_EXTENSIONS,
    ImageReadError,
    is_grayscale,
    read_rgb,
    resize_square,
    scan_images,
)

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
            return "\n".join([f"{_shown(self.out_dir)}: already prepared with these settings; nothing to do.", *lines])
        lines.insert(0, f"Prepared dataset: {_shown(self.out_dir)}")
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
    """One source shown as `_shown`, several joined by "; "."""
    return "; ".join(_shown(source) for source in _as_list(source_dir))


def _shown(path) -> str:
    """A path as printable text: bytes that are not UTF-8 (a Latin-1 name such as
    b"caf\\xe9.png") become backslash escapes, so the name can go into UTF-8 CSV files,
    JSON and terminal messages without failing."""
    return os.fsencode(path).decode("utf-8", "backslashreplace")


# ------------------------------------------------------------------------------------
# Listing sources
# ------------------------------------------------------------------------------------
@dataclass(frozen=True)
class SourceImage:
    path: Path  # the file to read
    relpath: str  # its path under the source folder, printable (see _shown)
    class_name: str
    own_split: str = "train"  # the source's own split folder ("train" where it has none)


@dataclass
class SourceScan:
    """Everything a preparation will read, and everything it leaves out, with reasons."""

    images: list  # SourceImage, sorted by relpath
    empty_classes: list  # class names whose folders hold no image at all
    left_out: list  # (relpath, reason)


def check_source(source_dir: Path, label: str = "") -> None:
    """A source folder exists, is a folder and can be listed and entered (PrepareError
    otherwise); ``label`` goes before the path in the message (e.g. "--ood ")."""
    if not source_dir.exists():
        raise PrepareError(f"{label}{_shown(source_dir)}: source folder does not exist")
    if not source_dir.is_dir():
        raise PrepareError(f"{label}{_shown(source_dir)}: the source is not a folder")
    try:
        with os.scandir(source_dir):
            pass
        # Reaching "SRC/." needs search (x) permission on SRC; a folder that can be listed
        # but not entered would otherwise look like one whose class folders all fail.
        os.stat(os.path.join(source_dir, "."))
    except OSError as error:
        raise PrepareError(
            f"{label}{_shown(source_dir)}: cannot read the source folder ({error.strerror or error}); "
            "it must be readable and enterable (permission r-x)"
        ) from error


def _subfolders(folder: Path, source_dir: Path, left_out: list) -> list[Path]:
    """Visible sub-folders of `folder`, sorted by name.

    A linked folder is followed only when it leads to a folder inside the source that
    does not hold the link: a link to the source itself, or above it, would list every
    image a second time (in two classes, or in train and test at once), and a link
    leading outside the source would read photos the user did not point at.
    """
    try:
        with os.scandir(folder) as listing:
            entries = sorted(listing, key=lambda entry: entry.name)
    except OSError as error:
        left_out.append((_relative(folder, source_dir), f"cannot list folder ({error.strerror or error})"))
        return []
    real_folder = folder.resolve()
    result = []
    for entry in entries:
        path = Path(entry.path)
        if entry.name.startswith("."):
            continue
        try:
            is_dir = entry.is_dir()  # follows links
        except OSError as error:
            left_out.append((_relative(path, source_dir), f"cannot access ({error.strerror or error})"))
            continue
        if not is_dir:
            if folder == source_dir and path.suffix.lower() in IMAGE_EXTENSIONS:
                left_out.append((_relative(path, source_dir),
                                 "image outside a class folder (expected SRC/<class>/<images>)"))
            continue
        if entry.is_symlink():
            target = path.resolve()
            if target == real_folder or target in real_folder.parents:
                left_out.append((_relative(path, source_dir), "symbolic link to the folder holding it "
                                 "or a folder above it (not followed: it would list images twice)"))
                continue
            if source_dir not in target.parents:
                left_out.append((_relative(path, source_dir), "symbolic link to a folder outside the "
                                 f"source (not followed): {_shown(target)}"))
                continue
        result.append(path)
    return result


def _relative(path: Path, source_dir: Path) -> str:
    return _shown(path.relative_to(source_dir).as_posix())


def find_class_folders(source_dir: Path) -> tuple[dict[str, list[Path]], list]:
    """Map class name -> class folders under source_dir, and the (relpath, reason) pairs
    of folders left out.

    Classes are the first-level sub-folders, or the second level when the first level
    holds only split folders (train/test/...), in which case the same class name in
    several splits is one class.
    """
    left_out: list = []
    top = _subfolders(source_dir, source_dir, left_out)
    if not top:
        detail = f" ({left_out[0][0]}: {left_out[0][1]})" if left_out else ""
        raise PrepareError(f"{_shown(source_dir)}: no class sub-folders (expected SRC/<class>/<images>){detail}")
    if all(p.name.lower() in SPLIT_FOLDER_NAMES for p in top):
        folders = [c for split in top for c in _subfolders(split, source_dir, left_out)]
    else:
        folders = top
    folders = _drop_second_paths(folders, source_dir, left_out)
    classes: dict[str, list[Path]] = {}
    for folder in folders:
        classes.setdefault(_shown(folder.name), []).append(folder)
    return classes, left_out


def _drop_second_paths(folders: list[Path], source_dir: Path, left_out: list) -> list[Path]:
    """A linked class folder that leads to another class folder (``alias -> park``) is a
    second path to that folder, not a class of its own: it is listed in left_out and its
    images stay under the real folder's class name."""
    real = {folder.resolve(): folder for folder in folders if not folder.is_symlink()}
    kept = []
    for folder in folders:
        target = real.get(folder.resolve()) if folder.is_symlink() else None
        if target is not None:
            left_out.append((_relative(folder, source_dir), f"symbolic link to the class folder "
                             f"{_relative(target, source_dir)}: a second path to the same folder, whose "
                             f"images are listed once, under {_shown(target.name)}"))
        else:
            kept.append(folder)
    return kept


_OWN_SPLITS = {"test": "test", "testing": "test", "val": "val", "valid": "val", "validation": "val"}


def _own_split(path: Path, source_dir: Path) -> str:
    """The split folder a source file lies in (SRC/<split>/<class>/...), or "train"."""
    parts = path.relative_to(source_dir).parts
    return _OWN_SPLITS.get(parts[0].lower(), "train") if len(parts) > 2 else "train"


def scan_many(source_dirs: list[Path]) -> SourceScan:
    """`scan_sources` of several sources as one: with more than one, each relpath and class
    name starts with its source folder's name ("camvid-street/...", "camvid-street:street"),
    so classes of equal names in different sources stay apart."""
    if len(source_dirs) == 1:
        return scan_sources(source_dirs[0])
    names = [_shown(source.name) for source in source_dirs]
    if len(set(names)) != len(names):
        raise PrepareError(f"sources must have different folder names, got {', '.join(names)}")
    images, empty, left_out = [], [], []
    for name, source in zip(names, source_dirs):
        scan = scan_sources(source)
        images += [SourceImage(image.path, f"{name}/{image.relpath}", f"{name}:{image.class_name}",
                               image.own_split) for image in scan.images]
        empty += [f"{name}:{cls}" for cls in scan.empty_classes]
        left_out += [(f"{name}/{relpath}", reason) for relpath, reason in scan.left_out]
    images.sort(key=lambda image: (image.relpath, image.class_name))
    return SourceScan(images, sorted(empty), sorted(left_out))


def scan_sources(source_dir: Path) -> SourceScan:
    """The candidate images of every class, sorted by relpath, each real file once."""
    source_dir = Path(source_dir)
    classes, left_out = find_class_folders(source_dir)
    images = []
    empty = []
    for name, folders in classes.items():
        found_any = unlisted = False
        for folder in folders:
            found, skipped = scan_images(folder)
            found_any = found_any or bool(found)
            unlisted = unlisted or any(path == folder for path, _ in skipped)
            images += [SourceImage(path, _relative(path, source_dir), name, _own_split(path, source_dir))
                       for path in found]
            left_out += [(_relative(path, source_dir), reason) for path, reason in skipped]
        # A folder that could not be listed is reported as such (in left_out), not as empty.
        if not found_any and not unlisted:
            empty.append(name)
    images.sort(key=lambda image: (image.relpath, image.class_name))
    # Links (a linked folder, a linked file) can show one file under two names; read it
    # once, or it could land in train and test at once: under its own path where that is
    # listed (its class is the folder it really lies in), else under the first name.
    by_real: dict[str, list[SourceImage]] = {}
    for image in images:
        by_real.setdefault(os.path.realpath(image.path), []).append(image)
    unique = []
    for real, names in by_real.items():
        chosen = next((image for image in names if os.path.abspath(image.path) == real), names[0])
        unique.append(chosen)
        left_out += [(image.relpath, f"same file as {chosen.relpath} (listed once)")
                     for image in names if image is not chosen]
    unique.sort(key=lambda image: (image.relpath, image.class_name))
    return SourceScan(unique, sorted(empty), sorted(left_out))


def list_sources(source_dir: Path) -> tuple[list[tuple[str, str]], list[str]]:
    """Sorted (relpath, class) pairs of every candidate image, and the empty classes."""
    scan = scan_sources(source_dir)
    return [(image.relpath, image.class_name) for image in scan.images], scan.empty_classes


def _source_fingerprint(images: list[SourceImage]) -> str:
    """Cheap identity of the source tree (paths and sizes), to tell a no-op rerun."""
    digest = hashlib.sha256()
    for image in images:
        try:
            size = image.path.stat().st_size
        except OSError:
            size = -1  # gone or unreadable now: reported when it is read
        digest.update(f"{image.relpath}\t{image.class_name}\t{size}\n".encode())
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
# The destination
# ------------------------------------------------------------------------------------
def _our_settings(out_dir: Path) -> dict | None:
    """settings.json of a dataset this module wrote, or None for any other folder.

    Only such a folder may ever be replaced: a settings.json of some other program, or
    none at all, means the folder holds someone's files.
    """
    try:
        doc = json.loads((Path(out_dir) / "settings.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if not isinstance(doc, dict) or "format_version" not in doc or "source_fingerprint" not in doc:
        return None
    return doc if (Path(out_dir) / "manifest.csv").is_file() else None


def is_prepared(out_dir: Path) -> bool:
    return _our_settings(Path(out_dir)) is not None


def read_settings(out_dir: Path) -> dict:
    path = Path(out_dir) / "settings.json"
    if not path.is_file():
        raise PrepareError(
            f"{out_dir} is not a prepared dataset (no settings.json). "
            "Run `colorkeras prepare SRC OUT` first."
        )
    return json.loads(path.read_text())


# Work folders of this process that are in use now (never stale, whatever their pid says).
_IN_USE: set[Path] = set()

# What prepare writes into a dataset, and into its work folder on the way.
DATASET_FILES = frozenset({"settings.json", "manifest.csv", "skipped.csv",
                           *(f"{split}_{part}.npy" for split in SPLITS for part in ("l", "ab"))})
_WORK_FILES = DATASET_FILES | {"all_l.tmp", "all_ab.tmp"}
# What `colorkeras embed` (and train, through it) caches inside a dataset:
# embeddings/<key>/<split>.npy, with <split>.partial.npy and <split>.progress.json on the way.
_EMBEDDING_FILE = re.compile(r"(train|val|test)(\.npy|\.partial\.npy|\.progress\.json)")
_TOKEN = re.compile(r"[0-9a-f]{8}")


def _sibling(out_dir: Path, kind: str) -> Path:
    """A fresh name for a work ("partial") or trash ("old") folder beside out_dir:
    ``.OUT.<kind>-<pid>-<8 hex>``.

    The pid in the name tells a later run whether the folder's owner is still alive.
    """
    return out_dir.with_name(f".{out_dir.name}.{kind}-{os.getpid()}-{secrets.token_hex(4)}")


def _not_written_by_prepare(folder: Path, names=DATASET_FILES) -> list[str]:
    """What in ``folder`` neither prepare nor embed's cache wrote (paths relative to it,
    sorted); [] when everything there is theirs. Links are never theirs."""
    foreign = []
    for entry in sorted(folder.iterdir()):
        if entry.is_symlink():
            foreign.append(entry.name)
        elif entry.name == "embeddings" and entry.is_dir():
            for key in sorted(entry.iterdir()):
                if key.is_symlink() or not key.is_dir():
                    foreign.append(f"embeddings/{key.name}")
                    continue
                foreign += [f"embeddings/{key.name}/{item.name}" for item in sorted(key.iterdir())
                            if item.is_symlink() or not item.is_file()
                            or not (_EMBEDDING_FILE.fullmatch(item.name) or is_temporary_name(item.name))]
        elif not (entry.name in names and entry.is_file()):
            foreign.append(entry.name)
    return foreign


def _left_by_prepare(path: Path, kind: str) -> bool:
    """Whether a work or trash folder holds only what prepare leaves there: a work folder
    its work files (or nothing), a trash folder an ``old`` dataset of ours (or nothing)."""
    try:
        if kind == "partial":
            return not _not_written_by_prepare(path, _WORK_FILES)
        inside = list(path.iterdir())
        if not inside:
            return True
        old = path / "old"
        return (inside == [old] and old.is_dir() and not old.is_symlink()
                and not _not_written_by_prepare(old))
    except OSError:
        return False


def _stale_siblings(out_dir: Path) -> list[Path]:
    """Work and trash folders beside out_dir left by runs that are no longer alive.

    Only names of exactly the form prepare gives them (``_sibling``) whose content is
    what prepare leaves there count: anything else is someone's, and left alone.
    """
    pattern = re.compile(rf"\.{re.escape(out_dir.name)}\.(?P<kind>partial|old)-(?P<pid>[0-9]+)-(?P<token>.*)",
                         re.DOTALL)
    stale = []
    for path in sorted(out_dir.parent.iterdir()):
        match = pattern.fullmatch(path.name)
        if match is None or not _TOKEN.fullmatch(match["token"]):
            continue
        if path in _IN_USE or not path.is_dir() or path.is_symlink():
            continue
        owner = int(match["pid"])
        if owner != os.getpid() and process_alive(owner):
            continue
        if _left_by_prepare(path, match["kind"]):
            stale.append(path)
    return stale


def _clean_up_after_dead_runs(out_dir: Path) -> list[str]:
    """Remove leftovers of killed runs; put back a dataset a killed run moved aside.

    A run killed between its two renames leaves OUT missing and the complete old
    dataset in .OUT.old-*/old: that one is restored, as if the run had never started.
    """
    if not out_dir.parent.is_dir():
        return []
    notes = []
    stale = _stale_siblings(out_dir)
    if not out_dir.exists():
        moved_aside = [p / "old" for p in stale if ".old-" in p.name and _our_settings(p / "old")]
        if moved_aside:
            newest = max(moved_aside, key=lambda p: p.stat().st_mtime)
            os.replace(newest, out_dir)
            notes.append(f"restored {_shown(out_dir)} from {_shown(newest.parent.name)}, "
                         "left by an interrupted run")
    for path in stale:
        shutil.rmtree(path, ignore_errors=True)
    return notes


def _check_apart(source_dir: Path, out_dir: Path) -> None:
    # Both are resolved, so a link cannot hide that one holds the other. Replacing OUT
    # when it holds SRC would delete the photos themselves.
    if out_dir == source_dir or source_dir in out_dir.parents or out_dir in source_dir.parents:
        raise PrepareError(
            f"the source {_shown(source_dir)} and the dataset folder {_shown(out_dir)} overlap "
            "(one holds the other); choose a dataset folder outside the source and not above it"
        )


def _bytes_needed(count: int, image_size: int) -> int:
    """Peak disk use of a preparation: L and ab arrays twice (all images, then per split)
    plus CSVs and headers, with a margin."""
    arrays = count * image_size * image_size * 3
    return 2 * arrays + arrays // 100 + 16 * 2**20


def _check_free_space(folder: Path, needed: int) -> None:
    free = free_bytes_if_short(folder, needed)
    if free is not None:
        raise PrepareError(
            f"{_shown(folder)}: not enough free disk space to prepare the dataset: it needs "
            f"about {needed:,} bytes ({needed / 2**30:.2f} GiB), {free:,} bytes "
            f"({free / 2**30:.2f} GiB) are free. Free some space, choose a folder on another "
            "disk, or prepare at a smaller --size."
        )


_DISK_FULL = frozenset({errno.ENOSPC, errno.EDQUOT, errno.EFBIG})


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
    sources = [Path(source).resolve() for source in
               (source_dir if isinstance(source_dir, (list, tuple)) else [source_dir])]
    if not sources:
        raise InvalidArgument("no source folder given")
    out_dir = Path(out_dir).resolve()
    for source in sources:
        check_source(source)
        _check_apart(source, out_dir)
    source_dir = sources[0] if len(sources) == 1 else sources
    scan = scan_many(sources)
    if not scan.images:
        detail = "".join(f"; {relpath}: {reason}" for relpath, reason in scan.left_out[:3])
        raise PrepareError(f"{', '.join(map(_shown, sources))}: no image files found in the class folders{detail}")
    recorded = asdict(settings)
    if not settings.keep_split:  # datasets prepared before the option existed stay prepared
        del recorded["keep_split"]
    wanted = {"format_version": FORMAT_VERSION, **recorded,
              "source_fingerprint": _source_fingerprint(scan.images)}

    notes = _clean_up_after_dead_runs(out_dir)
    if out_dir.exists():
        if not out_dir.is_dir():
            raise PrepareError(f"{_shown(out_dir)} exists and is not a folder; choose another "
                               "path for the prepared dataset")
        existing = _our_settings(out_dir)
        if existing is not None:
            if all(existing.get(key) == value for key, value in wanted.items()):
                return PrepareReport(out_dir, existing.get("counts", {}), [], scan.empty_classes,
                                     already_done=True, notes=notes)
            if not overwrite:
                raise PrepareError(
                    f"{_shown(out_dir)} holds a prepared dataset with other settings or sources; "
                    "pass --overwrite to replace it, or choose another folder."
                )
            foreign = _not_written_by_prepare(out_dir)
            if foreign:
                listed = ", ".join(map(_shown, foreign[:5])) + (f" and {len(foreign) - 5} more" if len(foreign) > 5 else "")
                raise PrepareError(
                    f"{_shown(out_dir)} holds files prepare did not write: {listed}; they are never "
                    "deleted, not even with --overwrite: move them out, or choose another folder."
                )
        elif any(out_dir.iterdir()):
            raise PrepareError(
                f"{_shown(out_dir)} exists and is not a prepared dataset (no settings.json of "
                "`colorkeras prepare`); it is never replaced, not even with --overwrite: "
                "choose another folder."
            )

    needed = _bytes_needed(len(scan.images), settings.image_size)
    work_dir = _sibling(out_dir, "partial")
    try:
        out_dir.parent.mkdir(parents=True, exist_ok=True)
        _check_free_space(out_dir.parent, needed)
        work_dir.mkdir()
    except OSError as error:
        raise PrepareError(f"cannot create the dataset folder {_shown(out_dir)}: "
                           f"{error.strerror or error} ({_shown(error.filename or out_dir.parent)})") from error
    _IN_USE.add(work_dir)
    try:
        report = _prepare_into(work_dir, source_dir, scan, settings, wanted, workers, progress)
        if out_dir.exists():
            trash = _sibling(out_dir, "old")
            trash.mkdir()
            os.replace(out_dir, trash / "old")
            os.replace(work_dir, out_dir)
            shutil.rmtree(trash, ignore_errors=True)
        else:
            os.replace(work_dir, out_dir)
    except OSError as error:
        if error.errno in _DISK_FULL:
            raise PrepareError(
                f"{_shown(out_dir.parent)}: the disk filled up while writing the dataset "
                f"({error.strerror}); it needs about {needed:,} bytes. The partial output was "
                "removed: free some space and run again."
            ) from error
        raise
    finally:
        shutil.rmtree(work_dir, ignore_errors=True)
        _IN_USE.discard(work_dir)
    report.out_dir = out_dir
    report.empty_classes = scan.empty_classes
    report.notes = notes
    return report


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
    from tqdm.auto import tqdm

    size = settings.image_size
    images = scan.images
    count = len(images)
    info: list = [None] * count
    reasons: dict[int, str] = {}
    kept: list[int] = []  # indices of the images in the temporary arrays, in row order
    jobs = [(i, str(image.path), size, settings.keep_grayscale) for i, image in enumerate(images)]
    bar = tqdm(total=count, desc="prepare", unit="img", disable=not progress)
    results = _results(jobs, workers or os.cpu_count() or 1)
    # Plain appends, not a writable memory map (see the module docstring).
    try:
        with open(work_dir / "all_l.tmp", "wb") as l_file, open(work_dir / "all_ab.tmp", "wb") as ab_file:
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

    if not kept:
        raise PrepareError(f"{_shown_sources(source_dir)}: none of the {count} files could be prepared")
    all_l = np.memmap(work_dir / "all_l.tmp", np.uint8, "r", shape=(len(kept), size, size))
    all_ab = np.memmap(work_dir / "all_ab.tmp", np.uint8, "r", shape=(len(kept), size, size, 2))
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
    for tmp in work_dir.glob("all_*.tmp"):
        tmp.unlink()

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
