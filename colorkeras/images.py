"""Safe image reading and writing.

`read_rgb` turns any photo a user may have (JPEG, PNG, TIFF, WebP, BMP, ...; 8-bit,
16-bit, float, palette, CMYK, with or without alpha or an EXIF rotation) into an 8-bit
RGB array, and turns every way a file can be bad into one exception, `ImageReadError`,
that names the file and the reason. Pixel counts are checked from the header before any
decoding, so a decompression bomb is refused without allocating its pixels.
"""

from __future__ import annotations

import errno
import os
import pathlib
import stat
import struct

import numpy as np
from PIL import Image, ImageOps

from colorkeras.errors import ColorkerasError, InvalidArgument
from colorkeras.fileio import write_atomic, write_staged

IMAGE_EXTENSIONS: frozenset[str] = frozenset(
    {".jpg", ".jpeg", ".png", ".tif", ".tiff", ".webp", ".bmp"}
)

# A 24 MP camera photo is 24e6 pixels and a 1200 dpi scan of an 8x10 inch print about
# 115e6; 120e6 admits both while refusing the multi-gigapixel headers of bomb files.
DEFAULT_MAX_PIXELS: int = 120_000_000

# Pillow's EPS reader runs Ghostscript on the file, which is no way to open an
# untrusted photo; every other format Pillow knows stays readable.
_REFUSED_FORMATS = frozenset({"EPS"})

# Exceptions Pillow's decoders raise on malformed data; anything else is a bug here.
_DECODE_ERRORS = (
    OSError,
    SyntaxError,
    ValueError,
    EOFError,
    struct.error,
    IndexError,
    KeyError,
    TypeError,
    ZeroDivisionError,
    OverflowError,
)

_JPEG_QUALITY = 95


class ImageReadError(ColorkerasError, ValueError):
    """A file that cannot be turned into an RGB image.

    Args:
        path: the file, as given by the caller.
        reason: why it could not be read, in words.
    """

    def __init__(self, path: str | os.PathLike, reason: str) -> None:
        # Both values go to Exception.args so the error pickles across worker processes.
        super().__init__(os.fsdecode(path), reason)
        self.path = os.fsdecode(path)
        self.reason = reason

    def __str__(self) -> str:
        return f"{self.path}: {self.reason}"


def read_rgb(path: str | os.PathLike, max_pixels: int = DEFAULT_MAX_PIXELS) -> np.ndarray:
    """Reads an image file as a uint8 array of shape (height, width, 3).

    EXIF orientation is applied; transparency is composited on white; 16-bit, 32-bit
    and float grayscale are scaled to 8 bits from their bit depth (not clipped).
    Only the first frame of a multi-frame file is read.

    Args:
        path: the image file.
        max_pixels: images whose header declares more pixels than this are refused
            before decoding. Pillow's own hard limit (2 * `PIL.Image.MAX_IMAGE_PIXELS`)
            still applies above it, and between `MAX_IMAGE_PIXELS` and that limit
            Pillow emits a `DecompressionBombWarning` (the image is still read, unless
            warning filters turn it into an error). Global warning filters are left
            alone here because changing them is not thread-safe.

    Raises:
        ImageReadError: the file is missing, not a regular file, empty, not an image,
            corrupt, truncated, too large, or has zero width or height.
        ValueError: `max_pixels` is below 1.
    """
    if max_pixels < 1:
        raise InvalidArgument(f"max_pixels must be at least 1, got {max_pixels}")
    name = os.fsdecode(path)
    _check_regular_nonempty_file(name)
    try:
        with Image.open(name, formats=_readable_formats()) as image:
            width, height = image.size
            if width <= 0 or height <= 0:
                raise ImageReadError(name, f"image has zero size ({width}x{height})")
            if width * height > max_pixels:
                raise ImageReadError(
                    name,
                    f"image is {width}x{height} = {width * height:,} pixels, more than "
                    f"the limit of {max_pixels:,} (possible decompression bomb)",
                )
            # A full decode now, so truncated or corrupt data fails here and not later.
            image.load()
            _apply_exif_orientation(image)
            return _to_rgb_array(image, name)
    except ImageReadError:
        raise
    except FileNotFoundError as error:
        raise ImageReadError(name, "file not found") from error
    except PermissionError as error:
        raise ImageReadError(name, "permission denied") from error
    except Image.UnidentifiedImageError as error:
        raise ImageReadError(
            name, "not a recognisable image: unknown format or invalid header"
        ) from error
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as error:
        # The warning only arrives as an exception where the caller's filters say so.
        raise ImageReadError(name, f"possible decompression bomb: {error}") from error
    except _DECODE_ERRORS as error:
        raise ImageReadError(
            name, f"corrupt or truncated image data ({type(error).__name__}: {error})"
        ) from error


def is_grayscale(rgb: np.ndarray, tolerance: int = 2) -> bool:
    """Whether every pixel has its R, G and B within `tolerance` of each other.

    Such an image carries no colour for a colorizer to learn from. A 2-D array, or one
    with a single channel, is grayscale by construction.

    Args:
        rgb: array of shape (height, width, 3), any numeric dtype.
        tolerance: the largest difference between two channels still called grey.
    """
    rgb = np.asarray(rgb)
    if tolerance < 0:
        raise InvalidArgument(f"tolerance must be >= 0, got {tolerance}")
    if rgb.ndim == 2 or (rgb.ndim == 3 and rgb.shape[-1] == 1):
        return True
    if rgb.ndim != 3 or rgb.shape[-1] != 3:
        raise InvalidArgument(f"expected an array of shape (height, width, 3), got {rgb.shape}")
    work_dtype = np.int32 if np.issubdtype(rgb.dtype, np.integer) else np.float64
    # Row blocks keep the signed copies small on large photos and stop at the first
    # coloured block, which is where most colour photos end.
    rows_per_block = max(1, 1_000_000 // max(1, rgb.shape[1]))
    for start in range(0, rgb.shape[0], rows_per_block):
        block = rgb[start : start + rows_per_block].astype(work_dtype)
        red, green, blue = block[..., 0], block[..., 1], block[..., 2]
        if (
            np.abs(red - green).max() > tolerance
            or np.abs(green - blue).max() > tolerance
            or np.abs(red - blue).max() > tolerance
        ):
            return False
    return True


# Suffixes of picture formats a user may well drop into a photo folder but that are not
# read here (vector, camera raw, layered, or decoders Pillow does not ship). Such files
# are reported by `scan_images` instead of vanishing from a dataset without a word.
UNSUPPORTED_IMAGE_SUFFIXES: frozenset[str] = frozenset(
    {".svg", ".svgz", ".heic", ".heif", ".avif", ".jxl", ".jp2", ".j2k", ".gif", ".ico",
     ".psd", ".xcf", ".raw", ".dng", ".cr2", ".cr3", ".nef", ".nrw", ".arw", ".orf",
     ".rw2", ".raf", ".srw", ".pef", ".tga", ".ppm", ".pgm", ".pbm", ".pcx", ".eps"}
)


def list_images(folder: str | os.PathLike) -> list[pathlib.Path]:
    """Image files under `folder`, recursively, sorted by their path relative to it.

    A file counts when its suffix, in any case, is in `IMAGE_EXTENSIONS`. Hidden files
    and folders (name starting with ".") are skipped, and so are symbolic links to
    folders, which could loop. `scan_images` also says what was left out and why.

    Raises:
        FileNotFoundError: `folder` does not exist.
        NotADirectoryError: `folder` is not a folder.
    """
    return scan_images(folder)[0]


def scan_images(
    folder: str | os.PathLike,
) -> tuple[list[pathlib.Path], list[tuple[pathlib.Path, str]]]:
    """`list_images`, plus the entries left out that a user may have meant as images.

    Returns:
        (images, left_out): the images as `list_images` returns them, and sorted
        (path, reason) pairs for: files with a picture suffix that is not read here
        (`UNSUPPORTED_IMAGE_SUFFIXES`), broken links, link loops, FIFOs, sockets and
        devices, links to folders (never followed), and folders that cannot be listed.
        Hidden entries and ordinary files of other kinds (notes, CSVs) are left out
        silently.

    Raises:
        FileNotFoundError: `folder` does not exist.
        NotADirectoryError: `folder` is not a folder.
    """
    root = pathlib.Path(folder)
    if not root.exists():
        raise FileNotFoundError(f"image folder not found: {root}")
    if not root.is_dir():
        raise NotADirectoryError(f"not a folder: {root}")
    found: list[pathlib.Path] = []
    left_out: list[tuple[pathlib.Path, str]] = []
    pending = [root]
    while pending:
        directory = pending.pop()
        try:
            with os.scandir(directory) as listing:
                entries = list(listing)
        except OSError as error:
            left_out.append((directory, f"cannot list folder ({error.strerror or error})"))
            continue
        for entry in entries:
            if entry.name.startswith("."):
                continue
            path = pathlib.Path(entry.path)
            kind = _entry_kind(entry)
            if kind == "folder":
                pending.append(path)
            elif kind == "file":
                suffix = path.suffix.lower()
                if suffix in IMAGE_EXTENSIONS:
                    found.append(path)
                elif suffix in UNSUPPORTED_IMAGE_SUFFIXES:
                    left_out.append((path, f"{suffix} images are not read (supported: "
                                           f"{', '.join(sorted(IMAGE_EXTENSIONS))})"))
            elif kind is not None:
                left_out.append((path, kind))
    # Sorting on path parts, not on listing order, makes the list the same on every
    # file system, which keeps dataset splits reproducible.
    found.sort(key=lambda candidate: candidate.relative_to(root).parts)
    left_out.sort(key=lambda item: item[0].relative_to(root).parts)
    return found, left_out


def _entry_kind(entry: os.DirEntry) -> str | None:
    """"folder", "file", None (nothing to say), or the reason an entry is left out."""
    try:
        is_link = entry.is_symlink()
        status = os.stat(entry.path)  # follows links: a broken one or a loop fails here
    except FileNotFoundError:
        return "broken symbolic link (its target does not exist)"
    except OSError as error:
        if error.errno == errno.ELOOP:
            return "symbolic link loop"
        return f"cannot access ({error.strerror or error})"
    if stat.S_ISDIR(status.st_mode):
        # A linked folder could loop or lead anywhere on the disk; it is never followed.
        return "symbolic link to a folder (not followed)" if is_link else "folder"
    if stat.S_ISREG(status.st_mode):
        return "file"
    # Opening a FIFO or a device would block or read forever.
    return "not a regular file (FIFO, socket or device)"


def save_rgb(rgb: np.ndarray, path: str | os.PathLike) -> None:
    """Writes a uint8 (height, width, 3) array atomically, in the format of the suffix.

    Through `colorkeras.fileio.write_atomic` (with fsync), so a reader never sees a
    half-written file. Parent folders are created.
    JPEG and WebP are written at quality 95.

    Raises:
        ValueError: the array is not uint8 (height, width, 3), or the suffix is not in
            `IMAGE_EXTENSIONS`.
    """
    write_atomic(path, _rgb_writer(rgb, path), fsync=True)


def stage_rgb(rgb: np.ndarray, path: str | os.PathLike) -> pathlib.Path:
    """`save_rgb`'s complete, synced file under its hidden temporary name beside ``path``,
    not yet renamed into place (`colorkeras.fileio.write_staged`): the caller does
    ``os.replace(temporary, path)`` or removes it."""
    return write_staged(path, _rgb_writer(rgb, path), fsync=True)


def _rgb_writer(rgb: np.ndarray, path):
    """What writes ``rgb`` in the format of ``path``'s suffix (checked here)."""
    rgb = np.asarray(rgb)
    if rgb.dtype != np.uint8 or rgb.ndim != 3 or rgb.shape[-1] != 3:
        raise InvalidArgument(
            f"expected a uint8 array of shape (height, width, 3), got {rgb.dtype} "
            f"{rgb.shape}"
        )
    target = pathlib.Path(path)
    suffix = target.suffix.lower()
    if suffix not in IMAGE_EXTENSIONS:
        raise InvalidArgument(
            f"cannot tell the image format of {target}: use one of "
            f"{', '.join(sorted(IMAGE_EXTENSIONS))}"
        )
    Image.init()
    image_format = Image.EXTENSION[suffix]
    options = {"quality": _JPEG_QUALITY} if image_format in ("JPEG", "WEBP") else {}
    return lambda tmp: Image.fromarray(rgb).save(tmp, format=image_format, **options)


def _readable_formats() -> tuple[str, ...]:
    Image.init()
    return tuple(name for name in Image.ID if name not in _REFUSED_FORMATS)


def _check_regular_nonempty_file(name: str) -> None:
    try:
        status = os.stat(name)
    except (FileNotFoundError, NotADirectoryError) as error:
        raise ImageReadError(name, "file not found") from error
    except OSError as error:
        raise ImageReadError(name, f"cannot access file ({error.strerror or error})") from error
    if stat.S_ISDIR(status.st_mode):
        raise ImageReadError(name, "is a directory, not an image file")
    # Opening a FIFO or device would block or read forever.
    if not stat.S_ISREG(status.st_mode):
        raise ImageReadError(name, "not a regular file")
    if status.st_size == 0:
        raise ImageReadError(name, "file is empty (0 bytes)")


def _apply_exif_orientation(image: Image.Image) -> None:
    try:
        ImageOps.exif_transpose(image, in_place=True)
    except _DECODE_ERRORS:
        # A damaged EXIF block does not damage the pixels: keep them as stored.
        pass


def _to_rgb_array(image: Image.Image, name: str) -> np.ndarray:
    if image.mode in ("I", "F") or image.mode.startswith("I;16"):
        gray = _high_depth_to_uint8(image)
        return np.repeat(gray[:, :, np.newaxis], 3, axis=2)
    if image.has_transparency_data:
        rgba = image.convert("RGBA")
        white = Image.new("RGB", rgba.size, (255, 255, 255))
        white.paste(rgba, mask=rgba.getchannel("A"))
        return np.array(white, dtype=np.uint8)
    try:
        # convert() copies even when the mode already matches; a 24 MP photo need not
        # pay for that twice.
        rgb_image = image if image.mode == "RGB" else image.convert("RGB")
        return np.array(rgb_image, dtype=np.uint8)
    except ValueError as error:
        raise ImageReadError(name, f"unsupported image mode {image.mode}") from error


def _high_depth_to_uint8(image: Image.Image) -> np.ndarray:
    values = np.asarray(image)
    transparent = None
    if "transparency" in image.info and not isinstance(image.info["transparency"], bytes):
        transparent = values == image.info["transparency"]
    if image.mode == "F":
        gray = _float_to_uint8(values)
    else:
        white = 2 ** _integer_bit_depth(image, values) - 1
        gray = _integer_to_uint8(values, white)
    if transparent is not None:
        gray[transparent] = 255
    return gray


def _integer_bit_depth(image: Image.Image, values: np.ndarray) -> int:
    tags = getattr(image, "tag_v2", None)
    if tags is not None and 258 in tags:
        bits_per_sample = tags[258]
        bits = bits_per_sample[0] if isinstance(bits_per_sample, tuple) else bits_per_sample
        # TIFF SampleFormat 2 is signed: the top bit is the sign, not brightness.
        sample_format = tags.get(339, 1)
        sample_format = sample_format[0] if isinstance(sample_format, tuple) else sample_format
        return int(bits) - 1 if sample_format == 2 else int(bits)
    if image.mode.startswith("I;16") or image.format == "PNG":
        return 16
    # No declared depth (e.g. PGM): the smallest common depth that holds the data.
    largest = int(values.max()) if values.size else 0
    if largest <= 255:
        return 8
    if largest <= 65535:
        return 16
    return 31 if values.dtype.kind == "i" else 32


def _integer_to_uint8(values: np.ndarray, white: int) -> np.ndarray:
    clipped = np.clip(values, 0, white)
    if white % 255 == 0:
        # Depths of 8, 16, 24, 32 bits divide exactly (65535 = 255 * 257): integer
        # rounding keeps every 8-bit level exact and needs no float copy.
        step = white // 255
        work_dtype = np.uint32 if white <= 0xFFFF else np.uint64
        return ((clipped.astype(work_dtype) + step // 2) // step).astype(np.uint8)
    return np.rint(clipped.astype(np.float64) * (255.0 / white)).astype(np.uint8)


def _float_to_uint8(values: np.ndarray) -> np.ndarray:
    # Float images carry no white point: read them in the nominal range that holds them.
    finite = np.nan_to_num(values.astype(np.float64), nan=0.0, posinf=0.0, neginf=0.0)
    largest = float(finite.max()) if finite.size else 0.0
    if largest <= 1.0:
        white = 1.0
    elif largest <= 255.0:
        white = 255.0
    elif largest <= 65535.0:
        white = 65535.0
    else:
        white = largest
    return np.rint(np.clip(finite, 0.0, white) * (255.0 / white)).astype(np.uint8)


def resize_square(rgb: np.ndarray, size: int) -> np.ndarray:
    """uint8 RGB of any shape -> (size, size, 3) uint8, bicubic, without cropping.

    The study stretched every photo to 256x256; preparation (training data) and colorize
    (the model's view of a user's photo) both go through this one function.
    """
    from PIL import Image

    return np.asarray(Image.fromarray(rgb).resize((size, size), Image.BICUBIC))
