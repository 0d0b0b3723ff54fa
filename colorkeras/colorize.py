"""Colorize photos at full resolution (DESIGN.md decision 7).

The model sees each photo at its own input size (S x S), prepared exactly as training
data was prepared: the RGB photo resized to S x S without cropping, then reduced to L.
The predicted ab field is resized back to the photo's size and put on the photo's own,
full-resolution L, so the output keeps every detail of the input; only the colour is
predicted at low resolution, which is where the eye forgives it.

`colorize_paths` is what the ``colorkeras colorize`` command runs: files and folders in,
one colour file out per photo, inputs never overwritten, existing outputs skipped (so a
rerun resumes), unreadable files reported while the rest are done.
"""

from __future__ import annotations

import os
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from colorkeras.errors import InvalidArgument
from colorkeras import color
from colorkeras.models.registry import model_input_size
from colorkeras.images import IMAGE_EXTENSIONS, ImageReadError, list_images, read_rgb, resize_square, save_rgb

# Full-resolution L channels (float32, 4 bytes a pixel) wait in memory until their batch
# has been through the model; past this many pixels the batch is run early, so a folder
# of 24 MP photos holds at most about 3 of them (~300 MB) at once.
BATCH_PIXEL_BUDGET = 64_000_000

# rgb_to_l goes through scikit-image, whose float64 intermediates take ~40 bytes a pixel;
# converting a million pixels at a time keeps that at ~40 MB for any photo size.
_PIXELS_PER_LAB_BLOCK = 1_000_000

_DEFAULT_SUFFIX_FALLBACK = ".png"  # for inputs whose own format cannot be written


@dataclass
class ColorizeReport:
    """What a `colorize_paths` run did.

    Args:
        written: output files written in this run.
        existing: inputs whose output already existed and was kept (a resumed run).
        skipped: (input, reason) for every input that could not be colorized.
        warnings: notes on photos that were colorized, e.g. upsampled small photos.
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
            lines.append("  (existing outputs are kept; pass overwrite to redo them)")
        return "\n".join(lines)


# ------------------------------------------------------------------------------------
# One photo, in memory
# ------------------------------------------------------------------------------------
def lightness(rgb: np.ndarray) -> np.ndarray:
    """uint8 RGB (H, W, 3) -> L (H, W) float32 in [0, 100], in row blocks for big photos."""
    height, width = rgb.shape[:2]
    rows = max(1, _PIXELS_PER_LAB_BLOCK // max(1, width))
    out = np.empty((height, width), dtype=np.float32)
    for top in range(0, height, rows):
        out[top : top + rows] = color.rgb_to_l(rgb[top : top + rows])
    return out


def model_input(rgb: np.ndarray, size: int) -> np.ndarray:
    """uint8 RGB photo -> the model's (size, size, 1) normalised L.

    Resizing the RGB before taking L is what data preparation does
    (`colorkeras.data.prepare.load_for_dataset`), so the model sees photos the way it
    saw its training data.
    """
    return color.normalize_l(color.rgb_to_l(resize_square(rgb, size)))[..., None].astype(np.float32)


def predict_ab(model, inputs: np.ndarray) -> np.ndarray:
    """(n, S, S, 1) normalised L -> (n, S, S, 2) un-normalised ab."""
    # predict_on_batch keeps one compiled function per batch shape: no per-call tracing.
    prediction = np.asarray(model.predict_on_batch(inputs), dtype=np.float32)
    return color.denormalize_ab(prediction)


def small_photo_warning(width: int, height: int, size: int) -> str | None:
    """The note recorded for a photo that the model input is larger than."""
    if width < size or height < size:
        return f"photo {width}x{height} is smaller than the model input {size}x{size}; upsampled"
    return None


def _as_rgb(image: np.ndarray) -> np.ndarray:
    image = np.asarray(image)
    if image.dtype != np.uint8:
        raise InvalidArgument(f"expected a uint8 image, got {image.dtype}")
    if image.ndim == 3 and image.shape[-1] == 1:
        image = image[..., 0]
    if image.ndim == 2:
        image = np.repeat(image[..., None], 3, axis=-1)
    if image.ndim != 3 or image.shape[-1] != 3 or 0 in image.shape:
        raise InvalidArgument(
            f"expected an image of shape (H, W), (H, W, 1) or (H, W, 3), got {image.shape}"
        )
    return image


def colorize_array(model, rgb: np.ndarray) -> np.ndarray:
    """Colorize one photo in memory: uint8 (H, W[, 3]) -> uint8 RGB (H, W, 3).

    A colour photo is reduced to its L first; the output has the input's size and L.
    """
    rgb = _as_rgb(rgb)
    size = model_input_size(model)
    height, width = rgb.shape[:2]
    note = small_photo_warning(width, height, size)
    if note:
        warnings.warn(note, stacklevel=2)
    ab = predict_ab(model, model_input(rgb, size)[None])[0]
    return color.merge_l_ab(lightness(rgb), ab)


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
        cannot be planned (missing, or a second input wanting the same output).

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
            for source in list_images(item):
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


@dataclass
class _Pending:
    source: Path
    target: Path
    lightness: np.ndarray  # full resolution, the L the output keeps
    model_input: np.ndarray


def _load(path) -> object:
    if isinstance(path, (str, os.PathLike)):
        from colorkeras.models.registry import load_model

        return load_model(path)
    return path


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
) -> ColorizeReport:
    """Colorize photo files and folders of photos into `out_dir` at full resolution.

    Args:
        model_or_path: a Keras colorizer, or the path of a saved ``.keras`` one.
        inputs: files and folders (searched recursively).
        out_dir: where the colour copies go; created as needed.
        suffix: appended to each output file's stem (e.g. ``"_color"``).
        fmt: output format such as ``"png"`` or ``"jpg"``; default: the input's own
            (JPEG and WebP at quality 95).
        overwrite: redo outputs that already exist (default: keep them, so a rerun
            resumes where it stopped).
        progress: show a progress bar.
        batch_size: photos per model call.

    Raises:
        ValueError: an output would replace an input, or a bad argument. Nothing is
            written in that case.
    """
    if batch_size < 1:
        raise InvalidArgument(f"batch_size must be >= 1, got {batch_size}")
    jobs, skipped = plan_outputs(inputs, out_dir, suffix=suffix, fmt=fmt)
    report = ColorizeReport(skipped=list(skipped))
    model = _load(model_or_path)
    size = model_input_size(model)

    from tqdm.auto import tqdm

    pending: list[_Pending] = []
    pending_pixels = 0

    def flush() -> None:
        nonlocal pending_pixels
        if not pending:
            return
        ab_batch = predict_ab(model, np.stack([item.model_input for item in pending]))
        for item, ab in zip(pending, ab_batch):
            try:
                save_rgb(color.merge_l_ab(item.lightness, ab), item.target)
            except OSError as error:
                report.skipped.append((item.source, f"cannot write {item.target}: {error}"))
            else:
                report.written.append(item.target)
            bar.update(1)
        pending.clear()
        pending_pixels = 0

    with tqdm(total=len(jobs), desc="colorize", unit="photo", disable=not progress) as bar:
        for source, target in jobs:
            if not overwrite and target.exists():
                report.existing.append(source)
                bar.update(1)
                continue
            try:
                rgb = read_rgb(source)
            except ImageReadError as error:
                report.skipped.append((source, error.reason))
                bar.update(1)
                continue
            height, width = rgb.shape[:2]
            note = small_photo_warning(width, height, size)
            if note:
                report.warnings.append(f"{source}: {note}")
            pending.append(_Pending(source, target, lightness(rgb), model_input(rgb, size)))
            pending_pixels += height * width
            del rgb  # only L is needed from here on
            if len(pending) >= batch_size or pending_pixels >= BATCH_PIXEL_BUDGET:
                flush()
        flush()
    return report
