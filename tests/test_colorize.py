"""Tests for colorkeras.inference.colorize: a real (random-weight) model, real image files."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import warnings
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from colorkeras import color
from colorkeras.images import read_rgb
from colorkeras.inference.colorize import (
    ColorizeReport,
    colorize_array,
    colorize_paths,
    large_photo_note,
    plan_outputs,
)
from colorkeras.inference.manifest import MANIFEST_NAME, OutputManifest, file_stamp
from colorkeras.inference.predictor import toy_city_evidence

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


def _visible(folder) -> list[str]:
    """Names in a folder, without hidden ones (colorize's manifest is hidden)."""
    return sorted(path.name for path in Path(folder).iterdir() if not path.name.startswith("."))


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
    assert "rerun with --overwrite to redo them" in second.to_text()

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
    assert _visible(folder) == ["a.png", "a_color.png"]
    assert (folder / MANIFEST_NAME).is_file()
    assert report.existing == [folder / "a.png"]

    # An output folder inside the input folder is left out of the input on a rerun.
    for _ in range(2):
        colorize_paths(model_path, [folder], folder / "colour", progress=False)
    assert _visible(folder / "colour") == ["a.png", "a_color.png"]


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


# ------------------------------------------------------------------------------------
# Files colorize did not write are never replaced
# ------------------------------------------------------------------------------------
def test_overwrite_never_replaces_a_file_colorize_did_not_write(model_path, tmp_path):
    # The reported case: `colorize M folder/x.jpg --out folder --format png --overwrite`
    # with the user's own folder/x.png beside it.
    folder = tmp_path / "folder"
    _write(folder / "x.jpg", _photo(40, 40), quality=90)
    _write(folder / "x.png", _photo(40, 40, seed=9))
    theirs = (folder / "x.png").read_bytes()
    for overwrite in (True, False):
        report = colorize_paths(
            model_path, [folder / "x.jpg"], folder, fmt="png", overwrite=overwrite, progress=False
        )
        assert (folder / "x.png").read_bytes() == theirs
        assert not report.written and not report.existing and not report.ok
        [(source, reason)] = report.skipped
        assert source == folder / "x.jpg"
        assert "x.png already exists and was not written by colorize; left alone" in reason
        assert "x.png already exists" in report.to_text()


def test_overwrite_redoes_its_own_outputs_but_not_edited_ones(model_path, tmp_path):
    _write(tmp_path / "in" / "a.png", _photo(40, 40))
    _write(tmp_path / "in" / "b.png", _photo(40, 40, seed=1))
    out = tmp_path / "out"
    first = colorize_paths(model_path, [tmp_path / "in"], out, progress=False)
    assert sorted(first.written) == [out / "a.png", out / "b.png"]
    # The user retouches b.png after colorize wrote it: it is theirs now.
    _write(out / "b.png", _photo(40, 40, seed=5))
    edited = (out / "b.png").read_bytes()
    again = colorize_paths(model_path, [tmp_path / "in"], out, overwrite=True, progress=False)
    assert again.written == [out / "a.png"]
    assert [source for source, _ in again.skipped] == [tmp_path / "in" / "b.png"]
    assert (out / "b.png").read_bytes() == edited


def test_a_second_photo_with_the_same_output_name_is_not_taken_for_done(model_path, tmp_path):
    _write(tmp_path / "one" / "x.png", _photo(40, 40))
    _write(tmp_path / "two" / "x.png", _photo(40, 40, seed=3))
    out = tmp_path / "out"
    colorize_paths(model_path, [tmp_path / "one" / "x.png"], out, progress=False)
    first_output = (out / "x.png").read_bytes()
    for overwrite in (False, True):
        report = colorize_paths(
            model_path, [tmp_path / "two" / "x.png"], out, overwrite=overwrite, progress=False
        )
        assert not report.existing and not report.written
        [(_, reason)] = report.skipped
        assert f"colorized copy of another photo, {(tmp_path / 'one' / 'x.png').resolve()}" in reason
        assert (out / "x.png").read_bytes() == first_output


def test_moved_input_folder_still_owns_its_outputs(model_path, tmp_path):
    _write(tmp_path / "in" / "a.png", _photo(40, 40))
    out = tmp_path / "out"
    colorize_paths(model_path, [tmp_path / "in"], out, progress=False)
    (tmp_path / "in").rename(tmp_path / "moved")  # same file: same size and mtime
    report = colorize_paths(model_path, [tmp_path / "moved"], out, progress=False)
    assert report.existing == [tmp_path / "moved" / "a.png"] and report.ok


def test_a_damaged_manifest_makes_colorize_careful_not_careless(model_path, tmp_path):
    _write(tmp_path / "in" / "a.png", _photo(40, 40))
    out = tmp_path / "out"
    colorize_paths(model_path, [tmp_path / "in"], out, progress=False)
    (out / MANIFEST_NAME).write_text("{not json")
    before = (out / "a.png").read_bytes()
    report = colorize_paths(model_path, [tmp_path / "in"], out, overwrite=True, progress=False)
    assert (out / "a.png").read_bytes() == before
    assert "not written by colorize" in report.skipped[0][1]
    assert "is unreadable" in report.warnings[0]


def _failing_save(self, *args, **kwargs):
    raise OSError(28, "No space left on device")


def test_a_failed_write_claims_no_output_path(model_path, tmp_path, monkeypatch):
    # Issue 22: a write that failed left its record entry with "output": null, which made
    # a file the user put at that path later colorize's: replaced by --overwrite, or taken
    # for done without it.
    _write(tmp_path / "in" / "a.png", _photo(40, 40))
    out = tmp_path / "out"
    with monkeypatch.context() as patch:
        patch.setattr(Image.Image, "save", _failing_save)
        failed = colorize_paths(model_path, [tmp_path / "in"], out, progress=False)
    assert not failed.written and "No space left on device" in failed.skipped[0][1]
    _write(out / "a.png", _photo(40, 40, seed=7))
    theirs = (out / "a.png").read_bytes()
    for overwrite in (True, False):
        report = colorize_paths(model_path, [tmp_path / "in"], out, overwrite=overwrite, progress=False)
        assert (out / "a.png").read_bytes() == theirs
        assert not report.written and not report.existing
        assert "a.png already exists and was not written by colorize" in report.skipped[0][1]


KILLED_MID_WRITE = """
import sys, time
from PIL import Image

def hang(self, *args, **kwargs):
    print("writing", flush=True)
    time.sleep(600)

Image.Image.save = hang
from colorkeras.inference.colorize import colorize_paths
colorize_paths(sys.argv[1], [sys.argv[2]], sys.argv[3], progress=False)
"""


def test_a_colorize_killed_mid_write_claims_no_output_path(model_path, tmp_path):
    _write(tmp_path / "in" / "a.png", _photo(40, 40))
    out = tmp_path / "out"
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1]), "TF_CPP_MIN_LOG_LEVEL": "3"}
    process = subprocess.Popen([sys.executable, "-c", KILLED_MID_WRITE, str(model_path), str(tmp_path / "in"),
                                str(out)], stdout=subprocess.PIPE, text=True, env=env)
    try:
        assert process.stdout.readline().strip() == "writing"
    finally:
        process.kill()  # SIGKILL, in the middle of writing a.png
        process.wait()
        process.stdout.close()
    _write(out / "a.png", _photo(40, 40, seed=7))
    theirs = (out / "a.png").read_bytes()
    report = colorize_paths(model_path, [tmp_path / "in"], out, overwrite=True, progress=False)
    assert (out / "a.png").read_bytes() == theirs and not report.written
    assert "not written by colorize" in report.skipped[0][1]


def test_a_second_colorize_into_an_output_folder_in_use_is_refused(model_path, tmp_path, capsys):
    from colorkeras.cli import main
    from colorkeras.fileio import FolderInUse, folder_lock

    # Issue 22: two colorize runs into one --out wrote over each other's record (12
    # entries left for 112 outputs). The first here is stuck writing its first photo.
    _write(tmp_path / "in" / "a.png", _photo(40, 40))
    _write(tmp_path / "more" / "b.png", _photo(40, 40, seed=2))
    out = tmp_path / "out"
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1]), "TF_CPP_MIN_LOG_LEVEL": "3"}
    first = subprocess.Popen([sys.executable, "-c", KILLED_MID_WRITE, str(model_path), str(tmp_path / "in"),
                              str(out)], stdout=subprocess.PIPE, text=True, env=env)
    try:
        assert first.stdout.readline().strip() == "writing"
        with pytest.raises(FolderInUse, match=rf"out is in use by another colorkeras process \(pid {first.pid}\)"):
            colorize_paths(model_path, [tmp_path / "more"], out, progress=False)
        assert main(["colorize", str(model_path), str(tmp_path / "more"), "--out", str(out)]) == 2
        assert capsys.readouterr().err == (f"colorkeras colorize: error: {out} is in use by another colorkeras "
                                           f"process (pid {first.pid})\n")
        assert not (out / "b.png").exists()
    finally:
        first.kill()
        first.wait()
        first.stdout.close()
    report = colorize_paths(model_path, [tmp_path / "more"], out, progress=False)  # free once it died
    assert report.written == [out / "b.png"]
    with folder_lock(out):
        pass


def test_record_updates_keep_what_another_writer_saved_meanwhile(tmp_path):
    # Two writers that read the record before either saved: neither loses the other's entry.
    out = tmp_path / "out"
    _write(tmp_path / "a.png", _photo(8, 8))
    _write(tmp_path / "b.png", _photo(8, 8, seed=1))
    first, second = OutputManifest(out), OutputManifest(out)
    for manifest, name in ((first, "a.png"), (second, "b.png")):
        _write(out / name, _photo(8, 8, seed=5))
        manifest.expect([(tmp_path / name, out / name, file_stamp(out / name))])
        manifest.confirm([out / name])
    assert sorted(json.loads((out / MANIFEST_NAME).read_text())["outputs"]) == ["a.png", "b.png"]
    assert OutputManifest(out).owns(out / "a.png") and OutputManifest(out).owns(out / "b.png")


def test_an_output_renamed_into_place_just_before_a_kill_is_still_owned(model_path, tmp_path, monkeypatch):
    # The other side: a file that colorize put in place is its own even when the run died
    # before it could note so (the record holds what the complete file would be).
    _write(tmp_path / "in" / "a.png", _photo(40, 40))
    out = tmp_path / "out"
    with monkeypatch.context() as patch:
        def killed(self, targets):
            raise KeyboardInterrupt  # as a kill right after the rename

        patch.setattr(OutputManifest, "confirm", killed)
        with pytest.raises(KeyboardInterrupt):
            colorize_paths(model_path, [tmp_path / "in"], out, progress=False)
    assert (out / "a.png").is_file()
    again = colorize_paths(model_path, [tmp_path / "in"], out, progress=False)
    assert again.existing == [tmp_path / "in" / "a.png"] and again.ok
    redone = colorize_paths(model_path, [tmp_path / "in"], out, overwrite=True, progress=False)
    assert redone.written == [out / "a.png"] and redone.ok


# ------------------------------------------------------------------------------------
# A rerun with nothing to do
# ------------------------------------------------------------------------------------
def test_all_done_rerun_neither_loads_the_model_nor_imports_tensorflow(model_path, tmp_path):
    _write(tmp_path / "in" / "a.png", _photo(40, 40))
    out = tmp_path / "out"
    colorize_paths(model_path, [tmp_path / "in"], out, progress=False)
    corrupt = tmp_path / "corrupt.keras"
    corrupt.write_bytes(b"PK\x03\x04 cut short")
    # In a fresh interpreter, so nothing this test session imported counts.
    script = (
        "import sys, time\n"
        "from colorkeras.inference.colorize import colorize_paths\n"
        "start = time.perf_counter()\n"
        f"report = colorize_paths({str(corrupt)!r}, [{str(tmp_path / 'in')!r}], {str(out)!r}, progress=False)\n"
        "print(report.to_text())\n"
        "print('seconds', time.perf_counter() - start)\n"
        "print('loaded', sorted({'keras', 'tensorflow'} & set(sys.modules)))\n"
    )
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])}
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, env=env, timeout=120)
    assert result.returncode == 0, result.stderr
    assert "colorized 0 photo(s); 1 already done (kept); 0 skipped" in result.stdout
    assert "loaded []" in result.stdout
    assert float(result.stdout.split("seconds ")[1].split()[0]) < 2.0
    # Where there is work, the same corrupt file is loaded, and refused clearly.
    from colorkeras.models.registry import ModelLoadError

    with pytest.raises(ModelLoadError, match="corrupt.keras .*damaged"):
        colorize_paths(corrupt, [tmp_path / "in"], out, overwrite=True, progress=False)


# ------------------------------------------------------------------------------------
# Large photos
# ------------------------------------------------------------------------------------
def test_large_photo_note_gives_the_cost_before_decoding(tmp_path):
    _write(tmp_path / "wide.png", _photo(40, 50))
    note = large_photo_note(tmp_path / "wide.png", large_pixels=1000)
    assert note == (
        f"{tmp_path / 'wide.png'}: 50x40 is 0.002 MP; colorizing it takes about 0 s and "
        "0.0 GB of memory on a small CPU"
    )
    assert large_photo_note(tmp_path / "wide.png", large_pixels=2000) is None
    assert large_photo_note(tmp_path / "wide.png", max_pixels=1000, large_pixels=100) is None  # refused later
    (tmp_path / "broken.png").write_bytes(b"not an image")
    assert large_photo_note(tmp_path / "broken.png", large_pixels=1) is None  # reported when read
    # The estimate scales with the photo: a 10000x10000 header would say 100 MP.
    from colorkeras.inference import colorize

    assert 100 * colorize._SECONDS_PER_MEGAPIXEL > 10 and 100e6 * colorize._BYTES_PER_PIXEL > 1e9


def test_photos_over_the_pixel_limit_are_skipped_with_a_reason(model_path, tmp_path, monkeypatch):
    _write(tmp_path / "in" / "big.png", _photo(40, 50))
    _write(tmp_path / "in" / "ok.png", _photo(30, 30))
    # Pillow warns above its own MAX_IMAGE_PIXELS; colorize's messages replace that.
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 1500)
    monkeypatch.setattr("colorkeras.inference.colorize.LARGE_PHOTO_PIXELS", 100)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        report = colorize_paths(model_path, [tmp_path / "in"], tmp_path / "out", max_pixels=1600, progress=False)
    assert report.written == [tmp_path / "out" / "ok.png"]
    [(source, reason)] = report.skipped
    assert source == tmp_path / "in" / "big.png"
    assert "50x40 = 2,000 pixels, more than the limit of 1,600" in reason
    assert [w for w in report.warnings if "MP; colorizing it takes about" in w] == [
        f"{tmp_path / 'in' / 'ok.png'}: 30x30 is 0.0009 MP; colorizing it takes about 0 s and "
        "0.0 GB of memory on a small CPU"
    ]
    with pytest.raises(ValueError, match="max_pixels"):
        colorize_paths(model_path, [tmp_path / "in"], tmp_path / "out", max_pixels=0, progress=False)


# ------------------------------------------------------------------------------------
# A model trained on the toy city
# ------------------------------------------------------------------------------------
@pytest.fixture
def toy_run(model_path, tmp_path):
    """A run folder as `train` leaves it, over data prepared from a real toy city."""
    from colorkeras.data.prepare import PrepareSettings, prepare
    from colorkeras.data.synthetic import write_toy_city

    write_toy_city(tmp_path / "city", per_class=3, size=16)
    prepare(tmp_path / "city", tmp_path / "prepared", PrepareSettings(image_size=16), workers=1, progress=False)
    run = tmp_path / "run"
    run.mkdir()
    (run / "best.keras").write_bytes(model_path.read_bytes())
    dataset = {"root": str((tmp_path / "prepared").resolve()), "image_size": 16}
    (run / "config.json").write_text(json.dumps({"model": "baseline", "dataset": dataset}))
    return run


def test_a_toy_city_model_gets_one_warning_per_run(toy_run, tmp_path):
    for index in range(3):
        _write(tmp_path / "photos" / f"p{index}.png", _photo(40, 40, seed=index))
    for model in (toy_run, toy_run / "best.keras"):
        report = colorize_paths(model, [tmp_path / "photos"], tmp_path / f"out_{model.name}",
                                batch_size=2, progress=False)
        assert len(report.written) == 3
        toy = [w for w in report.warnings if "synthetic toy city" in w]
        assert len(toy) == 1
        assert "prepared/settings.json says its source is synthetic" in toy[0]
        assert 'README section "Reproduce the study"' in toy[0]
        assert report.to_text().count("synthetic toy city") == 1


def test_toy_city_evidence_reads_the_run_records(toy_run, tmp_path):
    settings = tmp_path / "prepared" / "settings.json"
    assert "settings.json says its source is synthetic" in toy_city_evidence(toy_run)
    # Datasets prepared before prepare recorded it: the source folder's marker tells.
    document = json.loads(settings.read_text())
    assert document.pop("synthetic") is True
    settings.write_text(json.dumps(document))
    assert "city, written by toy-city" in toy_city_evidence(toy_run)
    # A source assembled from split folders carries the marker one level down.
    (tmp_path / "city" / "toy_city.json").rename(tmp_path / "city" / "park" / "toy_city.json")
    assert "park, written by toy-city" in toy_city_evidence(toy_run)
    (tmp_path / "city" / "park" / "toy_city.json").unlink()  # data from before the marker existed
    assert toy_city_evidence(toy_run) is None  # a real photo folder of any name says nothing
    settings.write_text(json.dumps({**document, "synthetic": True}))
    assert "settings.json says its source is synthetic" in toy_city_evidence(toy_run)
    settings.write_text(json.dumps({**document, "source_dir": str(tmp_path / "toy_city")}))
    assert "named as the demo names" in toy_city_evidence(toy_run)
    config = json.loads((toy_run / "config.json").read_text())
    config["dataset"] = {"root": str(tmp_path / "elsewhere"), "synthetic": True}
    (toy_run / "config.json").write_text(json.dumps(config))
    assert "config.json says its dataset is synthetic" in toy_city_evidence(toy_run)
    (toy_run / "config.json").write_text("{broken")
    assert toy_city_evidence(toy_run / "best.keras") is None


def test_the_toy_warning_comes_before_any_output_and_on_a_rerun(toy_run, tmp_path, capsys, monkeypatch):
    from colorkeras.inference import colorize

    _write(tmp_path / "photos" / "p.png", _photo(40, 40))
    printed_before_writing = []
    original = colorize.stage_rgb

    def save(rgb, target):
        printed_before_writing.append(capsys.readouterr().out)
        return original(rgb, target)

    monkeypatch.setattr(colorize, "stage_rgb", save)
    report = colorize_paths(toy_run, [tmp_path / "photos"], tmp_path / "out", progress=True)
    assert len(report.written) == 1
    assert "warning: this model was trained on the synthetic toy city" in printed_before_writing[0]
    again = colorize_paths(toy_run, [tmp_path / "photos"], tmp_path / "out", progress=False)
    assert not again.written and len(again.existing) == 1
    assert [w for w in again.warnings if "synthetic toy city" in w]  # a rerun says it too


def test_a_temperature_given_to_a_regression_model_is_noted(model_path, tmp_path):
    _write(tmp_path / "photos" / "p.png", _photo(40, 40))
    report = colorize_paths(model_path, [tmp_path / "photos"], tmp_path / "out", progress=False, temperature=0.5)
    assert "the model's objective (mse) is a regression: --temperature has no effect" in report.warnings
    plain = colorize_paths(model_path, [tmp_path / "photos"], tmp_path / "out2", progress=False)
    assert not [w for w in plain.warnings if "temperature" in w]
