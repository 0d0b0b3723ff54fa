"""The prepared dataset's folder: what prepare owns there, and how it is put in place.

A dataset is built in a work folder beside the destination (``.OUT.partial-<pid>-<token>``)
and renamed into place only when complete; a replaced dataset is first moved aside to
``.OUT.old-<pid>-<token>/old``. A later run removes such leftovers of runs that are no
longer alive and puts back an old dataset that never got its replacement. Only folders
named exactly so that hold nothing but what prepare leaves there count as leftovers, and
a dataset is replaced only while it holds nothing but prepare's files (and embed's
``embeddings/`` cache): a file of anyone else's is named, and never deleted.
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import re
import secrets
import shutil
from collections.abc import Iterator
from pathlib import Path

from colorkeras.data.sources import PrepareError, shown
from colorkeras.fileio import free_bytes_if_short, is_temporary_name, process_alive

SPLITS = ("train", "val", "test")


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
# The arrays of every image, before they are sorted into splits (prepare's work folder only).
SCRATCH_L, SCRATCH_AB = "all_l.tmp", "all_ab.tmp"
_WORK_FILES = DATASET_FILES | {SCRATCH_L, SCRATCH_AB}
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


def clean_up_after_dead_runs(out_dir: Path) -> list[str]:
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
            notes.append(f"restored {shown(out_dir)} from {shown(newest.parent.name)}, "
                         "left by an interrupted run")
    for path in stale:
        shutil.rmtree(path, ignore_errors=True)
    return notes


def check_apart(source_dir: Path, out_dir: Path) -> None:
    """Refuse a dataset folder that holds the source or lies inside it."""
    # Both are resolved, so a link cannot hide that one holds the other. Replacing OUT
    # when it holds SRC would delete the photos themselves.
    if out_dir == source_dir or source_dir in out_dir.parents or out_dir in source_dir.parents:
        raise PrepareError(
            f"the source {shown(source_dir)} and the dataset folder {shown(out_dir)} overlap "
            "(one holds the other); choose a dataset folder outside the source and not above it"
        )


def bytes_needed(count: int, image_size: int) -> int:
    """Peak disk use of a preparation: L and ab arrays twice (all images, then per split)
    plus CSVs and headers, with a margin."""
    arrays = count * image_size * image_size * 3
    return 2 * arrays + arrays // 100 + 16 * 2**20


def _check_free_space(folder: Path, needed: int) -> None:
    free = free_bytes_if_short(folder, needed)
    if free is not None:
        raise PrepareError(
            f"{shown(folder)}: not enough free disk space to prepare the dataset: it needs "
            f"about {needed:,} bytes ({needed / 2**30:.2f} GiB), {free:,} bytes "
            f"({free / 2**30:.2f} GiB) are free. Free some space, choose a folder on another "
            "disk, or prepare at a smaller --size."
        )


_DISK_FULL = frozenset({errno.ENOSPC, errno.EDQUOT, errno.EFBIG})


def check_destination(out_dir: Path, wanted: dict, overwrite: bool) -> dict | None:
    """The settings of the dataset already at ``out_dir`` when they are ``wanted`` (the
    preparation is done), or None when a new dataset may be built there.

    Raises:
        PrepareError: out_dir is a file, a folder that is not a prepared dataset, a dataset
            with other settings (without ``overwrite``), or one holding files prepare did
            not write (even with ``overwrite``).
    """
    if not out_dir.exists():
        return None
    if not out_dir.is_dir():
        raise PrepareError(f"{shown(out_dir)} exists and is not a folder; choose another "
                           "path for the prepared dataset")
    existing = _our_settings(out_dir)
    if existing is None:
        if any(out_dir.iterdir()):
            raise PrepareError(
                f"{shown(out_dir)} exists and is not a prepared dataset (no settings.json of "
                "`colorkeras prepare`); it is never replaced, not even with --overwrite: "
                "choose another folder."
            )
        return None
    if all(existing.get(key) == value for key, value in wanted.items()):
        return existing
    if not overwrite:
        raise PrepareError(
            f"{shown(out_dir)} holds a prepared dataset with other settings or sources; "
            "pass --overwrite to replace it, or choose another folder."
        )
    foreign = _not_written_by_prepare(out_dir)
    if foreign:
        listed = ", ".join(map(shown, foreign[:5])) + (f" and {len(foreign) - 5} more" if len(foreign) > 5 else "")
        raise PrepareError(
            f"{shown(out_dir)} holds files prepare did not write: {listed}; they are never "
            "deleted, not even with --overwrite: move them out, or choose another folder."
        )
    return None


@contextlib.contextmanager
def work_folder(out_dir: Path, needed: int) -> Iterator[Path]:
    """A fresh work folder beside ``out_dir`` (``needed`` bytes free checked first), removed
    on the way out whatever happens; a disk that fills up meanwhile is one PrepareError."""
    work_dir = _sibling(out_dir, "partial")
    try:
        out_dir.parent.mkdir(parents=True, exist_ok=True)
        _check_free_space(out_dir.parent, needed)
        work_dir.mkdir()
    except OSError as error:
        raise PrepareError(f"cannot create the dataset folder {shown(out_dir)}: "
                           f"{error.strerror or error} ({shown(error.filename or out_dir.parent)})") from error
    _IN_USE.add(work_dir)
    try:
        yield work_dir
    except OSError as error:
        if error.errno in _DISK_FULL:
            raise PrepareError(
                f"{shown(out_dir.parent)}: the disk filled up while writing the dataset "
                f"({error.strerror}); it needs about {needed:,} bytes. The partial output was "
                "removed: free some space and run again."
            ) from error
        raise
    finally:
        shutil.rmtree(work_dir, ignore_errors=True)
        _IN_USE.discard(work_dir)


def move_into_place(work_dir: Path, out_dir: Path) -> None:
    """Rename the complete dataset to ``out_dir``; an old one there is moved aside first
    (into a trash folder a later run can tell as a leftover) and then removed."""
    if out_dir.exists():
        trash = _sibling(out_dir, "old")
        trash.mkdir()
        os.replace(out_dir, trash / "old")
        os.replace(work_dir, out_dir)
        shutil.rmtree(trash, ignore_errors=True)
    else:
        os.replace(work_dir, out_dir)
