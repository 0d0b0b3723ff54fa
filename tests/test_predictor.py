"""Tests for colorkeras.inference.predictor: a real (random-weight) model, real files and run folders."""

from __future__ import annotations

import json

import numpy as np
import pytest

from colorkeras import color
from colorkeras.errors import ColorkerasError
from colorkeras.inference.predictor import Predictor

MODEL_SIZE = 16
# Random weights predict ab of about 0.06; this bias on the last conv makes the model
# paint a clear tint, so a test can tell colour was put on the photo.
TINT_AB = (20.0, 30.0)


@pytest.fixture(scope="module")
def model():
    from colorkeras.models.registry import build_model

    model = build_model("baseline", MODEL_SIZE)
    last_conv = model.get_layer("decoder").get_layer("decoder_conv5")
    last_conv.bias.assign(np.arctanh(np.array(TINT_AB) / color.AB_SCALE).astype("float32"))
    return model


@pytest.fixture(scope="module")
def model_file(model, tmp_path_factory):
    path = tmp_path_factory.mktemp("bare") / "baseline16.keras"
    model.save(path)
    return path


def _run(folder, model_file, record: dict):
    """A run folder as training leaves it: best.keras and config.json."""
    folder.mkdir()
    (folder / "best.keras").write_bytes(model_file.read_bytes())
    (folder / "config.json").write_text(json.dumps(record))
    return folder


def _photo(height: int, width: int, seed: int = 0) -> np.ndarray:
    """A colour photo with fine detail (noise) on smooth gradients."""
    rng = np.random.default_rng(seed)
    rows, columns = np.mgrid[0:height, 0:width]
    base = np.stack([40 + 160 * rows / height, 60 + 140 * columns / width,
                     120 + 60 * np.sin(rows / 7.0) * np.cos(columns / 5.0)], axis=-1)
    return np.clip(base + rng.normal(0, 12, base.shape), 0, 255).astype(np.uint8)


def test_predict_normalized_is_the_model_in_batches_of_any_size(model):
    l_norm = np.random.default_rng(0).uniform(-1, 1, (5, MODEL_SIZE, MODEL_SIZE, 1)).astype(np.float32)
    expected = np.asarray(model.predict(l_norm, verbose=0))  # the regression's decode is identity
    for batch_size in (1, 2, 8):
        predictor = Predictor(model, batch_size=batch_size)
        for given in (l_norm, l_norm[..., 0]):
            ab = predictor.predict_normalized(given)
            assert ab.dtype == np.float32 and ab.shape == (5, MODEL_SIZE, MODEL_SIZE, 2)
            np.testing.assert_allclose(ab, expected, atol=1e-5)
    with pytest.raises(ColorkerasError, match=r"\(N, 16, 16\)"):
        Predictor(model).predict_normalized(l_norm[:, :8])


def test_colorize_keeps_a_non_square_photo_its_size_and_its_own_lightness(model):
    photo = _photo(45, 70)
    result = Predictor(model).colorize(photo)
    assert result.dtype == np.uint8 and result.shape == (45, 70, 3)
    # The output's L is the photo's own, noise and all (within uint8 rounding)...
    assert np.median(np.abs(color.rgb_to_l(result) - color.rgb_to_l(photo))) < 1.0
    # ...and the predicted tint is on it.
    ab = color.rgb_to_lab(result)[..., 1:]
    assert np.hypot(ab[..., 0], ab[..., 1]).mean() > 20


def test_colorize_many_keeps_order_and_runs_a_batch_early_at_the_pixel_budget(model):
    photos = [(f"p{index}", _photo(40, 40 + 10 * index, seed=index)) for index in range(5)]
    # 1,600, 2,000, 2,400, 2,800 and 3,200 pixels: a budget of 3,000 closes a batch once
    # it is reached (the last photo alone reaches it), well before batch_size 8.
    predictor = Predictor(model, batch_size=8, pixel_budget=3_000)
    batches = list(predictor.colorize_many(photos))
    assert [[item.key for item in batch] for batch in batches] == [["p0", "p1"], ["p2", "p3"], ["p4"]]
    for (key, photo), item in zip(photos, [item for batch in batches for item in batch]):
        np.testing.assert_array_equal(item.rgb(), predictor.colorize(photo))


def test_a_run_folder_and_a_bare_keras_file_both_open(model, model_file, tmp_path):
    run = _run(tmp_path / "run", model_file, {"model": "baseline", "objective": {"name": "l1"}})
    for path in (run, run / "best.keras"):  # a .keras inside a run folder is the run's
        predictor = Predictor.open(path, batch_size=3)
        assert predictor.source_run is not None and predictor.source_run.root == run
        assert predictor.objective.name == "l1"  # from the run's record
        assert predictor.image_size == MODEL_SIZE and predictor.batch_size == 3
        assert predictor.model.family == "baseline"
    bare = Predictor.open(model_file)
    assert bare.source_run is None and bare.objective.name == "mse"
    photo = _photo(30, 20)
    np.testing.assert_array_equal(bare.colorize(photo), Predictor(model).colorize(photo))


def test_the_toy_city_warning_follows_the_run_record(model_file, tmp_path):
    toy = _run(tmp_path / "toy", model_file, {"model": "baseline", "dataset": {"synthetic": True}})
    warning = Predictor.open(toy).synthetic_warning()
    assert "trained on the synthetic toy city" in warning
    assert f"{toy / 'config.json'} says its dataset is synthetic" in warning
    real = _run(tmp_path / "real", model_file, {"model": "baseline", "dataset": {"synthetic": False}})
    assert Predictor.open(real).synthetic_warning() is None
    assert Predictor.open(model_file).synthetic_warning() is None  # no run: nothing known
