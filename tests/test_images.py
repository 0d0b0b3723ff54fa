"""Tests for colorkeras.images; every image file is built here, in tmp_path."""

from __future__ import annotations

import io
import os
import pathlib
import pickle
import struct
import subprocess
import sys
import time
import zlib

import numpy as np
import pytest
from PIL import Image

from colorkeras.images import (
    DEFAULT_MAX_PIXELS,
    IMAGE_EXTENSIONS,
    ImageReadError,
    is_grayscale,
    list_images,
    read_rgb,
    save_rgb,
    scan_images,
)


def _gradient_rgb(height: int = 12, width: int = 16) -> np.ndarray:
    rows, columns = np.mgrid[0:height, 0:width]
    red = rows * 255 // max(1, height - 1)
    green = columns * 255 // max(1, width - 1)
    return np.stack([red, green, (rows + columns) % 256], axis=-1).astype(np.uint8)


def _png_with_declared_size(path, width: int, height: int) -> None:
    """A real 1x1 PNG whose IHDR (with a valid CRC) claims width x height."""
    buffer = io.BytesIO()
    Image.new("L", (1, 1), 128).save(buffer, format="PNG")
    data = bytearray(buffer.getvalue())
    # 8-byte signature, then the IHDR chunk: length(4) type(4) data(13) crc(4).
    assert data[12:16] == b"IHDR"
    data[16:24] = struct.pack(">II", width, height)
    data[29:33] = struct.pack(">I", zlib.crc32(bytes(data[12:29])))
    path.write_bytes(bytes(data))


def _assert_close(actual: np.ndarray, expected: np.ndarray, mean_tolerance: float) -> None:
    """Exact when mean_tolerance is 0; otherwise a mean bound fit for lossy codecs."""
    assert actual.shape == expected.shape
    difference = np.abs(actual.astype(np.int32) - expected.astype(np.int32))
    if mean_tolerance == 0:
        assert difference.max() == 0
    else:
        assert difference.mean() <= mean_tolerance


def _read_checked(path) -> np.ndarray:
    rgb = read_rgb(path)
    assert rgb.dtype == np.uint8
    assert rgb.ndim == 3 and rgb.shape[-1] == 3
    assert rgb.flags.writeable
    return rgb


# === Modes ===


def _expected_on_white(color, alpha):
    return [255 - (255 - channel) * alpha / 255 for channel in color]


def test_mode_l(tmp_path):
    path = tmp_path / "gray.png"
    Image.new("L", (4, 3), 77).save(path)
    rgb = _read_checked(path)
    assert rgb.shape == (3, 4, 3)
    assert (rgb == 77).all()


def test_mode_la_composites_on_white(tmp_path):
    path = tmp_path / "gray_alpha.png"
    image = Image.new("LA", (2, 1), (100, 255))
    image.putpixel((1, 0), (100, 0))
    image.save(path)
    rgb = _read_checked(path)
    assert rgb[0, 0].tolist() == [100, 100, 100]
    assert rgb[0, 1].tolist() == [255, 255, 255]


def test_mode_rgba_composites_on_white(tmp_path):
    path = tmp_path / "rgba.png"
    image = Image.new("RGBA", (2, 1), (200, 100, 50, 128))
    image.putpixel((1, 0), (10, 20, 30, 255))
    image.save(path)
    rgb = _read_checked(path)
    np.testing.assert_allclose(rgb[0, 0], _expected_on_white((200, 100, 50), 128), atol=1)
    assert rgb[0, 1].tolist() == [10, 20, 30]


@pytest.mark.parametrize("suffix", [".png", ".gif"])
def test_mode_p_with_transparency(tmp_path, suffix):
    path = tmp_path / f"palette{suffix}"
    image = Image.new("P", (2, 1), 0)
    image.putpalette([0, 0, 0, 0, 0, 255] + [0] * (3 * 254))
    image.putpixel((1, 0), 1)
    image.save(path, transparency=0)
    rgb = _read_checked(path)
    assert rgb[0, 0].tolist() == [255, 255, 255]
    assert rgb[0, 1].tolist() == [0, 0, 255]


def test_mode_p_without_transparency(tmp_path):
    path = tmp_path / "palette.bmp"
    image = Image.new("P", (2, 1), 0)
    image.putpalette([255, 0, 0, 0, 255, 0] + [0] * (3 * 254))
    image.putpixel((1, 0), 1)
    image.save(path)
    assert _read_checked(path).tolist() == [[[255, 0, 0], [0, 255, 0]]]


@pytest.mark.parametrize("suffix", [".tif", ".jpg"])
def test_mode_cmyk(tmp_path, suffix):
    path = tmp_path / f"cmyk{suffix}"
    image = Image.new("CMYK", (16, 8), (0, 0, 0, 0))
    image.paste((255, 0, 0, 0), (8, 0, 16, 8))
    image.save(path)
    rgb = _read_checked(path)
    tolerance = 0 if suffix == ".tif" else 4
    np.testing.assert_allclose(rgb[4, 2], [255, 255, 255], atol=tolerance)
    np.testing.assert_allclose(rgb[4, 13], [0, 255, 255], atol=tolerance)


# 16-bit values and their 8-bit levels: round(value / 257), never clipped at 255.
_SIXTEEN_BIT = [0, 128, 129, 25700, 25828, 32896, 65535]
_SIXTEEN_BIT_AS_EIGHT = [0, 0, 1, 100, 100, 128, 255]


@pytest.mark.parametrize(
    ("dtype", "suffix", "mode"),
    [("<u2", ".png", "I;16"), ("<u2", ".tif", "I;16"), (">u2", ".tif", "I;16B")],
)
def test_mode_i16_scaled_by_bit_depth(tmp_path, dtype, suffix, mode):
    path = tmp_path / f"sixteen{suffix}"
    Image.fromarray(np.array([_SIXTEEN_BIT], dtype=dtype)).save(path)
    with Image.open(path) as stored:
        # Older Pillow opened 16-bit PNG as mode I; both must scale the same way.
        assert stored.mode in (mode, "I")
    rgb = _read_checked(path)
    assert rgb[..., 0].tolist() == [_SIXTEEN_BIT_AS_EIGHT]
    assert is_grayscale(rgb, tolerance=0)


def test_mode_i32_scaled_by_bit_depth(tmp_path):
    path = tmp_path / "thirty_two.tif"
    Image.fromarray(np.array([[0, 2**30, 2**31 - 1]], dtype=np.int32)).save(path)
    assert _read_checked(path)[..., 0].tolist() == [[0, 128, 255]]


def test_mode_float(tmp_path):
    path = tmp_path / "float.tif"
    Image.fromarray(np.array([[0.0, 0.5, 1.0, np.nan]], dtype=np.float32)).save(path)
    assert _read_checked(path)[..., 0].tolist() == [[0, 128, 255, 0]]


def test_mode_bilevel(tmp_path):
    path = tmp_path / "bilevel.png"
    image = Image.new("1", (2, 1), 0)
    image.putpixel((1, 0), 1)
    image.save(path)
    assert _read_checked(path).tolist() == [[[0, 0, 0], [255, 255, 255]]]


def test_mode_lab(tmp_path):
    path = tmp_path / "lab.tif"
    Image.new("LAB", (2, 2), (128, 128, 128)).save(path)
    rgb = _read_checked(path)
    # L* = 50 with a = b = 0 is sRGB grey 119.
    np.testing.assert_allclose(rgb, 119, atol=1)


def test_mode_rgb(tmp_path):
    path = tmp_path / "rgb.png"
    expected = _gradient_rgb()
    Image.fromarray(expected).save(path)
    np.testing.assert_array_equal(_read_checked(path), expected)


# === Formats ===


@pytest.mark.parametrize(
    ("suffix", "save_options", "tolerance"),
    [
        (".jpg", {"quality": 95}, 2),
        (".JPEG", {"quality": 95}, 2),
        (".png", {}, 0),
        (".tif", {}, 0),
        (".tiff", {"compression": "tiff_lzw"}, 0),
        (".webp", {"lossless": True}, 0),
        (".bmp", {}, 0),
    ],
)
def test_formats(tmp_path, suffix, save_options, tolerance):
    path = tmp_path / f"photo{suffix}"
    expected = _gradient_rgb(24, 32)
    Image.fromarray(expected).save(path, **save_options)
    _assert_close(_read_checked(path), expected, tolerance)


def test_exif_orientation_is_applied(tmp_path):
    path = tmp_path / "rotated.jpg"
    stored = np.full((20, 40, 3), 255, dtype=np.uint8)
    stored[:8, :8] = (255, 0, 0)
    exif = Image.Exif()
    exif[0x0112] = 6  # the camera was turned: display rotated 90 degrees clockwise
    Image.fromarray(stored).save(path, exif=exif, quality=95)
    rgb = _read_checked(path)
    assert rgb.shape == (40, 20, 3)
    # Clockwise rotation takes the stored top-left corner to the top-right.
    np.testing.assert_allclose(rgb[2, -3], [255, 0, 0], atol=12)
    np.testing.assert_allclose(rgb[2, 2], [255, 255, 255], atol=12)


# === Bad files ===


def _missing(tmp_path):
    return tmp_path / "nowhere" / "missing.jpg"


def _directory(tmp_path):
    path = tmp_path / "folder.jpg"
    path.mkdir()
    return path


def _zero_bytes(tmp_path):
    path = tmp_path / "empty.png"
    path.write_bytes(b"")
    return path


def _text_named_jpg(tmp_path):
    path = tmp_path / "notes.jpg"
    path.write_text("not a photo, just words\n" * 10)
    return path


def _random_bytes(tmp_path):
    path = tmp_path / "noise.png"
    path.write_bytes(np.random.default_rng(0).integers(0, 256, 4096, dtype=np.uint8).tobytes())
    return path


def _corrupt_png_data(tmp_path):
    path = tmp_path / "corrupt.png"
    Image.fromarray(_gradient_rgb(32, 32)).save(path)
    data = bytearray(path.read_bytes())
    start = data.index(b"IDAT") + 4
    data[start : start + 64] = bytes(64)
    path.write_bytes(bytes(data))
    return path


def _corrupt_jpeg_header(tmp_path):
    path = tmp_path / "corrupt.jpg"
    Image.fromarray(_gradient_rgb(32, 32)).save(path)
    data = path.read_bytes()
    path.write_bytes(data[:20] + bytes(len(data) - 20))
    return path


def _truncated(suffix):
    def build(tmp_path):
        path = tmp_path / f"truncated{suffix}"
        noise = np.random.default_rng(1).integers(0, 256, (64, 64, 3), dtype=np.uint8)
        Image.fromarray(noise).save(path)
        data = path.read_bytes()
        path.write_bytes(data[: len(data) // 2])
        return path

    return build


def _fifo(tmp_path):
    if not hasattr(os, "mkfifo"):
        pytest.skip("no named pipes on this platform")
    path = tmp_path / "pipe.jpg"
    os.mkfifo(path)
    return path


def _zero_width_png(tmp_path):
    path = tmp_path / "zero_width.png"
    _png_with_declared_size(path, 0, 1)
    return path


@pytest.mark.parametrize(
    ("build", "reason_words"),
    [
        (_missing, "not found"),
        (_directory, "directory"),
        (_zero_bytes, "empty"),
        (_fifo, "not a regular file"),
        (_text_named_jpg, "not a recognisable image"),
        (_random_bytes, "not a recognisable image"),
        (_corrupt_png_data, "corrupt"),
        (_corrupt_jpeg_header, "not a recognisable image"),
        (_truncated(".jpg"), "truncated"),
        (_truncated(".png"), "truncated"),
        (_zero_width_png, ""),
    ],
    ids=[
        "missing",
        "directory",
        "zero-bytes",
        "fifo",
        "text-named-jpg",
        "random-bytes",
        "corrupt-png",
        "corrupt-jpeg",
        "truncated-jpeg",
        "truncated-png",
        "zero-width",
    ],
)
def test_bad_files_raise_image_read_error(tmp_path, build, reason_words):
    path = build(tmp_path)
    with pytest.raises(ImageReadError) as caught:
        read_rgb(path)
    error = caught.value
    assert error.path == str(path)
    assert error.reason and reason_words in error.reason
    assert str(error) == f"{path}: {error.reason}"


def test_image_read_error_is_value_error_and_pickles():
    error = ImageReadError("photos/a.jpg", "file is empty (0 bytes)")
    assert isinstance(error, ValueError)
    restored = pickle.loads(pickle.dumps(error))
    assert (restored.path, restored.reason, str(restored)) == (
        error.path,
        error.reason,
        "photos/a.jpg: file is empty (0 bytes)",
    )


def test_pixel_limit_is_checked(tmp_path):
    path = tmp_path / "small.png"
    Image.new("RGB", (20, 10)).save(path)
    assert read_rgb(path, max_pixels=200).shape == (10, 20, 3)
    with pytest.raises(ImageReadError, match="decompression bomb"):
        read_rgb(path, max_pixels=199)
    with pytest.raises(ValueError, match="max_pixels"):
        read_rgb(path, max_pixels=0)


@pytest.mark.filterwarnings("ignore::PIL.Image.DecompressionBombWarning")
@pytest.mark.parametrize(
    ("width", "height"),
    # Just above our limit (Pillow only warns), and far above Pillow's own hard limit.
    [(11_000, 11_000), (100_000, 100_000)],
)
def test_bomb_header_is_refused_before_decoding(tmp_path, width, height):
    assert width * height > DEFAULT_MAX_PIXELS
    path = tmp_path / "bomb.png"
    _png_with_declared_size(path, width, height)
    started = time.perf_counter()
    with pytest.raises(ImageReadError) as caught:
        read_rgb(path)
    # The file holds one pixel of data: had decoding started it would have failed as
    # truncated (after allocating the canvas), not as a bomb.
    assert "decompression bomb" in caught.value.reason
    assert time.perf_counter() - started < 1.0


# VmHWM (Linux) is this process's own peak; ru_maxrss can carry over the parent's peak
# across fork/exec, which inside a test session that loaded TensorFlow is gigabytes.
_PEAK_MEMORY_SCRIPT = """
import pathlib, resource, sys
from colorkeras.images import read_rgb
rgb = read_rgb(sys.argv[1])
status = pathlib.Path("/proc/self/status")
if status.exists():
    line = next(l for l in status.read_text().splitlines() if l.startswith("VmHWM:"))
    peak = int(line.split()[1]) / 2**10
else:
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20
print(rgb.shape, peak)
"""


@pytest.mark.skipif(sys.platform == "win32", reason="the resource module is Unix-only")
def test_24_megapixel_photo_reads_in_bounded_memory(tmp_path):
    assert 4 * 6000 * 4000 < DEFAULT_MAX_PIXELS  # room for scans far larger than 24 MP
    path = tmp_path / "camera.jpg"
    rows = np.linspace(0, 255, 4000, dtype=np.float32)[:, np.newaxis]
    columns = np.linspace(0, 255, 6000, dtype=np.float32)[np.newaxis, :]
    Image.fromarray(((rows + columns) / 2).astype(np.uint8)).save(path, quality=90)
    # A fresh process, so the peak resident size measures this read and nothing else.
    repository_root = pathlib.Path(__file__).resolve().parents[1]
    python_path = [str(repository_root), os.environ.get("PYTHONPATH", "")]
    environment = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, python_path))}
    completed = subprocess.run(
        [sys.executable, "-c", _PEAK_MEMORY_SCRIPT, str(path)],
        capture_output=True,
        text=True,
        check=True,
        env=environment,
        timeout=60,
    )
    shape, peak_megabytes = completed.stdout.rsplit(" ", 1)
    assert shape == "(4000, 6000, 3)"
    # The result alone is 72 MB; a few working copies are fine, a float copy is not.
    assert float(peak_megabytes) < 600


# === is_grayscale ===


def test_is_grayscale():
    gray = np.repeat(np.arange(256, dtype=np.uint8).reshape(16, 16, 1), 3, axis=2)
    assert is_grayscale(gray)
    assert is_grayscale(gray[..., 0])
    nearly = gray.copy()
    nearly[3, 4, 0] = min(255, int(nearly[3, 4, 1]) + 2)
    assert is_grayscale(nearly)
    assert not is_grayscale(nearly, tolerance=1)
    coloured = gray.copy()
    coloured[15, 15] = (255, 0, 0)
    assert not is_grayscale(coloured)
    # uint8 differences must not wrap around: 0 - 255 is not 1.
    wrapped = np.zeros((1, 1, 3), dtype=np.uint8)
    wrapped[0, 0] = (0, 255, 1)
    assert not is_grayscale(wrapped, tolerance=2)
    assert is_grayscale(np.full((2, 2, 3), 0.5, dtype=np.float32), tolerance=0)


def test_is_grayscale_on_a_large_image_with_one_coloured_pixel():
    photo = np.full((3000, 2000, 3), 90, dtype=np.uint8)
    assert is_grayscale(photo)
    photo[-1, -1, 2] = 200
    assert not is_grayscale(photo)


@pytest.mark.parametrize(
    ("array", "tolerance"),
    [
        (np.zeros((2, 2, 4), np.uint8), 2),
        (np.zeros(5, np.uint8), 2),
        (np.zeros((2, 2, 3), np.uint8), -1),
    ],
)
def test_is_grayscale_rejects_bad_input(array, tolerance):
    with pytest.raises(ValueError):
        is_grayscale(array, tolerance=tolerance)


# === list_images ===


def test_list_images_filters_and_sorts(tmp_path):
    relative_files = [
        "b.jpg",
        "a.PNG",
        "e.webp",
        "notes.txt",
        "photo.jpg.bak",
        ".hidden.jpg",
        "sub/c.tiff",
        "sub/.d.jpg",
        "sub/deeper/f.Bmp",
        ".cache/g.jpg",
        "sub2/z.JPEG",
        "sub2/y.tif",
    ]
    for relative in relative_files:
        (tmp_path / relative).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / relative).write_bytes(b"x")
    (tmp_path / "folder.jpg").mkdir()  # a folder with an image suffix is not a file
    found = list_images(tmp_path)
    assert [path.relative_to(tmp_path).as_posix() for path in found] == [
        "a.PNG",
        "b.jpg",
        "e.webp",
        "sub/c.tiff",
        "sub/deeper/f.Bmp",
        "sub2/y.tif",
        "sub2/z.JPEG",
    ]
    assert list_images(str(tmp_path)) == found


def test_scan_images_reports_what_it_leaves_out_and_lists_as_list_images(tmp_path):
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "a.jpg").write_bytes(b"x")
    (tmp_path / "b.png").write_bytes(b"x")
    (tmp_path / "notes.txt").write_text("ignored quietly")
    (tmp_path / ".hidden.heic").write_bytes(b"x")  # hidden: ignored quietly
    (tmp_path / "logo.SVG").write_text("<svg/>")
    (tmp_path / "sub" / "phone.heic").write_bytes(b"x")
    (tmp_path / "gone.jpg").symlink_to(tmp_path / "missing.jpg")
    (tmp_path / "loop.png").symlink_to(tmp_path / "loop.png")
    (tmp_path / "linked").symlink_to(tmp_path / "sub")
    (tmp_path / "alias.png").symlink_to(tmp_path / "b.png")  # a link to a file is a file
    os.mkfifo(tmp_path / "pipe.jpg")
    found, left_out = scan_images(tmp_path)
    assert found == list_images(tmp_path)
    assert [p.relative_to(tmp_path).as_posix() for p in found] == ["alias.png", "b.png", "sub/a.jpg"]
    reasons = {p.relative_to(tmp_path).as_posix(): reason for p, reason in left_out}
    assert list(reasons) == ["gone.jpg", "linked", "logo.SVG", "loop.png", "pipe.jpg", "sub/phone.heic"]
    assert reasons["gone.jpg"].startswith("broken symbolic link")
    assert reasons["linked"] == "symbolic link to a folder (not followed)"
    assert reasons["logo.SVG"].startswith(".svg images are not read (supported: .bmp, .jpeg")
    assert reasons["loop.png"] == "symbolic link loop"
    assert reasons["pipe.jpg"].startswith("not a regular file")
    assert reasons["sub/phone.heic"].startswith(".heic images are not read")


def test_list_images_rejects_missing_or_file(tmp_path):
    with pytest.raises(FileNotFoundError):
        list_images(tmp_path / "missing")
    (tmp_path / "a.jpg").write_bytes(b"x")
    with pytest.raises(NotADirectoryError):
        list_images(tmp_path / "a.jpg")


def test_image_extensions():
    assert IMAGE_EXTENSIONS == {".jpg", ".jpeg", ".png", ".tif", ".tiff", ".webp", ".bmp"}


# === save_rgb ===


@pytest.mark.parametrize(
    ("suffix", "tolerance"),
    [(".png", 0), (".tif", 0), (".bmp", 0), (".jpg", 2), (".webp", 2)],
)
def test_save_rgb_round_trip(tmp_path, suffix, tolerance):
    expected = _gradient_rgb(24, 32)
    path = tmp_path / "out" / "nested" / f"photo{suffix}"
    save_rgb(expected, path)
    _assert_close(read_rgb(path), expected, tolerance)
    assert os.listdir(path.parent) == [path.name]


def test_save_rgb_replaces_and_respects_umask(tmp_path):
    path = tmp_path / "photo.png"
    save_rgb(np.zeros((2, 2, 3), np.uint8), path)
    save_rgb(np.full((3, 3, 3), 7, np.uint8), str(path))
    assert read_rgb(path).tolist() == np.full((3, 3, 3), 7).tolist()
    umask = os.umask(0)
    os.umask(umask)
    assert path.stat().st_mode & 0o777 == 0o666 & ~umask
    assert os.listdir(tmp_path) == ["photo.png"]


@pytest.mark.parametrize(
    ("array", "name"),
    [
        (np.zeros((2, 2, 3), np.float32), "a.png"),
        (np.zeros((2, 2), np.uint8), "a.png"),
        (np.zeros((2, 2, 3), np.uint8), "a.gif"),
        (np.zeros((2, 2, 3), np.uint8), "no_suffix"),
    ],
)
def test_save_rgb_rejects_bad_input(tmp_path, array, name):
    with pytest.raises(ValueError):
        save_rgb(array, tmp_path / name)
    assert os.listdir(tmp_path) == []


def test_save_rgb_leaves_no_temporary_file_when_writing_fails(tmp_path):
    path = tmp_path / "empty.png"
    with pytest.raises(ValueError):
        save_rgb(np.zeros((0, 0, 3), np.uint8), path)
    assert os.listdir(tmp_path) == []
