"""The photos a preparation reads: class folders under one or several source folders.

A source is ``SRC/<class>/<images>``, or ``SRC/<split>/<class>/<images>`` (a source with
its own train/test folders, as intel-urban has). Every file left out is listed with its
reason: images outside a class folder, folders that cannot be listed, links that would
list an image twice or read photos outside the source, and second paths to one file.
``colorkeras.data.prepare`` turns what is listed here into a prepared dataset.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from pathlib import Path

from colorkeras.errors import ColorkerasError
from colorkeras.images import IMAGE_EXTENSIONS, scan_images

# A source tree laid out as <split>/<class>/... (intel-urban is) is recognised by these
# top-level names; its own split is ignored and the study's 80/10/10 is drawn instead.
SPLIT_FOLDER_NAMES = frozenset({"train", "training", "test", "testing", "val", "valid", "validation"})


class PrepareError(ColorkerasError):
    """A preparation that cannot go on (no images, a destination holding something else)."""


def shown(path) -> str:
    """A path as printable text: bytes that are not UTF-8 (a Latin-1 name such as
    b"caf\\xe9.png") become backslash escapes, so the name can go into UTF-8 CSV files,
    JSON and terminal messages without failing."""
    return os.fsencode(path).decode("utf-8", "backslashreplace")


@dataclass(frozen=True)
class SourceImage:
    path: Path  # the file to read
    relpath: str  # its path under the source folder, printable (see shown)
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
        raise PrepareError(f"{label}{shown(source_dir)}: source folder does not exist")
    if not source_dir.is_dir():
        raise PrepareError(f"{label}{shown(source_dir)}: the source is not a folder")
    try:
        with os.scandir(source_dir):
            pass
        # Reaching "SRC/." needs search (x) permission on SRC; a folder that can be listed
        # but not entered would otherwise look like one whose class folders all fail.
        os.stat(os.path.join(source_dir, "."))
    except OSError as error:
        raise PrepareError(
            f"{label}{shown(source_dir)}: cannot read the source folder ({error.strerror or error}); "
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
                                 f"source (not followed): {shown(target)}"))
                continue
        result.append(path)
    return result


def _relative(path: Path, source_dir: Path) -> str:
    return shown(path.relative_to(source_dir).as_posix())


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
        raise PrepareError(f"{shown(source_dir)}: no class sub-folders (expected SRC/<class>/<images>){detail}")
    if all(p.name.lower() in SPLIT_FOLDER_NAMES for p in top):
        folders = [c for split in top for c in _subfolders(split, source_dir, left_out)]
    else:
        folders = top
    folders = _drop_second_paths(folders, source_dir, left_out)
    classes: dict[str, list[Path]] = {}
    for folder in folders:
        classes.setdefault(shown(folder.name), []).append(folder)
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
                             f"images are listed once, under {shown(target.name)}"))
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
    names = [shown(source.name) for source in source_dirs]
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


def source_fingerprint(images: list[SourceImage]) -> str:
    """Cheap identity of the source tree (paths and sizes), to tell a no-op rerun."""
    digest = hashlib.sha256()
    for image in images:
        try:
            size = image.path.stat().st_size
        except OSError:
            size = -1  # gone or unreadable now: reported when it is read
        digest.update(f"{image.relpath}\t{image.class_name}\t{size}\n".encode())
    return digest.hexdigest()

