"""Objectives beyond regression (issue 11): the colourfulness term, ab classification fitted
to a prepared dataset, the decode temperature, and a classify run trained and evaluated."""

from __future__ import annotations

import json

import numpy as np
import pytest

from colorkeras import color
from colorkeras.training.objectives import Classification, get_objective

pytestmark = pytest.mark.backend


def _ab_batch(seed=0, size=8):
    """Normalised ab of two colourful images."""
    rng = np.random.default_rng(seed)
    return rng.uniform(-0.5, 0.5, (2, size, size, 2)).astype("float32")


# ------------------------------------------------------------------------------------
# "colourful": regression plus the gap in chroma mean and spread
# ------------------------------------------------------------------------------------
def test_colourful_loss_is_zero_at_the_truth_and_grows_for_a_greyed_prediction():
    objective = get_objective("colourful")
    loss = objective.loss
    truth = _ab_batch()
    assert float(loss(truth, truth)) == pytest.approx(0.0, abs=1e-7)
    greyed = 0.5 * truth  # same hues, half the chroma
    mse = float(np.mean((greyed - truth) ** 2))
    colorful = float(loss(truth, greyed))
    # The MSE alone, plus the chroma gap (mean and spread halved) times lambda.
    chroma = np.sqrt((truth**2).sum(-1) + 1e-6)
    half = np.sqrt(((0.5 * truth) ** 2).sum(-1) + 1e-6)
    gap = np.mean((chroma.mean((1, 2)) - half.mean((1, 2))) ** 2 + (chroma.std((1, 2)) - half.std((1, 2))) ** 2)
    assert colorful == pytest.approx(mse + objective.colorfulness_weight * gap, rel=1e-3)
    assert colorful > float(loss(truth, 0.9 * truth)) > 0
    # Runs record the weight under the name they always have.
    assert objective.to_dict()["colourfulness_weight"] == objective.colorfulness_weight == 1.0
    assert get_objective(objective.to_dict() | {"colourfulness_weight": 0.25}).colorfulness_weight == 0.25


def test_the_colourful_loss_keeps_the_name_saved_configs_carry():
    import keras

    loss = get_objective("colourful").loss
    assert keras.saving.get_registered_name(type(loss)) == "colorkeras>ColourfulnessLoss"
    config = keras.saving.serialize_keras_object(loss)
    assert config["registered_name"] == "colorkeras>ColourfulnessLoss" and config["config"]["name"] == "colourfulness_loss"
    again = keras.saving.deserialize_keras_object(config)
    truth = _ab_batch()
    assert float(again(truth, 0.5 * truth)) == pytest.approx(float(loss(truth, 0.5 * truth)))


# ------------------------------------------------------------------------------------
# "classify": bins from the data, rebalancing, soft encoding, annealed-mean decoding
# ------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def fitted(prepared_toy_city):
    return get_objective("classify").fit(prepared_toy_city)


def test_classify_must_be_fitted_before_it_says_its_channels():
    from colorkeras.errors import ColorkerasError

    with pytest.raises(ColorkerasError, match="fit"):
        get_objective("classify").output_channels


def test_classify_bins_cover_every_training_pixel(fitted, prepared_toy_city):
    from colorkeras.data.pipeline import PreparedDataset

    bins = fitted.bins
    assert fitted.output_channels == len(bins) > 4 and bins.shape == (len(bins), 2)
    np.testing.assert_array_equal(bins % 10, 0)  # centres of the 10-unit ab grid
    _, stored = PreparedDataset.open(prepared_toy_city).arrays("train")
    ab = color.dequantize_ab(np.asarray(stored, np.float64)).reshape(-1, 2)
    nearest = np.sqrt(((ab[:, None, :] - bins[None]) ** 2).sum(-1)).min(axis=1)
    assert nearest.max() <= 5 * np.sqrt(2) + 1e-4  # every pixel lies in a kept cell
    # Only cells that occur: each bin holds some training pixel.
    owner = np.sqrt(((ab[:, None, :] - bins[None]) ** 2).sum(-1)).argmin(axis=1)
    assert set(owner) == set(range(len(bins)))


def test_classify_rebalancing_weights_have_mean_one_and_favour_rare_bins(fitted):
    p, w = fitted.probabilities.astype(np.float64), fitted.weights.astype(np.float64)
    assert p.sum() == pytest.approx(1.0, abs=1e-5) and (p > 0).all()
    assert (p * w).sum() == pytest.approx(1.0, abs=1e-5)
    expected = 1 / (0.5 * p + 0.5 / len(p))
    np.testing.assert_allclose(w, expected / (p * expected).sum(), rtol=1e-4)
    assert w[p.argmin()] > w[p.argmax()]


def test_classify_decodes_a_one_hot_to_its_bin_and_anneals_between_mean_and_mode(fitted):
    q = fitted.output_channels
    centres = color.normalize_ab(fitted.bins)
    one_hot = np.full((q, q), -1e4, np.float32)
    np.fill_diagonal(one_hot, 0.0)
    np.testing.assert_allclose(fitted.decode(one_hot, temperature=1.0), centres, atol=1e-6)
    logits = np.random.default_rng(0).normal(0, 2, (3, 4, q)).astype("float32")
    probabilities = np.exp(logits) / np.exp(logits).sum(-1, keepdims=True)
    np.testing.assert_allclose(fitted.decode(logits, temperature=1.0), probabilities @ centres, atol=1e-5)
    np.testing.assert_allclose(fitted.decode(logits, temperature=1e-3), centres[logits.argmax(-1)], atol=1e-5)
    default = fitted.decode(logits)  # T = 0.38 by default: between the two
    np.testing.assert_allclose(default, fitted.decode(logits, temperature=0.38))
    from colorkeras.errors import ColorkerasError

    with pytest.raises(ColorkerasError, match="temperature"):
        fitted.decode(logits, temperature=0)


def test_regression_ignores_the_temperature():
    ab = _ab_batch()
    assert get_objective("mse").decode(ab, temperature=0.1) is ab
    assert not get_objective("mse").uses_temperature and get_objective("classify").uses_temperature


def test_classify_encodes_a_bin_centre_onto_itself_and_soft_encodes_between(fitted):
    from keras import ops

    centres = color.normalize_ab(fitted.bins).astype("float32")
    target = ops.convert_to_numpy(fitted.encode(centres))
    assert target.shape == (len(centres), len(centres))
    np.testing.assert_allclose(target.sum(-1), 1.0, atol=1e-5)
    assert (target.argmax(-1) == np.arange(len(centres))).all()
    assert ((target > 0).sum(-1) <= fitted.neighbours).all()
    # Decoding the soft target at T = 1 lands near the colour it encodes (within a cell).
    between = centres[:1] + np.float32(3 / 127.5)
    decoded = fitted.decode(np.log(ops.convert_to_numpy(fitted.encode(between)) + 1e-12), temperature=1.0)
    assert np.abs(color.denormalize_ab(decoded - between)).max() < 10


def test_classify_loss_is_lower_for_logits_at_the_true_bins(fitted):
    from keras import ops

    truth = color.normalize_ab(fitted.bins[np.arange(16) % len(fitted.bins)]).reshape(1, 4, 4, 2).astype("float32")
    right = np.log(ops.convert_to_numpy(fitted.encode(truth)) + 1e-6)
    wrong = np.roll(right, 1, axis=-1)
    loss = fitted.loss
    assert float(loss(truth, right)) < float(loss(truth, wrong))
    # The same value as the dense form: the nearest bin's weight times the cross-entropy
    # between the soft target (`encode`) and softmax(logits), averaged over pixels.
    target = ops.convert_to_numpy(fitted.encode(truth))
    log_softmax = wrong - np.log(np.exp(wrong).sum(-1, keepdims=True))
    pixel_weight = fitted.weights[target.argmax(-1)]
    expected = np.mean(pixel_weight * -(target * log_softmax).sum(-1))
    assert float(loss(truth, wrong)) == pytest.approx(expected, rel=1e-4)


def test_classify_to_dict_round_trip_rebuilds_the_fitted_objective(fitted):
    record = json.loads(json.dumps(fitted.to_dict()))
    rebuilt = get_objective(record)
    assert isinstance(rebuilt, Classification) and not rebuilt.needs_fit
    for key in ("bins", "probabilities", "weights"):
        np.testing.assert_array_equal(getattr(rebuilt, key), getattr(fitted, key))
    assert rebuilt.to_dict() == record
    from colorkeras.errors import ColorkerasError

    with pytest.raises(ColorkerasError, match="do not agree"):
        get_objective({**record, "weights": record["weights"][:-1]})


# ------------------------------------------------------------------------------------
# A classify run, end to end
# ------------------------------------------------------------------------------------
@pytest.mark.slow
def test_unet_classify_trains_and_evaluates_at_two_temperatures(prepared_toy_city, tmp_path):
    from colorkeras.training.config import TrainConfig
    from colorkeras.evaluation.evaluate import GREY_FLOOR, evaluate_run
    from colorkeras.inference.predictor import Predictor
    from colorkeras.training.train import TrainingError, train

    config = TrainConfig(model="unet", image_size=32, epochs=1, batch_size=8, loss="classify",
                         learning_rate=1e-3, mixed_precision="float32", jit_compile=False)
    with pytest.raises(TrainingError, match="output channels"):
        train(prepared_toy_city, tmp_path / "baseline", config.replace(model="baseline"), verbose=0)
    assert not (tmp_path / "baseline").exists()

    run_dir = tmp_path / "run"
    train(prepared_toy_city, run_dir, config, verbose=0)
    recorded = json.loads((run_dir / "config.json").read_text())["objective"]
    predictor = Predictor.open(run_dir)
    assert predictor.model.family == "unet" and predictor.model.output_channels == len(recorded["bins"])
    assert predictor.temperature == 0.38

    default = evaluate_run(run_dir, prepared_toy_city, split="val", lpips_scorer=None, progress=False)
    mean = evaluate_run(run_dir, prepared_toy_city, split="val", lpips_scorer=None, progress=False,
                        temperature=1.0)
    assert default.label == "unet+classify (T=0.38)" and mean.label == "unet+classify (T=1)"
    assert default.folder != mean.folder and (default.folder / "evaluation.json").is_file()
    record = json.loads((mean.folder / "evaluation.json").read_text())
    assert record["temperature"] == 1.0 and record["objective"]["name"] == "classify"
    assert record["objective"]["bins"] == recorded["bins"]
    assert set(record["mean"]) == {"unet+classify (T=1)", GREY_FLOOR}
    # The same model decodes to other colours at another temperature.
    low = np.load(default.folder / "predictions_ab.npy").astype(float)
    high = np.load(mean.folder / "predictions_ab.npy").astype(float)
    assert not np.array_equal(low, high)
