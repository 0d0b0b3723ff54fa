"""The toy city: a seeded image folder of small urban scenes (``colorkeras.data.toy_scenes``).

With no dataset at hand, ``colorkeras`` trains and evaluates on these scenes (the README's
first command, the embedded default: ``colorkeras demo``), and the tests use them as data.
`write_toy_city` writes ``OUT/<class>/<class>_<index>.png`` and a marker that says the
folder is synthetic (colorize and the app warn about models trained on it); it resumes an
interrupted write and never replaces a file it did not write.
"""

from __future__ import annotations

import json
import os
import pathlib
from collections.abc import Iterable

import numpy as np
from PIL import Image

from colorkeras.data.toy_scenes import MIN_SIZE, SCENE_CLASSES, check_whole_number, render_scene
from colorkeras.errors import ColorkerasError, InvalidArgument
from colorkeras.fileio import write_atomic, write_text_atomic

__all__ = ["SCENE_CLASSES", "MARKER_NAME", "MIN_SIZE", "is_toy_city", "read_marker", "toy_city_folder", "render_scene", "write_toy_city"]

# Left at the top of every toy-city folder: says the images are synthetic (colorize warns
# about models trained on them) and which seeds and sizes were written there. Not an
# image, so image listings and class-folder scans pass it by.
MARKER_NAME = "toy_city.json"
_GENERATOR = "colorkeras.data.synthetic.write_toy_city"


def _same_image(path: pathlib.Path, array: np.ndarray) -> bool:
    """Whether ``path`` already holds exactly these pixels (unreadable files do not)."""
    try:
        with Image.open(path) as image:
            if image.mode != "RGB" or image.size != (array.shape[1], array.shape[0]):
                return False
            return bool(np.array_equal(np.asarray(image), array))
    except (OSError, SyntaxError, ValueError):
        return False


def _write_atomic(path: pathlib.Path, array: np.ndarray) -> None:
    """A PNG through a hidden temporary file: a resumed run never sees half an image."""
    write_atomic(path, lambda tmp: Image.fromarray(array, "RGB").save(tmp, format="PNG"))


def read_marker(folder: str | os.PathLike[str]) -> dict | None:
    """The toy-city marker that `write_toy_city` leaves in ``folder``, or None.

    A file of that name that is not valid JSON written by `write_toy_city` is no marker.
    """
    try:
        marker = json.loads((pathlib.Path(folder) / MARKER_NAME).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if not isinstance(marker, dict) or marker.get("generator") != _GENERATOR:
        return None
    return marker


def is_toy_city(folder: str | os.PathLike[str]) -> bool:
    """Whether ``folder`` was written by `write_toy_city` (it holds the marker)."""
    return read_marker(folder) is not None


def toy_city_folder(source: str | os.PathLike[str]) -> pathlib.Path | None:
    """The toy-city folder a photo source holds, or None for a source of real photos.

    The marker sits in the folder toy-city wrote: the source itself, or one of its split
    folders (SRC/train, SRC/test) when the source was assembled from several.
    """
    source = pathlib.Path(source)
    try:
        folders = [source, *sorted(p for p in source.iterdir() if p.is_dir())]
    except OSError:  # missing or unreadable: says nothing
        return None
    return next((folder for folder in folders if is_toy_city(folder)), None)


def _earlier_renders(root: pathlib.Path) -> list[tuple[int, int]]:
    """(seed, size) of every earlier write into ``root``; refuses a foreign marker name."""
    marker_path = root / MARKER_NAME
    if not marker_path.exists():
        return []
    marker = read_marker(root)
    if marker is None:
        raise ColorkerasError(
            f"{marker_path} exists and was not written by toy-city; it is left alone. "
            "Choose another output folder."
        )
    return [(int(r["seed"]), int(r["size"])) for r in marker.get("renders", [])]


def _written_by_us(path: pathlib.Path, scene_class: str, index: int, renders: list[tuple[int, int]]) -> bool:
    """Whether ``path`` holds the image an earlier toy-city write put there.

    Scenes are deterministic, so the marker's (seed, size) pairs say exactly what each
    earlier write drew: a file with those pixels is ours to replace, any other is not.
    """
    return any(
        _same_image(path, render_scene(scene_class, size=size, seed=seed, index=index))
        for seed, size in renders
    )


def write_toy_city(
    out_dir: str | os.PathLike[str],
    per_class: int = 100,
    size: int = 64,
    seed: int = 0,
    classes: Iterable[str] | str | None = None,
    progress: bool = False,
) -> list[pathlib.Path]:
    """Write the toy city as ``out_dir/<class>/<class>_<index:05d>.png``; return the paths.

    ``classes`` defaults to all of ``SCENE_CLASSES``. Files that already hold the same
    image are left alone, so running again is cheap and an interrupted run resumes.
    ``out_dir/toy_city.json`` (`MARKER_NAME`) records that the folder is synthetic and
    which seeds and sizes were written into it; an image an earlier call wrote (another
    seed, say) is replaced, while any other file at an image path is never touched.

    Raises:
        ValueError: unknown class names, ``per_class < 1`` or ``size < 16``.
        ColorkerasError: ``out_dir`` is a file, or a file toy-city did not write is in
            the way (named in the message); nothing is written then.
    """
    per_class = check_whole_number("per_class", per_class, 1)
    size = check_whole_number("size", size, MIN_SIZE)
    seed = check_whole_number("seed", seed, 0)
    chosen = _chosen_classes(classes)
    root = pathlib.Path(out_dir)
    if root.exists() and not root.is_dir():
        raise ColorkerasError(f"{root} is a file, not a folder; choose a folder path for the toy city")
    for scene_class in chosen:
        if (root / scene_class).exists() and not (root / scene_class).is_dir():
            raise ColorkerasError(f"{root / scene_class} is a file where toy-city needs its {scene_class} folder")
    renders = [r for r in _earlier_renders(root) if r != (seed, size)]
    jobs = [(c, i, root / c / f"{c}_{i:05d}.png") for c in chosen for i in range(per_class)]
    from tqdm.auto import tqdm

    with tqdm(total=len(jobs), desc="toy city", unit="img", disable=not progress) as bar:
        to_write = _images_to_write(jobs, size, seed, renders, bar)
        _write_marker(root, seed, size, renders)
        for scene_class, index, path in to_write:
            path.parent.mkdir(parents=True, exist_ok=True)
            _write_atomic(path, render_scene(scene_class, size=size, seed=seed, index=index))
            bar.update(1)
    return [path for _, _, path in jobs]


def _chosen_classes(classes: Iterable[str] | str | None) -> list[str]:
    """The scene classes to write, in the order given, each once (default: all)."""
    if classes is None:
        return list(SCENE_CLASSES)
    names = [classes] if isinstance(classes, str) else list(classes)
    unknown = [c for c in names if c not in SCENE_CLASSES]
    if unknown:
        listed = ", ".join(map(repr, unknown))
        raise InvalidArgument(f"unknown scene class(es) {listed}; choose from {', '.join(SCENE_CLASSES)}")
    if not names:
        raise InvalidArgument("classes must name at least one scene class")
    return list(dict.fromkeys(names))  # drop repeats, keep the order given


def _images_to_write(jobs, size: int, seed: int, renders: list[tuple[int, int]], bar) -> list:
    """The jobs whose file is missing or an earlier write's; those already holding this
    image count as done on ``bar``. Every file in the way is checked before the first
    write, so a refusal (a file toy-city did not write) leaves the folder as it was."""
    to_write, foreign = [], []
    for scene_class, index, path in jobs:
        if not (path.exists() or path.is_symlink()):
            to_write.append((scene_class, index, path))
        elif path.is_file() and _same_image(path, render_scene(scene_class, size, seed, index)):
            bar.update(1)
        elif path.is_file() and not path.is_symlink() and _written_by_us(path, scene_class, index, renders):
            to_write.append((scene_class, index, path))
        else:
            foreign.append(path)
    if foreign:
        what = (f"{foreign[0]} already exists" if len(foreign) == 1
                else f"{len(foreign)} files already exist (e.g. {foreign[0]})")
        raise ColorkerasError(
            f"{what} where toy-city would write an image, holding content toy-city did not "
            f"write; nothing was written. Move {'it' if len(foreign) == 1 else 'them'} away or "
            "choose another output folder."
        )
    return to_write


def _write_marker(root: pathlib.Path, seed: int, size: int, earlier: list[tuple[int, int]]) -> None:
    """Record this write (before its images, so a crash mid-way leaves them owned)."""
    renders = sorted(set(earlier) | {(seed, size)})
    marker = {
        "generator": _GENERATOR,
        "synthetic": True,
        "about": "synthetic toy-city scenes (colorkeras toy-city); not photographs",
        "renders": [{"seed": s, "size": z} for s, z in renders],
    }
    text = json.dumps(marker, indent=2, sort_keys=True) + "\n"
    path = root / MARKER_NAME
    if read_marker(root) != marker:  # an unchanged marker keeps its file and date
        write_text_atomic(path, text)
