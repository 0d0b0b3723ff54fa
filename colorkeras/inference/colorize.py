"""Colorize photo files and folders at full resolution: the files around the Predictor.

The colour itself comes from `colorkeras.inference.predictor.Predictor` (the one inference core:
the model's prediction at its own size, brought to the photo's size by a guided filter
(or a plain resize) and put on the photo's own L). This
module adds what files need. `colorize_paths` is what the ``colorkeras colorize`` command
runs: files and folders in, one colour file out per photo, inputs never overwritten,
existing outputs skipped (so a rerun resumes), unreadable files reported while the rest
are done. Every output it writes is recorded in a hidden manifest in the output folder
(`MANIFEST_NAME`): ``overwrite`` replaces only files listed there, so a user's own file
at an output path is never lost. One colorize at a time writes into an output folder
(`colorkeras.fileio.folder_lock`): a second one is refused.
The outputs are planned before TensorFlow is imported or the model loaded, so a rerun
with nothing left to do answers at once.
"""

from __future__ import annotations

import json
import os
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image

from colorkeras.errors import InvalidArgument
from colorkeras.fileio import folder_lock, update_json_object
from colorkeras.images import (
    DEFAULT_MAX_PIXELS,
    IMAGE_EXTENSIONS,
    ImageReadError,
    read_rgb,
    scan_images,
    stage_rgb,
)
from colorkeras.inference.predictor import Predictor, check_batch_size, small_photo_warning
from colorkeras.inference.upsample import check_method

# Nothing here (nor in colorkeras.inference.predictor) imports Keras or TensorFlow at module level:
# a rerun with every output done returns before paying their ~6 s start-up.

# Photos above this many pixels get a note, before the work starts, of what they cost.
LARGE_PHOTO_PIXELS = 50_000_000
# What one photo costs on a 2-core CPU, measured with the 256 px baseline on 25 MP and
# 100 MP photos (0.34-0.38 s and 26-27 bytes a pixel, the model's share not growing with
# the photo), rounded up. The bytes are the photo's own arrays: RGB, L, the ab field at
# full size, the output and Pillow's copy of it.
_SECONDS_PER_MEGAPIXEL = 0.4
_BYTES_PER_PIXEL = 30

# The record of what colorize wrote, one per output folder; hidden, so image listings
# (and a rerun over a folder that holds its own outputs) pass it by.
MANIFEST_NAME = ".colorkeras-colorize.json"

_DEFAULT_SUFFIX_FALLBACK = ".png"  # for inputs whose own format cannot be written


@dataclass
class ColorizeReport:
    """What a `colorize_paths` run did.

    Args:
        written: output files written in this run.
        existing: inputs whose output already existed and was kept (a resumed run).
        skipped: (input, reason) for every input that could not be colorized, including
            one whose output path holds a file colorize did not write (left alone).
        warnings: notes on the run and its photos, e.g. upsampled small photos, large
            photos, or a model trained on the synthetic toy city.
    """

    written: list[Path] = field(default_factory=list)
    existing: list[Path] = field(default_factory=list)
    skipped: list[tuple[Path, str]] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """True when no input was skipped for a problem."""
        return not self.skipped

    def to_text(self) -> str:
        lines = [
            f"colorized {len(self.written)} photo(s); "
            f"{len(self.existing)} already done (kept); {len(self.skipped)} skipped"
        ]
        lines += [f"  skipped {path}: {reason}" for path, reason in self.skipped]
        lines += [f"  warning: {message}" for message in self.warnings]
        if self.existing:
            lines.append("  (existing outputs are kept; rerun with --overwrite to redo them)")
        return "\n".join(lines)


# ------------------------------------------------------------------------------------
# One photo, in memory
# ------------------------------------------------------------------------------------
def colorize_array(model, rgb: np.ndarray) -> np.ndarray:
    """Colorize one photo in memory with a Keras colorizer (see `Predictor.colorize`)."""
    return Predictor(model).colorize(rgb)


# ------------------------------------------------------------------------------------
# Files and folders
# ------------------------------------------------------------------------------------
def _output_suffix(source: Path, fmt: str | None) -> str:
    if fmt is not None:
        return fmt
    if source.suffix.lower() in IMAGE_EXTENSIONS:
        return source.suffix
    return _DEFAULT_SUFFIX_FALLBACK


def _check_fmt(fmt: str | None) -> str | None:
    if fmt is None:
        return None
    suffix = "." + fmt.lower().lstrip(".")
    if suffix not in IMAGE_EXTENSIONS:
        raise InvalidArgument(
            f"unknown output format {fmt!r}; use one of "
            f"{', '.join(sorted(extension.lstrip('.') for extension in IMAGE_EXTENSIONS))}"
        )
    return suffix


def _file_identity(path: Path) -> tuple[int, int] | None:
    try:
        status = path.stat()
    except OSError:
        return None
    return status.st_dev, status.st_ino


def _inside(path: Path, folder: Path) -> bool:
    return path == folder or folder in path.parents


def plan_outputs(
    inputs: list, out_dir, *, suffix: str = "", fmt: str | None = None
) -> tuple[list[tuple[Path, Path]], list[tuple[Path, str]]]:
    """Where each photo's colorized copy goes, before anything is read or written.

    A file goes to ``out_dir/<stem><suffix><ext>``; a folder's photos keep their
    sub-folder structure under ``out_dir``. Inside a folder, files that are this run's
    own outputs (under ``out_dir``, or ending in ``suffix`` when ``out_dir`` is the
    folder itself) are left out, so a rerun never colorizes its own results.

    Returns:
        (jobs, skipped): (input, output) pairs, and (input, reason) for inputs that
        cannot be planned (missing, or a second input wanting the same output) and for
        the entries of a folder that are left out (`scan_images`: a .gif, a broken link...).

    Raises:
        ValueError: an output would replace an input file, or a bad suffix or format.
    """
    fmt_suffix = _check_fmt(fmt)
    if os.sep in suffix or (os.altsep and os.altsep in suffix):
        raise InvalidArgument(f"suffix must not contain a path separator, got {suffix!r}")
    out_root = Path(out_dir).resolve()
    candidates: list[tuple[Path, Path]] = []  # (input, output path relative to out_dir)
    skipped: list[tuple[Path, str]] = []
    for item in inputs:
        item = Path(item)
        if item.is_dir():
            folder = item.resolve()
            images, left_out = scan_images(item)
            for source, reason in left_out:  # reported, not dropped without a word
                if folder in out_root.parents and _inside(source.resolve(), out_root):
                    continue
                if source.suffix.lower() == ".gif":
                    from colorkeras.inference.video import gif_in_folder_reason

                    reason = gif_in_folder_reason(source)
                skipped.append((source, reason))
            for source in images:
                resolved = source.resolve()
                if folder in out_root.parents and _inside(resolved, out_root):
                    continue  # an earlier run's output, inside the input folder
                if out_root == folder and suffix and source.stem.endswith(suffix):
                    continue
                relative = source.relative_to(item)
                name = f"{source.stem}{suffix}{_output_suffix(source, fmt_suffix)}"
                candidates.append((source, relative.with_name(name)))
        elif item.exists():
            name = f"{item.stem}{suffix}{_output_suffix(item, fmt_suffix)}"
            candidates.append((item, Path(name)))
        else:
            skipped.append((item, "not found"))

    input_paths = {source.resolve() for source, _ in candidates}
    input_ids = {_file_identity(source) for source, _ in candidates} - {None}
    jobs: list[tuple[Path, Path]] = []
    seen_inputs: set[Path] = set()
    claimed: dict[Path, Path] = {}
    for source, relative in candidates:
        resolved_source = source.resolve()
        if resolved_source in seen_inputs:
            continue  # the same photo named twice (a file and its folder, say)
        seen_inputs.add(resolved_source)
        target = Path(out_dir) / relative
        resolved_target = target.resolve()
        # Checked for the whole plan before any work, so a mistaken --out never costs
        # an original, even one that would only have been reached late in the run.
        if resolved_target in input_paths or _file_identity(target) in input_ids:
            raise InvalidArgument(
                f"refusing to colorize {source}: its output {target} is an input file; "
                "choose another output folder or give a suffix"
            )
        if resolved_target in claimed:
            skipped.append(
                (source, f"output {target} is already the output of {claimed[resolved_target]}")
            )
            continue
        claimed[resolved_target] = source
        jobs.append((source, target))
    return jobs, skipped


def _stamp(path: Path) -> list[int] | None:
    """Size and modification time of the file itself (a symlink is not followed)."""
    try:
        status = path.lstat()
    except OSError:
        return None
    return [status.st_size, status.st_mtime_ns]


def _occupied(path: Path) -> bool:
    return path.exists() or path.is_symlink()  # a dangling link is still someone's


class OutputManifest:
    """The files colorize wrote into one output folder, kept in ``MANIFEST_NAME`` there.

    An entry maps an output (relative to the folder) to the input it was made from
    (path and size/mtime stamp, so a moved input folder is still recognised) and the
    output's own stamp once it is in place (``output``). A file at an output path is
    colorize's to replace only while it still carries that stamp: a file put there by the
    user, or edited since, is theirs. An output about to be renamed into place is noted
    first with the stamp of its complete temporary file (``pending``; a rename keeps size
    and mtime), so a kill between the rename and the record still leaves it colorize's;
    an entry whose file never got there (a failed or killed write) claims nothing.
    """

    def __init__(self, out_dir) -> None:
        self.out_dir = Path(out_dir)
        self.path = self.out_dir / MANIFEST_NAME
        self.unreadable = False
        self.entries: dict[str, dict] = {}
        try:
            document = json.loads(self.path.read_text(encoding="utf-8"))
            self.entries = dict(document["outputs"])
        except FileNotFoundError:
            pass
        except (OSError, ValueError, KeyError, TypeError):
            # Losing the record only makes colorize more careful: every existing output
            # counts as not its own.
            self.unreadable = True

    def _key(self, target: Path) -> str:
        return target.relative_to(self.out_dir).as_posix()

    def owns(self, target: Path) -> bool:
        """Whether the file at ``target`` is one colorize put there, unchanged since."""
        entry = self.entries.get(self._key(target))
        stamp = _stamp(target)
        return (isinstance(entry, dict) and stamp is not None
                and stamp in (entry.get("output"), entry.get("pending")))

    def conflict(self, source: Path, target: Path) -> str | None:
        """Why ``target`` may not be (re)written for ``source``; None when it may."""
        if not _occupied(target):
            return None
        if not self.owns(target):
            return (
                f"its output {target} already exists and was not written by colorize; "
                "left alone (move it away or choose another --out)"
            )
        entry = self.entries[self._key(target)]
        same_path = entry.get("input") == str(source.resolve())
        stamp = _stamp(source.resolve())
        same_file = stamp is not None and entry.get("input_stamp") == stamp
        if not (same_path or same_file):
            return (
                f"its output {target} is the colorized copy of another photo, "
                f"{entry.get('input')}; left alone (give a --suffix or another --out)"
            )
        return None

    def expect(self, items: list[tuple[Path, Path, list[int] | None]]) -> None:
        """Record outputs about to be renamed into place: (input, output, stamp of the
        complete temporary file). Saved before the renames (crash-safe both ways)."""
        for source, target, stamp in items:
            resolved = source.resolve()
            self.entries[self._key(target)] = {
                "input": str(resolved),
                "input_stamp": _stamp(resolved),
                # The file there now stays colorize's until the new one replaces it.
                "output": _stamp(target) if self.owns(target) else None,
                "pending": stamp,
            }
        self.save([self._key(target) for _, target, _ in items])

    def confirm(self, targets: list[Path]) -> None:
        """Record the stamps of outputs now in place."""
        for target in targets:
            entry = self.entries[self._key(target)]
            entry["output"] = _stamp(target)
            entry.pop("pending", None)
        self.save([self._key(target) for target in targets])

    def save(self, keys: list[str]) -> None:
        """Write the entries ``keys`` into the record: read, changed and written under the
        folder's lock, so entries another writer saved meanwhile are kept."""
        changes = {key: self.entries[key] for key in keys}

        def merge(document: dict) -> None:
            outputs = document.get("outputs")
            document["about"] = "outputs written by colorkeras colorize"
            document["outputs"] = {**(outputs if isinstance(outputs, dict) else {}), **changes}

        if changes:
            update_json_object(self.path, merge)


def large_photo_note(
    source, max_pixels: int = DEFAULT_MAX_PIXELS, large_pixels: int | None = None
) -> str | None:
    """What colorizing ``source`` will cost, for a photo above ``large_pixels``.

    ``large_pixels`` defaults to LARGE_PHOTO_PIXELS.
    Read from the file's header, before the photo is decoded. None for smaller photos,
    photos over ``max_pixels`` (refused when read, with their own reason) and files
    whose header cannot be read (reported when read).
    """
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            with Image.open(source) as image:
                width, height = image.size
    except (OSError, ValueError, SyntaxError, Image.DecompressionBombError):
        return None
    pixels = width * height
    if large_pixels is None:
        large_pixels = LARGE_PHOTO_PIXELS
    if pixels <= large_pixels or pixels > max_pixels:
        return None
    seconds = pixels / 1e6 * _SECONDS_PER_MEGAPIXEL
    gigabytes = pixels * _BYTES_PER_PIXEL / 1e9
    return (
        f"{source}: {width}x{height} is {pixels / 1e6:.3g} MP; colorizing it takes about "
        f"{seconds:.0f} s and {gigabytes:.1f} GB of memory on a small CPU"
    )


def _toy_warning(model_or_path, jobs, progress: bool) -> str | None:
    """The toy-city warning of a model given by path (None for other models), printed at
    once when there is work to do and progress is shown."""
    from colorkeras.inference.predictor import toy_city_evidence, toy_city_warning

    if not isinstance(model_or_path, (str, os.PathLike)) or not jobs:
        return None
    evidence = toy_city_evidence(model_or_path)
    if not evidence:
        return None
    warning = toy_city_warning(evidence)
    if progress:
        print(f"warning: {warning}", flush=True)
    return warning


def colorize_paths(
    model_or_path,
    inputs: list,
    out_dir,
    *,
    suffix: str = "",
    fmt: str | None = None,
    overwrite: bool = False,
    progress: bool = True,
    batch_size: int = 8,
    max_pixels: int = DEFAULT_MAX_PIXELS,
    chroma_upsampling: str = "auto",
    temperature: float | None = None,
) -> ColorizeReport:
    """Colorize photo files and folders of photos into `out_dir` at full resolution.

    Args:
        model_or_path: a Keras colorizer, or the path of a saved ``.keras`` one (or of a
            run folder); a path is loaded only when some photo needs colorizing, with
            its run's objective (`Predictor.open`).
        inputs: files and folders (searched recursively).
        out_dir: where the colour copies go; created as needed.
        suffix: appended to each output file's stem (e.g. ``"_color"``).
        fmt: output format such as ``"png"`` or ``"jpg"``; default: the input's own
            (JPEG and WebP at quality 95).
        overwrite: redo outputs that this tool wrote earlier (default: keep them, so a
            rerun resumes where it stopped). Files at output paths that colorize did not
            write are never replaced, with or without it: they are reported as skipped.
        progress: show a progress bar.
        batch_size: photos per model call.
        max_pixels: photos with more pixels are skipped (reported) before decoding;
            default 120 MP (`colorkeras.images.DEFAULT_MAX_PIXELS`). One photo costs
            about 30 bytes of memory a pixel (3.6 GB at the default limit). Pillow
            refuses photos above its own limit (about 179 MP) regardless.
        chroma_upsampling: ``"auto"``, ``"guided"`` (colour follows the photo's own
            edges) or ``"resize"`` (plain bilinear); see `colorkeras.inference.upsample`.
        temperature: the decode temperature of a classification model (None: its run's
            default; T = 1 accurate, small T vivid); regression models ignore it.

    Raises:
        ValueError: an output would replace an input, or a bad argument. Nothing is
            written in that case.
        ModelLoadError: the model file is missing, damaged, or refused by safe mode.
        FolderInUse: another colorkeras process is writing into ``out_dir``.
    """
    check_batch_size(batch_size)  # before any work: a rerun with nothing to do checks it too
    check_method(chroma_upsampling)
    if max_pixels < 1:
        raise InvalidArgument(f"max_pixels must be at least 1, got {max_pixels}")
    jobs, skipped = plan_outputs(inputs, out_dir, suffix=suffix, fmt=fmt)
    report = ColorizeReport(skipped=list(skipped))
    if not jobs:
        return report
    # A toy-city model is said so from its run's records, before any output is written
    # (and on a rerun with nothing to do), not only after loading it.
    toy_warning = _toy_warning(model_or_path, jobs, progress)
    if toy_warning:
        report.warnings.append(toy_warning)
    # One colorize at a time writes into an output folder: its record is read, kept and
    # written by this run alone (a second run is refused, naming this one's pid).
    with folder_lock(out_dir):
        manifest = OutputManifest(out_dir)
        if manifest.unreadable:
            report.warnings.append(
                f"{manifest.path} is unreadable; every existing output is treated as not "
                "written by colorize and left alone"
            )
        todo: list[tuple[Path, Path]] = []
        for source, target in jobs:
            conflict = manifest.conflict(source, target)
            if conflict:
                report.skipped.append((source, conflict))
            elif _occupied(target) and not overwrite:
                report.existing.append(source)
            else:
                todo.append((source, target))
        if not todo:
            return report  # nothing to colorize: no TensorFlow start-up, no model load

        if isinstance(model_or_path, (str, os.PathLike)):
            predictor = Predictor.open(model_or_path, batch_size, chroma_upsampling=chroma_upsampling,
                                       temperature=temperature)
        else:
            predictor = Predictor(model_or_path, batch_size=batch_size, chroma_upsampling=chroma_upsampling,
                                  temperature=temperature)
        if toy_warning is None and predictor.synthetic_warning():
            report.warnings.append(predictor.synthetic_warning())
        if temperature is not None and predictor.temperature is None:
            report.warnings.append(f"the model's objective ({predictor.objective.name}) is a regression: "
                                   "--temperature has no effect")

        from tqdm.auto import tqdm

        with tqdm(total=len(todo), desc="colorize", unit="photo", disable=not progress) as bar:

            def photos():
                """(source, target), photo for each readable input; notes and skips recorded."""
                for source, target in todo:
                    note = large_photo_note(source, max_pixels)
                    if note:
                        report.warnings.append(note)
                        if progress:
                            bar.write(f"note: {note}")  # now, not only at the end of a long wait
                    try:
                        with warnings.catch_warnings():
                            # Pillow's raw DecompressionBombWarning says less than the note
                            # above; max_pixels is the limit that applies here.
                            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
                            rgb = read_rgb(source, max_pixels=max_pixels)
                    except ImageReadError as error:
                        report.skipped.append((source, error.reason))
                        bar.update(1)
                        continue
                    height, width = rgb.shape[:2]
                    note = small_photo_warning(width, height, predictor.image_size)
                    if note:
                        report.warnings.append(f"{source}: {note}")
                    yield (source, target), rgb
                    rgb = None  # the predictor keeps only L: hold no photo while the next is read

            for batch in predictor.colorize_many(photos()):
                # Each photo is written in full under a hidden name, then the record notes what
                # is about to be put in place, then the files are renamed: an output path is
                # colorize's only once a complete file of its own got there.
                staged: list[tuple[Path, Path, Path]] = []
                try:
                    for item in batch:
                        source, target = item.key
                        try:
                            staged.append((source, target, stage_rgb(item.rgb(), target)))
                        except OSError as error:
                            report.skipped.append((source, f"cannot write {target}: {error}"))
                            bar.update(1)
                    manifest.expect([(source, target, _stamp(tmp)) for source, target, tmp in staged])
                    written = []
                    while staged:
                        source, target, tmp = staged.pop(0)
                        try:
                            os.replace(tmp, target)
                        except OSError as error:
                            tmp.unlink(missing_ok=True)
                            report.skipped.append((source, f"cannot write {target}: {error}"))
                        else:
                            written.append(target)
                        bar.update(1)
                    manifest.confirm(written)
                    report.written.extend(written)
                finally:
                    for _, _, tmp in staged:
                        tmp.unlink(missing_ok=True)
        return report
