"""Colour from a reference photo through the one Predictor: photos, folders of references,
films and the command line (issue 19's interfaces), with classical transfers and a real
(random-weight) exemplar model."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from colorkeras import color
from colorkeras.cli import main
from colorkeras.errors import InvalidArgument
from colorkeras.inference.colorize import colorize_paths
from colorkeras.inference.predictor import Predictor
from colorkeras.inference.reference import reference_lab
from colorkeras.inference.video import colorize_video_paths
from colorkeras.training import shipped


def striped(height: int, width: int, vertical: bool, colors) -> np.ndarray:
    """A photo of two colours in stripes (vertical or horizontal): a layout retrieval can tell."""
    rgb = np.zeros((height, width, 3), np.uint8)
    axis = np.arange(width if vertical else height) // 8 % 2
    mask = axis[None, :] if vertical else axis[:, None]
    rgb[:] = np.where(mask[..., None].astype(bool), colors[0], colors[1])
    return rgb


def grey(rgb: np.ndarray) -> np.ndarray:
    return np.rint(color.rgb_to_l(rgb) * 2.55).astype(np.uint8)


def mean_ab(rgb: np.ndarray) -> np.ndarray:
    return color.rgb_to_lab(rgb)[..., 1:].reshape(-1, 2).mean(axis=0)


RED_ON_WHITE = ((200, 40, 40), (235, 235, 235))
BLUE_ON_WHITE = ((40, 60, 200), (235, 235, 235))


def test_global_transfer_behind_the_predictor_takes_the_reference_colours():
    target = grey(striped(96, 128, True, RED_ON_WHITE))
    for colors, sign in ((RED_ON_WHITE, 1), (BLUE_ON_WHITE, -1)):
        out = Predictor.open("global").colorize(target, reference=reference_lab(striped(60, 80, True, colors)))
        assert out.shape == (96, 128, 3)
        # the dark stripes take the reference's dark colour: red (b > 0) or blue (b < 0)
        dark = color.rgb_to_l(out) < 60
        assert sign * color.rgb_to_lab(out)[dark][:, 2].mean() > 15
        np.testing.assert_allclose(color.rgb_to_l(out), color.rgb_to_l(np.repeat(target[..., None], 3, -1)), atol=1.0)


def test_a_reference_goes_only_to_a_model_that_takes_one(tiny_regression_model):
    photo = grey(striped(64, 64, True, RED_ON_WHITE))
    lab = reference_lab(striped(64, 64, True, RED_ON_WHITE))
    with pytest.raises(InvalidArgument, match="give one"):
        Predictor.open("welsh").colorize(photo)
    with pytest.raises(InvalidArgument, match="colours without a reference"):
        Predictor.open(tiny_regression_model).colorize(photo, reference=lab)


@pytest.fixture
def tiny_regression_model():
    from colorkeras.models import build_model

    return build_model("baseline", 32, weights=None)


def test_exemplar_model_uses_the_reference_at_any_photo_size():
    from colorkeras.models import build_model

    model = build_model("exemplar", 32, weights=None, base_filters=8, depth=3)
    predictor = Predictor.open(model)
    assert predictor.takes_reference
    photo = grey(striped(50, 70, False, RED_ON_WHITE))
    red = predictor.colorize(photo, reference=reference_lab(striped(90, 40, True, RED_ON_WHITE)))
    blue = predictor.colorize(photo, reference=reference_lab(striped(90, 40, True, BLUE_ON_WHITE)))
    assert red.shape == blue.shape == (50, 70, 3)
    assert np.abs(red.astype(int) - blue.astype(int)).max() > 0  # the reference changes the colour
    batch = predictor.predict_at_size(np.zeros((2, 64, 64, 1), np.float32),
                                      [reference_lab(striped(40, 40, True, c)) for c in (RED_ON_WHITE, BLUE_ON_WHITE)])
    assert batch.shape == (2, 64, 64, 2)


def test_a_folder_of_references_gives_each_photo_the_most_similar(tmp_path):
    inputs, refs = tmp_path / "in", tmp_path / "refs"
    inputs.mkdir(), refs.mkdir()
    Image.fromarray(grey(striped(64, 96, True, RED_ON_WHITE))).save(inputs / "vertical.png")
    Image.fromarray(grey(striped(64, 96, False, RED_ON_WHITE))).save(inputs / "horizontal.png")
    Image.fromarray(striped(80, 120, True, BLUE_ON_WHITE)).save(refs / "blue_vertical.png")
    Image.fromarray(striped(80, 120, False, RED_ON_WHITE)).save(refs / "red_horizontal.png")
    Image.fromarray(np.full((30, 30, 3), 128, np.uint8)).save(refs / "grey.png")
    report = colorize_paths("global", [inputs], tmp_path / "out", reference=refs, progress=False)
    chosen = {source.name: reference.name for source, reference, _ in report.references}
    assert chosen == {"vertical.png": "blue_vertical.png", "horizontal.png": "red_horizontal.png"}
    assert any("grey.png" in warning and "grey" in warning for warning in report.warnings)
    assert "reference" in report.to_text() and "blue_vertical.png" in report.to_text()
    vertical = np.asarray(Image.open(tmp_path / "out" / "vertical.png"))
    horizontal = np.asarray(Image.open(tmp_path / "out" / "horizontal.png"))
    assert mean_ab(vertical)[1] < -5 < 5 < mean_ab(horizontal)[1]  # blue (b < 0) and red (b > 0)


def test_a_film_takes_its_colour_from_one_reference(tmp_path):
    frames = tmp_path / "film"
    frames.mkdir()
    base = grey(striped(64, 96, True, RED_ON_WHITE))
    for index in range(5):
        Image.fromarray(np.roll(base, index, axis=1)).save(frames / f"f{index:03d}.png")
    Image.fromarray(striped(64, 96, True, RED_ON_WHITE)).save(tmp_path / "place.png")
    report = colorize_video_paths("global", [frames], tmp_path / "out", reference=tmp_path / "place.png",
                                  progress=False)
    [film] = report.written
    assert film.frames == 5 and film.reference[0].name == "place.png"
    assert "reference" in report.to_text()


def test_command_line_reference_errors_and_success(tmp_path, capsys, monkeypatch):
    photo = tmp_path / "photo.png"
    Image.fromarray(grey(striped(64, 64, True, RED_ON_WHITE))).save(photo)
    Image.fromarray(np.full((40, 40, 3), 120, np.uint8)).save(tmp_path / "grey.png")
    Image.fromarray(striped(64, 64, True, RED_ON_WHITE)).save(tmp_path / "red.png")
    assert main(["colorize", "welsh", str(photo), "--reference", str(tmp_path / "grey.png"),
                 "--out", str(tmp_path / "a")]) == 2
    assert "is grey" in capsys.readouterr().err
    assert main(["colorize", "welsh", str(photo), "--out", str(tmp_path / "a")]) == 2
    assert "give one (--reference)" in capsys.readouterr().err
    monkeypatch.setattr(shipped, "EXEMPLAR_MODEL_DIR", tmp_path / "no_exemplar")
    assert main(["colorize", str(photo), "--reference", str(tmp_path / "red.png"), "--out", str(tmp_path / "a")]) == 2
    assert "no exemplar model" in capsys.readouterr().err
    assert not (tmp_path / "a" / "photo.png").exists()
    assert main(["colorize", "welsh", str(photo), "--reference", str(tmp_path / "red.png"),
                 "--out", str(tmp_path / "b")]) == 0
    out = np.asarray(Image.open(tmp_path / "b" / "photo.png"))
    assert mean_ab(out)[1] > 5  # the red stripes' colour reached the photo


def test_the_app_service_colours_from_an_uploaded_reference(tmp_path):
    from colorkeras.inference.service import TRANSFER_LABELS, ColorizeService

    photo, red, grey_ref = tmp_path / "photo.png", tmp_path / "red.png", tmp_path / "grey.png"
    Image.fromarray(grey(striped(64, 64, True, RED_ON_WHITE))).save(photo)
    Image.fromarray(striped(64, 64, True, RED_ON_WHITE)).save(red)
    Image.fromarray(np.full((40, 40, 3), 120, np.uint8)).save(grey_ref)
    service = ColorizeService(temp_parent=tmp_path)
    try:
        label = TRANSFER_LABELS["welsh"]
        assert service.model_info(label).takes_reference
        without = service.colorize_photos([photo], label)
        assert not without.results and "upload one" in without.summary(1)
        refused = service.colorize_photos([photo], label, reference=grey_ref)
        assert not refused.results and "grey" in refused.summary(1)
        done = service.colorize_photos([photo], label, reference=red)
        [result] = done.results
        assert mean_ab(np.asarray(Image.open(result.download)))[1] > 5
        ignored = service.colorize_photos([photo], None, reference=red)  # the automatic default model
        assert ignored.results and "not used" in ignored.summary(1)
    finally:
        service.close()
