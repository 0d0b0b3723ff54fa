"""Tests for colorkeras.colorize: a real (random-weight) model, real image files."""

from __future__ import annotations


import numpy as np
import pytest
from PIL import Image

from colorkeras import color
from colorkeras.colorize import (
    ColorizeReport,
    colorize_array,
    colorize_paths,
    plan_outputs,
)
from colorkeras.images import read_rgb

MODEL_SIZE = 32
# Random weights predict ab of about 0.06; this bias on the last conv makes the model
# paint a clear, in-gamut tint so tests can see colour put on the photo.
TINT_AB = (20.0, 30.0)


@pytest.fixture(scope="module")
def model_path(tmp_path_factory):
    from colorkeras.models.registry import build_model

    model = build_model("baseline", MODEL_SIZE)
    last_conv = model.get_layer("decoder").get_layer("decoder_conv5")
    last_conv.bias.assign(np.arctanh(np.array(TINT_AB) / color.AB_SCALE).astype("float32"))
    path = tmp_path_factory.mktemp("model") / "baseline32.keras"
    model.save(path)
    return path


@pytest.fixture(scope="module")
def model(model_path):
    from colorkeras.models.registry import load_model

    return load_model(model_path)


def _photo(height: int, width: int, seed: int = 0) -> np.ndarray:
    """A colour photo with fine detail (noise) on smooth gradients."""
    rng = np.random.default_rng(seed)
    rows, columns = np.mgrid[0:height, 0:width]
    base = np.stack(
        [
            40 + 160 * rows / max(1, height - 1),
            60 + 140 * columns / max(1, width - 1),
            120 + 60 * np.sin(rows / 7.0) * np.cos(columns / 5.0),
        ],
        axis=-1,
    )
    return np.clip(base + rng.normal(0, 12, base.shape), 0, 255).astype(np.uint8)


def _write(path, rgb: np.ndarray, mode: str = "RGB", **options) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    image = Image.fromarray(rgb)
    if mode != "RGB":
        image = image.convert(mode)
    image.save(path, **options)


def _median_delta_l(first: np.ndarray, second: np.ndarray) -> float:
    return float(np.median(np.abs(color.rgb_to_l(first) - color.rgb_to_l(second))))


def _mean_chroma(rgb: np.ndarray) -> float:
    return float(np.hypot(*np.moveaxis(color.rgb_to_lab(rgb)[..., 1:], -1, 0)).mean())


# ------------------------------------------------------------------------------------
# One photo
# ------------------------------------------------------------------------------------
def test_colour_photo_keeps_size_and_its_own_lightness(model_path, tmp_path):
    photo = _photo(200, 300)
    _write(tmp_path / "in" / "street.png", photo)
    report = colorize_paths(
        model_path, [tmp_path / "in" / "street.png"], tmp_path / "out", progress=False
    )
    assert report.written == [tmp_path / "out" / "street.png"]
    assert report.ok and not report.warnings
    result = read_rgb(report.written[0])
    assert result.shape == (200, 300, 3)
    # The output's L is the photo's own L, noise and all: detail kept at full resolution.
    assert _median_delta_l(result, photo) < 1.0
    # ...and the predicted colour is on it.
    assert _mean_chroma(result) > 20


def test_grayscale_file_comes_out_in_colour_at_its_size(model_path, tmp_path):
    gray = np.asarray(Image.fromarray(_photo(200, 300, seed=1)).convert("L"))
    _write(tmp_path / "old.png", np.asarray(gray), mode="L")
    report = colorize_paths(model_path, [tmp_path / "old.png"], tmp_path / "out", progress=False)
    result = read_rgb(report.written[0])
    assert result.shape == (200, 300, 3)
    assert _median_delta_l(result, np.repeat(gray[..., None], 3, axis=-1)) < 1.0
    assert _mean_chroma(result) > 20


def test_small_photo_is_upsampled_with_a_warning(model_path, tmp_path):
    _write(tmp_path / "tiny.png", _photo(24, 40))
    report = colorize_paths(model_path, [tmp_path / "tiny.png"], tmp_path / "out", progress=False)
    assert read_rgb(report.written[0]).shape == (24, 40, 3)
    assert report.warnings == [
        f"{tmp_path / 'tiny.png'}: photo 40x24 is smaller than the model input 32x32; upsampled"
    ]


def test_colorize_array_accepts_grey_and_colour_arrays(model):
    photo = _photo(50, 70)
    for image in (photo, photo[..., 0], photo[..., :1]):
        result = colorize_array(model, image)
        assert result.dtype == np.uint8 and result.shape == (50, 70, 3)
    with pytest.raises(ValueError, match="uint8"):
        colorize_array(model, photo.astype(np.float32))


def test_exif_rotated_jpeg_comes_out_upright(model_path, tmp_path):
    stored = _photo(40, 60)  # stored landscape; orientation 6 displays it portrait
    exif = Image.Exif()
    exif[0x0112] = 6
    _write(tmp_path / "rotated.jpg", stored, exif=exif.tobytes(), quality=95)
    upright = read_rgb(tmp_path / "rotated.jpg")
    assert upright.shape == (60, 40, 3)

    report = colorize_paths(
        model_path, [tmp_path / "rotated.jpg"], tmp_path / "out", progress=False
    )
    result = read_rgb(report.written[0])
    assert result.shape == (60, 40, 3)
    assert _median_delta_l(result, upright) < 1.5  # a second JPEG round trip
    # Not merely the right shape: the content is the upright one, not a transposed one.
    assert _median_delta_l(result, np.ascontiguousarray(upright[::-1, ::-1])) > 5


# ------------------------------------------------------------------------------------
# Folders, bad files, reruns
# ------------------------------------------------------------------------------------
def test_folder_keeps_structure_and_reports_corrupt_files(model_path, tmp_path):
    source = tmp_path / "archive"
    _write(source / "a.jpg", _photo(48, 64, seed=2), quality=90)
    _write(source / "1920s" / "b.png", _photo(64, 48, seed=3))
    _write(source / "1920s" / "c.png", _photo(40, 40, seed=4), mode="L")
    (source / "1920s" / "broken.jpg").write_bytes(b"\xff\xd8\xff\xe0 not really a jpeg")
    (source / "notes.txt").write_text("not a photo")

    report = colorize_paths(model_path, [source], tmp_path / "out", progress=False, batch_size=2)

    out = tmp_path / "out"
    expected = [out / "1920s" / "b.png", out / "1920s" / "c.png", out / "a.jpg"]
    assert sorted(report.written) == expected
    assert [path for path, _ in report.skipped] == [source / "1920s" / "broken.jpg"]
    assert not report.ok
    assert "broken.jpg" in report.to_text()
    assert read_rgb(out / "1920s" / "b.png").shape == (64, 48, 3)


def test_rerun_keeps_existing_outputs_unless_overwrite(model_path, tmp_path):
    for index in range(3):
        _write(tmp_path / "in" / f"p{index}.png", _photo(40, 40, seed=index))
    out = tmp_path / "out"
    first = colorize_paths(model_path, [tmp_path / "in"], out, progress=False)
    assert len(first.written) == 3
    (out / "p1.png").unlink()  # as if the first run had stopped before this one

    second = colorize_paths(model_path, [tmp_path / "in"], out, progress=False)
    assert second.written == [out / "p1.png"]
    assert sorted(second.existing) == [tmp_path / "in" / "p0.png", tmp_path / "in" / "p2.png"]
    assert "already done" in second.to_text()

    third = colorize_paths(model_path, [tmp_path / "in"], out, overwrite=True, progress=False)
    assert len(third.written) == 3 and not third.existing


def test_inputs_are_never_overwritten(model_path, tmp_path):
    folder = tmp_path / "photos"
    _write(folder / "a.png", _photo(40, 40))
    original = (folder / "a.png").read_bytes()
    for out_dir, inputs in ((folder, [folder]), (folder, [folder / "a.png"])):
        with pytest.raises(ValueError, match="is an input file"):
            colorize_paths(model_path, inputs, out_dir, overwrite=True, progress=False)
    assert (folder / "a.png").read_bytes() == original
    assert sorted(path.name for path in folder.iterdir()) == ["a.png"]


def test_outputs_beside_inputs_are_not_colorized_again(model_path, tmp_path):
    folder = tmp_path / "photos"
    _write(folder / "a.png", _photo(40, 40))
    for _ in range(2):
        report = colorize_paths(model_path, [folder], folder, suffix="_color", progress=False)
    assert sorted(path.name for path in folder.iterdir()) == ["a.png", "a_color.png"]
    assert report.existing == [folder / "a.png"]

    # An output folder inside the input folder is left out of the input on a rerun.
    for _ in range(2):
        colorize_paths(model_path, [folder], folder / "colour", progress=False)
    assert sorted(path.name for path in (folder / "colour").iterdir()) == ["a.png", "a_color.png"]


def test_output_format_and_suffix(model_path, tmp_path):
    _write(tmp_path / "in" / "a.jpg", _photo(40, 40), quality=90)
    photo = tmp_path / "in" / "a.jpg"
    default = colorize_paths(model_path, [photo], tmp_path / "out", progress=False)
    assert default.written == [tmp_path / "out" / "a.jpg"]
    with Image.open(default.written[0]) as image:
        assert image.format == "JPEG"
    png = colorize_paths(
        model_path, [photo], tmp_path / "out", suffix="_c", fmt="PNG", progress=False
    )
    assert png.written == [tmp_path / "out" / "a_c.png"]
    with Image.open(png.written[0]) as image:
        assert image.format == "PNG"
    with pytest.raises(ValueError, match="unknown output format"):
        colorize_paths(model_path, [tmp_path / "in"], tmp_path / "out", fmt="gif", progress=False)


def test_plan_reports_missing_inputs_and_colliding_outputs(tmp_path):
    _write(tmp_path / "in" / "a.png", _photo(8, 8))
    _write(tmp_path / "in" / "a.jpg", _photo(8, 8))
    jobs, skipped = plan_outputs(
        [tmp_path / "in", tmp_path / "in" / "a.png", tmp_path / "missing.jpg"],
        tmp_path / "out",
        fmt="png",
    )
    assert [target.name for _, target in jobs] == ["a.png"]
    reasons = dict(skipped)
    assert reasons[tmp_path / "missing.jpg"] == "not found"
    assert "already the output of" in reasons[tmp_path / "in" / "a.png"]


def test_report_text_lists_everything():
    report = ColorizeReport(skipped=[("x.jpg", "corrupt")], warnings=["small"])
    text = report.to_text()
    assert "0 photo(s)" in text and "x.jpg: corrupt" in text and "warning: small" in text


def test_large_photo_keeps_its_resolution(model, tmp_path):
    photo = np.asarray(Image.fromarray(_photo(200, 300)).resize((3000, 2000), Image.BICUBIC))
    _write(tmp_path / "big.jpg", photo, quality=90)
    report = colorize_paths(model, [tmp_path / "big.jpg"], tmp_path / "out", progress=False)
    assert read_rgb(report.written[0]).shape == (2000, 3000, 3)
