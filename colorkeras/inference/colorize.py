"""Colorize photo files and folders at full resolution: the files around the Predictor.

The colour itself comes from `colorkeras.inference.predictor.Predictor` (the one inference
core, opened by `Predictor.open`: the model's prediction at its own size, brought to the
photo's size by a guided filter (or a plain resize) and put on the photo's own L). This
module adds what files need. `colorize_paths` is what the ``colorkeras colorize`` command
runs: files and folders in, one colour file out per photo, inputs never overwritten,
existing outputs skipped (so a rerun resumes), unreadable files reported while the rest
are done. Every output it writes is recorded in a hidden manifest in the output folder
(`colorkeras.inference.manifest`): ``overwrite`` replaces only files listed there, so a
user's own file at an output path is never lost. One colorize at a time writes into an output folder
(`colorkeras.fileio.folder_lock`): a second one is refused.
The outputs are planned before TensorFlow is imported or the model loaded, so a rerun
with nothing left to do answers at once.
"""

from __future__ import annotations

import os
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import ClassVar

import numpy as np
from PIL import Image
from tqdm.auto import tqdm

from colorkeras import color
from colorkeras.errors import InvalidArgument
from colorkeras.fileio import folder_lock
from colorkeras.images import (
    DEFAULT_MAX_PIXELS,
    IMAGE_EXTENSIONS,
    ImageReadError,
    read_rgb,
    resize_square,
    scan_images,
    stage_rgb,
)
from colorkeras.inference.manifest import BatchReport, OutputPlan, OutputManifest, file_stamp, occupied
from colorkeras.inference.predictor import Predictor, check_batch_size, small_photo_warning, toy_warning
from colorkeras.inference.reference import INDEX_MAX_SIDE, ReferenceChooser
from colorkeras.inference.upsample import check_method
from colorkeras.inference.video_io import gif_in_folder_reason

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

_DEFAULT_SUFFIX_FALLBACK = ".png"  # for inputs whose own format cannot be written


@dataclass
class ColorizeReport(BatchReport):
    """What a `colorize_paths` run did (`BatchReport`): ``written`` holds the output
    files; ``warnings`` also notes upsampled small photos and large photos;
    ``references``: (input, reference photo, similarity) for each photo coloured from one."""

    references: list[tuple[Path, Path, float]] = field(default_factory=list)
    noun: ClassVar[str] = "photo(s)"

    def written_lines(self) -> list[str]:
        return [f"  {source}: reference {reference} (similarity {score:.2f})"
                for source, reference, score in self.references]


# ------------------------------------------------------------------------------------
# One photo, in memory
# ------------------------------------------------------------------------------------
def colorize_array(model, rgb: np.ndarray) -> np.ndarray:
    """Colorize one photo in memory with a Keras colorizer, or anything else
    `Predictor.open` takes (see `Predictor.colorize`)."""
    return Predictor.open(model).colorize(rgb)


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


def _folder_candidates(item: Path, out_root: Path, suffix: str, fmt_suffix: str | None):
    """(photo, output relative to out_dir) for the photos of folder ``item``, and (entry,
    reason) for its entries left out; this run's own outputs are passed by in silence."""
    folder = item.resolve()
    holds_out = folder in out_root.parents  # the output folder lies inside this one
    images, left_out = scan_images(item)
    skipped = []
    for source, reason in left_out:  # reported, not dropped without a word
        if holds_out and _inside(source.resolve(), out_root):
            continue
        if source.suffix.lower() == ".gif":
            reason = gif_in_folder_reason(source)
        skipped.append((source, reason))
    candidates = []
    for source in images:
        if holds_out and _inside(source.resolve(), out_root):
            continue  # an earlier run's output, inside the input folder
        if out_root == folder and suffix and source.stem.endswith(suffix):
            continue
        name = f"{source.stem}{suffix}{_output_suffix(source, fmt_suffix)}"
        candidates.append((source, source.relative_to(item).with_name(name)))
    return candidates, skipped


def _claim_outputs(candidates, out_dir) -> tuple[list[tuple[Path, Path]], list[tuple[Path, str]]]:
    """The (input, output) jobs of ``candidates`` (input, output relative to out_dir): a
    photo named twice is done once, a second photo wanting the same output is skipped.

    Raises:
        InvalidArgument: an output would replace an input file.
    """
    input_paths = {source.resolve() for source, _ in candidates}
    input_ids = {_file_identity(source) for source, _ in candidates} - {None}
    plan = OutputPlan()
    seen_inputs: set[Path] = set()
    for source, relative in candidates:
        resolved_source = source.resolve()
        if resolved_source in seen_inputs:
            continue  # the same photo named twice (a file and its folder, say)
        seen_inputs.add(resolved_source)
        target = Path(out_dir) / relative
        # Checked for the whole plan before any work, so a mistaken --out never costs
        # an original, even one that would only have been reached late in the run.
        if target.resolve() in input_paths or _file_identity(target) in input_ids:
            raise InvalidArgument(
                f"refusing to colorize {source}: its output {target} is an input file; "
                "choose another output folder or give a suffix"
            )
        plan.add(source, target)
    return plan.jobs, plan.skipped


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
    for item in map(Path, inputs):
        if item.is_dir():
            found, left_out = _folder_candidates(item, out_root, suffix, fmt_suffix)
            candidates += found
            skipped += left_out
        elif item.exists():
            candidates.append((item, Path(f"{item.stem}{suffix}{_output_suffix(item, fmt_suffix)}")))
        else:
            skipped.append((item, "not found"))
    jobs, clashes = _claim_outputs(candidates, out_dir)
    return jobs, skipped + clashes


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


def _check_options(batch_size, chroma_upsampling, max_pixels) -> None:
    """Refuse bad knobs before any work (a rerun with nothing to do checks them too)."""
    if batch_size is not None:
        check_batch_size(batch_size)
    if chroma_upsampling is not None:
        check_method(chroma_upsampling)
    if max_pixels < 1:
        raise InvalidArgument(f"max_pixels must be at least 1, got {max_pixels}")


def _outputs_to_write(jobs, manifest: OutputManifest, overwrite: bool, report: ColorizeReport):
    """The jobs whose output may be (re)written; the others go in ``report`` (kept, or
    skipped for an output path colorize does not own)."""
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
        elif occupied(target) and not overwrite:
            report.existing.append(source)
        else:
            todo.append((source, target))
    return todo


def with_reference(photos, chooser: ReferenceChooser | None, report: ColorizeReport):
    """(key, photo) pairs as they come without a ``chooser``; with one, (key, photo,
    reference LAB) triples, each photo's reference chosen by its L and noted in ``report``."""
    for key, rgb in photos:
        if chooser is None:
            yield key, rgb
            continue
        lightness = color.rgb_to_l(resize_square(rgb, INDEX_MAX_SIDE)) if chooser.retrieves else None
        name, score, lab = chooser.choose(lightness)
        report.references.append((key[0], name, score))
        yield key, rgb, lab


def _read_photos(todo, model_size: int, max_pixels: int, report: ColorizeReport, bar, progress: bool):
    """((source, target), photo) for each readable input of ``todo``; notes and skips go
    in ``report`` (a large photo's note printed at once with ``progress``)."""
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
        note = small_photo_warning(width, height, model_size)
        if note:
            report.warnings.append(f"{source}: {note}")
        yield (source, target), rgb
        rgb = None  # the predictor keeps only L: hold no photo while the next is read


def _write_batch(batch, manifest: OutputManifest, report: ColorizeReport, bar) -> None:
    """Write a batch of `Colorized` photos (keys: (source, target)) into place.

    Each photo is written in full under a hidden name, then the record notes what is
    about to be put in place, then the files are renamed: an output path is colorize's
    only once a complete file of its own got there.
    """
    staged: list[tuple[Path, Path, Path]] = []
    try:
        for item in batch:
            source, target = item.key
            try:
                staged.append((source, target, stage_rgb(item.rgb(), target)))
            except OSError as error:
                report.skipped.append((source, f"cannot write {target}: {error}"))
                bar.update(1)
        manifest.expect([(source, target, file_stamp(tmp)) for source, target, tmp in staged])
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


def _colorize_files(predictor: Predictor, todo, manifest: OutputManifest, max_pixels: int,
                    report: ColorizeReport, progress: bool, chooser: ReferenceChooser | None = None) -> None:
    """Read, colorize and write the (source, target) jobs of ``todo``, a batch at a time;
    with a ``chooser``, each photo with its reference."""
    with tqdm(total=len(todo), desc="colorize", unit="photo", disable=not progress) as bar:
        photos = _read_photos(todo, predictor.image_size, max_pixels, report, bar, progress)
        for batch in predictor.colorize_many(with_reference(photos, chooser, report)):
            _write_batch(batch, manifest, report, bar)


def open_chooser(reference, report: BatchReport) -> ReferenceChooser | None:
    """The `ReferenceChooser` of a reference photo or folder (None for None), with the
    folder's photos left out (grey, unreadable) noted in ``report``."""
    if reference is None:
        return None
    chooser = ReferenceChooser(reference)
    report.warnings += [f"reference left out: {path}: {reason}" for path, reason in chooser.skipped]
    return chooser


def colorize_paths(model_or_path, inputs: list, out_dir, *, suffix: str = "", fmt: str | None = None,
                   overwrite: bool = False, progress: bool = True, batch_size: int | None = None,
                   max_pixels: int = DEFAULT_MAX_PIXELS, chroma_upsampling: str | None = None,
                   temperature: float | None = None, reference=None) -> ColorizeReport:
    """Colorize photo files and folders of photos into `out_dir` at full resolution.

    Args:
        model_or_path: anything `Predictor.open` takes: the path of a saved ``.keras``
            colorizer or of a run folder (loaded only when some photo needs colorizing,
            with its run's objective), None (the model that ships with colorkeras), a
            Keras colorizer, or a Predictor.
        inputs: files and folders (searched recursively).
        out_dir: where the colour copies go; created as needed.
        suffix: appended to each output file's stem (e.g. ``"_color"``).
        fmt: output format such as ``"png"`` or ``"jpg"``; default: the input's own
            (JPEG and WebP at quality 95).
        overwrite: redo outputs that this tool wrote earlier (default: keep them, so a
            rerun resumes where it stopped). Files at output paths that colorize did not
            write are never replaced, with or without it: they are reported as skipped.
        progress: show a progress bar.
        batch_size: photos per model call (None: 8, or a Predictor's own).
        max_pixels: photos with more pixels are skipped (reported) before decoding;
            default 120 MP (`colorkeras.images.DEFAULT_MAX_PIXELS`). One photo costs
            about 30 bytes of memory a pixel (3.6 GB at the default limit). Pillow
            refuses photos above its own limit (about 179 MP) regardless.
        chroma_upsampling: ``"auto"`` (None: this, or a Predictor's own), ``"guided"``
            (colour follows the photo's own edges) or ``"resize"`` (plain bilinear); see
            `colorkeras.inference.upsample`.
        temperature: the decode temperature of a classification model (None: its run's
            default; T = 1 accurate, small T vivid); regression models ignore it.
        reference: a colour photo, or a folder of them, to take colour from (for a model
            that colours from a reference: the exemplar family, ``"global"``,
            ``"welsh"``); from a folder each photo gets the most similar one by its L
            (`colorkeras.inference.reference.ReferenceChooser`), named in the report.

    Raises:
        ValueError: an output would replace an input, or a bad argument (a grey
            reference, a folder without a usable one, a reference for a model that takes
            none). Nothing is written in that case.
        ModelLoadError: the model file is missing, damaged, or refused by safe mode.
        FolderInUse: another colorkeras process is writing into ``out_dir``.
    """
    _check_options(batch_size, chroma_upsampling, max_pixels)
    jobs, skipped = plan_outputs(inputs, out_dir, suffix=suffix, fmt=fmt)
    report = ColorizeReport(skipped=list(skipped))
    chooser = open_chooser(reference, report)
    if not jobs:
        return report
    # A toy-city model is said so from its run's records, before any output is written
    # (and on a rerun with nothing to do), not only after loading it.
    report.warnings += filter(None, [toy_warning(model_or_path, announce=progress)])
    knobs = {"batch_size": batch_size, "chroma_upsampling": chroma_upsampling, "temperature": temperature}
    return _colorize_jobs(model_or_path, knobs, jobs, out_dir, report, overwrite=overwrite, max_pixels=max_pixels,
                          progress=progress, chooser=chooser)


def _colorize_jobs(model_or_path, knobs: dict, jobs, out_dir, report: ColorizeReport, *, overwrite: bool,
                   max_pixels: int, progress: bool, chooser: ReferenceChooser | None) -> ColorizeReport:
    """`colorize_paths` from its planned jobs on: under the output folder's lock (one
    colorize at a time writes into it; a second is refused, naming this one's pid), the
    outputs to write, then the model, loaded only when one is needed."""
    with folder_lock(out_dir):
        manifest = OutputManifest(out_dir)
        todo = _outputs_to_write(jobs, manifest, overwrite, report)
        if not todo:
            return report  # nothing to colorize: no TensorFlow start-up, no model load
        predictor = Predictor.open(model_or_path, **knobs)
        report.warnings += filter(None, [predictor.unused_temperature_warning(knobs["temperature"])])
        predictor.check_reference(chooser is not None)
        _colorize_files(predictor, todo, manifest, max_pixels, report, progress, chooser)
        return report
