"""Tests of colorkeras.evaluation.metrics: each metric against an independent computation on known pairs."""

from __future__ import annotations

import math
import sys
import urllib.error

import numpy as np
import pytest
from skimage.color import lab2rgb
from skimage.metrics import structural_similarity

from colorkeras.evaluation import metrics


def _random_rgb(seed: int, size: int = 32) -> np.ndarray:
    return np.random.default_rng(seed).random((size, size, 3))


# ------------------------------------------------------------------------------- PSNR
def test_psnr_matches_the_hand_formula():
    true = _random_rgb(0)
    pred = np.clip(true + np.random.default_rng(1).normal(0, 0.05, true.shape), 0, 1)
    by_hand = 10 * math.log10(1.0 / np.mean((pred - true) ** 2))
    assert metrics.psnr(pred, true) == pytest.approx(by_hand, rel=1e-9)


def test_psnr_of_a_uniform_offset():
    true = np.full((16, 16, 3), 0.5)
    assert metrics.psnr(true + 0.1, true) == pytest.approx(20.0)  # 10 log10(1 / 0.01)


def test_psnr_of_identical_images_is_infinite():
    image = _random_rgb(2)
    assert metrics.psnr(image, image.copy()) == math.inf


def test_psnr_rejects_mismatched_shapes():
    with pytest.raises(ValueError, match="shape"):
        metrics.psnr(np.zeros((8, 8, 3)), np.zeros((8, 9, 3)))
    with pytest.raises(ValueError, match="H, W, 3"):
        metrics.psnr(np.zeros((2, 8, 8, 3)), np.zeros((2, 8, 8, 3)))


# ------------------------------------------------------------------------------- SSIM
def test_ssim_of_identical_images_is_one():
    image = _random_rgb(3)
    assert metrics.ssim(image, image.copy()) == pytest.approx(1.0)


def test_ssim_of_flat_images_matches_the_luminance_term():
    # Zero variance leaves only SSIM's luminance term: (2ab + C1) / (a^2 + b^2 + C1),
    # C1 = (0.01 * data_range)^2 with data_range = 1.
    a, b, c1 = 0.5, 0.7, 0.01**2
    pred, true = np.full((16, 16, 3), a), np.full((16, 16, 3), b)
    assert metrics.ssim(pred, true) == pytest.approx((2 * a * b + c1) / (a * a + b * b + c1), rel=1e-9)


def test_ssim_is_the_mean_of_the_per_channel_values():
    true = _random_rgb(4)
    pred = np.clip(true * 0.8 + 0.1, 0, 1)
    per_channel = [structural_similarity(true[..., c], pred[..., c], data_range=1.0) for c in range(3)]
    assert metrics.ssim(pred, true) == pytest.approx(np.mean(per_channel), rel=1e-9)


# ------------------------------------------------------------------------------- MSE
def test_mse_ab_by_hand():
    pred = np.array([[[0.0, 0.5], [0.25, -0.5]]])
    true = np.array([[[0.5, 0.5], [0.0, 0.5]]])
    # squared errors 0.25, 0, 0.0625, 1 -> mean 0.328125
    assert metrics.mse_ab(pred, true) == pytest.approx(0.328125)


def test_mse_ab_of_the_grey_floor_is_the_mean_square_of_the_truth():
    true = np.random.default_rng(5).uniform(-0.6, 0.6, (8, 8, 2))
    assert metrics.mse_ab(np.zeros_like(true), true) == pytest.approx(float(np.mean(true**2)))


# ------------------------------------------------------------------------------- colourfulness
def test_colorfulness_of_grey_is_zero():
    assert metrics.colorfulness(np.full((8, 8, 3), 128, np.uint8)) == 0.0
    ramp = np.repeat(np.linspace(0, 1, 64).reshape(8, 8, 1), 3, axis=-1)
    assert metrics.colorfulness(ramp) == pytest.approx(0.0, abs=1e-9)


def test_colorfulness_of_two_pixels_by_hand():
    image = np.array([[[255, 0, 0], [0, 0, 255]]], np.uint8)  # pure red, pure blue
    # rg = (255, 0): mean 127.5, std 127.5; yb = (127.5, -255): mean -63.75, std 191.25
    expected = math.sqrt(127.5**2 + 191.25**2) + 0.3 * math.sqrt(127.5**2 + 63.75**2)
    assert metrics.colorfulness(image) == pytest.approx(expected)
    assert metrics.colorfulness(image.astype(np.float32) / 255.0) == pytest.approx(expected, rel=1e-6)


def test_colorfulness_rejects_float_outside_unit_range():
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        metrics.colorfulness(np.full((4, 4, 3), 200.0))


# ------------------------------------------------------------------------------- LPIPS
@pytest.fixture(scope="module")
def random_lpips():
    scorer = metrics.LpipsScorer(pretrained=False, batch_size=3)
    assert scorer.available, scorer.reason
    return scorer


@pytest.mark.lpips
def test_lpips_random_mode_identical_is_zero_and_different_is_positive(random_lpips):
    a = np.stack([_random_rgb(10), _random_rgb(11)])
    b = np.stack([_random_rgb(12), _random_rgb(13)])
    same = random_lpips(a, a.copy())
    assert same.shape == (2,)
    np.testing.assert_allclose(same, 0.0, atol=1e-7)
    different = random_lpips(a, b)
    # Random linear layers may weigh a feature difference negatively, so only "not zero".
    assert np.all(np.isfinite(different)) and np.all(np.abs(different) > 1e-6)
    assert isinstance(random_lpips(a[0], b[0]), float)


@pytest.mark.lpips
def test_lpips_rejects_images_too_small_for_alexnet(random_lpips):
    small = np.zeros((metrics.LPIPS_MIN_SIZE - 1,) * 2 + (3,))
    with pytest.raises(ValueError, match="at least"):
        random_lpips(small, small)


@pytest.mark.lpips
def test_lpips_random_mode_is_deterministic_and_batch_independent(random_lpips):
    a = np.stack([_random_rgb(20 + i) for i in range(5)])
    b = np.stack([_random_rgb(30 + i) for i in range(5)])
    again = metrics.LpipsScorer(pretrained=False, batch_size=5)
    np.testing.assert_allclose(random_lpips(a, b), again(a, b), rtol=1e-5)  # 3+2 vs one batch


@pytest.mark.lpips
def test_lpips_without_the_alexnet_weights_gives_nan_and_a_reason(tmp_path, monkeypatch):
    torch = pytest.importorskip("torch")

    def offline(url, *args, **kwargs):
        raise urllib.error.URLError("simulated: no network")

    # An empty weights folder and no network: exactly the offline first use.
    monkeypatch.setattr(torch.hub, "download_url_to_file", offline)
    hub_before = torch.hub.get_dir()
    scorer = metrics.LpipsScorer(pretrained=True, hub_dir=tmp_path)
    assert torch.hub.get_dir() == hub_before  # the caller's setting is left alone
    assert scorer.available is False
    assert "AlexNet" in scorer.reason and str(tmp_path) in scorer.reason
    assert math.isnan(scorer(_random_rgb(1), _random_rgb(2)))
    assert np.isnan(scorer(np.stack([_random_rgb(1)] * 2), np.stack([_random_rgb(2)] * 2))).all()


def test_lpips_without_the_package_gives_nan_and_a_reason(monkeypatch):
    monkeypatch.setitem(sys.modules, "lpips", None)  # makes `import lpips` fail
    scorer = metrics.LpipsScorer()
    assert scorer.available is False
    assert "pip install" in scorer.reason
    assert math.isnan(scorer(_random_rgb(1), _random_rgb(2)))


# ------------------------------------------------------------------------------- all together
@pytest.mark.lpips
def test_image_metrics_uses_the_true_lightness_and_independent_colour_maths(random_lpips):
    rng = np.random.default_rng(7)
    lightness = rng.uniform(20, 80, (32, 32))
    true_ab = rng.uniform(-30, 30, (32, 32, 2))
    pred_ab = true_ab * 0.5
    values = metrics.image_metrics(lightness / 50 - 1, pred_ab / 127.5, true_ab / 127.5, random_lpips)
    assert set(values) == set(metrics.METRIC_NAMES)
    # Independently: scikit-image's lab2rgb, then the hand formulas.
    true_rgb = np.clip(lab2rgb(np.dstack([lightness, true_ab])), 0, 1)
    pred_rgb = np.clip(lab2rgb(np.dstack([lightness, pred_ab])), 0, 1)
    assert values["psnr"] == pytest.approx(10 * math.log10(1 / np.mean((pred_rgb - true_rgb) ** 2)), rel=1e-4)
    assert values["mse"] == pytest.approx(np.mean((pred_ab / 127.5 - true_ab / 127.5) ** 2), rel=1e-5)
    assert 0 < values["ssim"] < 1
    assert values["colorfulness_gap"] == pytest.approx(values["colorfulness_pred"] - values["colorfulness_true"])
    assert values["colorfulness_pred"] < values["colorfulness_true"]  # halved ab is duller
    assert math.isfinite(values["lpips"])


def test_batch_metrics_without_a_scorer_leaves_lpips_nan():
    l_norm = np.zeros((2, 8, 8))
    ab = np.zeros((2, 8, 8, 2))
    values = metrics.batch_metrics(l_norm, ab, ab)
    assert np.isnan(values["lpips"]).all()
    assert np.all(values["mse"] == 0) and np.all(np.isinf(values["psnr"]))
