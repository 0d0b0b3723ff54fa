"""Colour maths: the keras.ops form against scikit-image, round trips, storage, merging."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import skimage.data
from skimage.color import lab2rgb, rgb2lab

from colorkeras import color

PHOTOS = ("astronaut", "coffee", "chelsea", "rocket")


def rgb_cube(step: int = 5) -> np.ndarray:
    """A dense sample of the 8-bit RGB cube (every `step`-th level plus 255), as (N, 1, 3)."""
    levels = np.unique(np.r_[np.arange(0, 256, step), 255]).astype(np.uint8)
    grid = np.stack(np.meshgrid(levels, levels, levels, indexing="ij"), axis=-1)
    return grid.reshape(-1, 1, 3)


def photo(name: str) -> np.ndarray:
    return getattr(skimage.data, name)()[::2, ::2]  # half size keeps the test quick


@pytest.mark.backend
@pytest.mark.parametrize("name", PHOTOS)
def test_ops_rgb_to_lab_matches_skimage_on_photos(name):
    from keras import ops

    rgb = photo(name)
    expected = rgb2lab(rgb)
    got = ops.convert_to_numpy(color.rgb_to_lab_ops(rgb.astype(np.float32) / 255.0))
    assert np.max(np.abs(got - expected), axis=(0, 1)).max() < 0.05


@pytest.mark.backend
def test_ops_rgb_to_lab_matches_skimage_on_rgb_cube():
    from keras import ops

    cube = rgb_cube()
    expected = rgb2lab(cube)
    got = ops.convert_to_numpy(color.rgb_to_lab_ops(cube.astype(np.float32) / 255.0))
    error = np.abs(got - expected).reshape(-1, 3).max(axis=0)
    assert error.max() < 0.05, f"max |error| in L, a, b: {error}"


@pytest.mark.backend
def test_ops_round_trip_returns_every_8bit_colour():
    from keras import ops

    # All 16,777,216 colours, 256 values of red at a time.
    green_blue = np.stack(np.meshgrid(np.arange(256), np.arange(256), indexing="ij"), axis=-1).reshape(-1, 2)
    worst = 0.0
    for red_start in range(0, 256, 64):
        reds = np.arange(red_start, red_start + 64)
        cube = np.concatenate([np.repeat(reds, len(green_blue))[:, None],
                               np.tile(green_blue, (len(reds), 1))], axis=1).reshape(-1, 1, 3)
        lab = color.rgb_to_lab_ops(cube.astype(np.float32) / 255.0)
        back = ops.convert_to_numpy(color.lab_to_rgb_ops(lab))
        worst = max(worst, float(np.abs(back * 255.0 - cube).max()))
    assert worst <= 1.0, f"worst round-trip error {worst:.3f} / 255"


@pytest.mark.backend
def test_ops_lab_to_rgb_matches_skimage_including_out_of_gamut():
    from keras import ops

    rng = np.random.default_rng(0)
    lab = np.stack(
        [rng.uniform(0, 100, 4000), rng.uniform(-128, 127, 4000), rng.uniform(-128, 127, 4000)],
        axis=-1,
    ).reshape(-1, 1, 3)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # lab2rgb warns about the negative Z it clips
        expected = np.clip(lab2rgb(lab), 0, 1)
    got = ops.convert_to_numpy(color.lab_to_rgb_ops(lab.astype(np.float32)))
    assert np.abs(got - expected).max() < 2e-3


@pytest.mark.backend
def test_ops_forms_have_finite_gradients_at_black():
    import keras
    from keras import ops

    if keras.backend.backend() == "tensorflow":
        import tensorflow as tf

        x = tf.Variable(np.zeros((1, 4, 3), np.float32))
        with tf.GradientTape() as tape:
            loss = tf.reduce_sum(color.rgb_to_lab_ops(x))
        grad = tape.gradient(loss, x).numpy()
    elif keras.backend.backend() == "jax":
        import jax

        grad = np.asarray(jax.grad(lambda v: ops.sum(color.rgb_to_lab_ops(v)))(np.zeros((1, 4, 3), np.float32)))
    else:
        pytest.skip("gradient check written for tensorflow and jax")
    assert np.all(np.isfinite(grad))


def test_numpy_form_agrees_with_skimage_and_ops():
    rgb = photo("coffee")
    np.testing.assert_allclose(color.rgb_to_lab(rgb), rgb2lab(rgb), atol=1e-3)
    round_trip = color.lab_to_rgb(color.rgb_to_lab(rgb))
    assert np.abs(round_trip * 255 - rgb).max() <= 1.0


def test_normalisation_is_the_studys_and_inverts():
    assert color.normalize_l(np.float32(0)) == -1 and color.normalize_l(np.float32(100)) == 1
    assert color.normalize_ab(np.float32(127.5)) == 1
    values = np.linspace(-120, 120, 11)
    np.testing.assert_allclose(color.denormalize_ab(color.normalize_ab(values)), values)
    np.testing.assert_allclose(color.denormalize_l(color.normalize_l(values + 120)), values + 120)


def test_storage_precision_meets_the_documented_bounds():
    lab = rgb2lab(rgb_cube(step=3)).reshape(-1, 3)
    l_back = color.dequantize_l(color.quantize_l(lab[:, 0]).astype(np.float32))
    ab_back = color.dequantize_ab(color.quantize_ab(lab[:, 1:]).astype(np.float32))
    assert np.abs(l_back - lab[:, 0]).max() < 0.4
    assert np.abs(ab_back - lab[:, 1:]).max() < 0.5
    # The whole sRGB gamut fits the stored ab range, so nothing is clipped.
    assert lab[:, 1:].min() > color.AB_STORAGE_MIN and lab[:, 1:].max() < color.AB_STORAGE_MAX


def test_stored_to_normalized_equals_the_two_steps():
    l_u8 = np.array([0, 128, 255], np.float32)
    ab_u8 = np.array([[0, 255], [133, 7], [255, 0]], np.float32)
    l_norm, ab_norm = color.stored_to_normalized(l_u8, ab_u8)
    np.testing.assert_allclose(l_norm, color.dequantize_l(l_u8) / 50 - 1, atol=1e-6)
    np.testing.assert_allclose(ab_norm, color.dequantize_ab(ab_u8) / 127.5, atol=1e-6)


def test_merge_keeps_full_resolution_and_the_photos_lightness():
    rgb = skimage.data.astronaut()  # 512x512
    lab = color.rgb_to_lab(rgb)
    small_ab = lab[::8, ::8, 1:]  # a 64x64 "prediction"
    merged = color.merge_l_ab(lab[..., 0], small_ab, rows_per_chunk=100)
    assert merged.shape == rgb.shape and merged.dtype == np.uint8
    # Lightness comes from the full-resolution L: detail is kept exactly up to gamut clipping.
    l_error = np.abs(color.rgb_to_lab(merged)[..., 0] - lab[..., 0])
    assert np.median(l_error) < 0.5
    # Colours are close to the truth even though ab was predicted at 1/8 resolution.
    assert np.mean(np.abs(merged.astype(int) - rgb.astype(int))) < 6


def test_merge_with_zero_ab_is_grey():
    lightness = np.linspace(0, 100, 64 * 48, dtype=np.float32).reshape(48, 64)
    grey = color.merge_l_ab(lightness, np.zeros((8, 8, 2), np.float32))
    assert np.abs(grey[..., 0].astype(int) - grey[..., 2]).max() <= 1


def test_predicted_ab_to_rgb_handles_channel_axis_and_batches():
    rgb = photo("chelsea")[:64, :64]
    lab = color.rgb_to_lab(rgb)
    l_norm = color.normalize_l(lab[..., :1])[None]
    ab_norm = color.normalize_ab(lab[..., 1:])[None]
    out = color.predicted_ab_to_rgb(l_norm, ab_norm)
    assert out.shape == (1, 64, 64, 3)
    assert np.abs(out[0] * 255 - rgb).max() <= 1.0


def test_bad_shapes_raise_value_error():
    with pytest.raises(ValueError, match="last axis of 3"):
        color.rgb_to_lab(np.zeros((4, 4, 2), np.uint8))
    with pytest.raises(ValueError, match="2-D L channel"):
        color.merge_l_ab(np.zeros((4, 4, 1)), np.zeros((2, 2, 2)))


# --- The float32 fast paths against scikit-image (the reference) -----------------------
def test_fast_rgb_to_l_matches_skimage_on_every_8bit_colour():
    green_blue = np.stack(np.meshgrid(np.arange(256), np.arange(256), indexing="ij"), axis=-1).reshape(-1, 2)
    worst = 0.0
    for red_start in range(0, 256, 32):
        reds = np.arange(red_start, red_start + 32)
        cube = np.concatenate([np.repeat(reds, len(green_blue))[:, None],
                               np.tile(green_blue, (len(reds), 1))], axis=1).reshape(-1, 1, 3).astype(np.uint8)
        got = color.rgb_to_l(cube)
        assert got.dtype == np.float32 and got.shape == cube.shape[:2]
        worst = max(worst, float(np.abs(got - rgb2lab(cube)[..., 0]).max()))
    assert worst < 0.01, f"worst |dL| {worst}"
    # Batched frames keep their shape; black and white are exact ends.
    frames = np.zeros((2, 3, 4, 3), np.uint8)
    frames[1] = 255
    lightness = color.rgb_to_l(frames)
    assert lightness.shape == (2, 3, 4)
    np.testing.assert_allclose(lightness[0], 0.0, atol=1e-4)
    np.testing.assert_allclose(lightness[1], 100.0, atol=1e-3)


def _random_and_edge_lab(count: int = 200_000) -> np.ndarray:
    rng = np.random.default_rng(1)
    random = np.stack([rng.uniform(0, 100, count), rng.uniform(-128, 127, count),
                       rng.uniform(-128, 127, count)], axis=-1)
    # Edges: the L and ab extremes, grey, the branch points of f and of the sRGB gamma
    # (L = 8 is where f^3 meets the linear segment), and exact in-gamut colours.
    levels_l = np.array([0.0, 1e-3, 7.9999, 8.0, 8.0001, 50.0, 99.999, 100.0])
    levels_ab = np.array([-128.0, -86.2, -1e-3, 0.0, 1e-3, 98.3, 127.0])
    edges = np.stack(np.meshgrid(levels_l, levels_ab, levels_ab, indexing="ij"), axis=-1).reshape(-1, 3)
    in_gamut = rgb2lab(rgb_cube(step=15)).reshape(-1, 3)
    return np.concatenate([random, edges, in_gamut]).reshape(-1, 1, 3)


def test_fast_lab_to_rgb_and_merge_match_skimage_including_out_of_gamut():
    lab = _random_and_edge_lab()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # lab2rgb warns about the negative Z it clips
        expected = np.clip(lab2rgb(lab), 0, 1)
    got = color.lab_to_rgb(lab)
    assert got.dtype == np.float32 and got.shape == lab.shape
    assert np.abs(got - expected).max() < 1e-4
    # merge_l_ab's uint8 output differs from scikit-image's by at most one level.
    side = 400
    grid = lab[: side * side].reshape(side, side, 3).astype(np.float32)
    merged = color.merge_l_ab(grid[..., 0], grid[..., 1:], rows_per_chunk=64)
    reference = np.rint(expected[: side * side].reshape(side, side, 3) * 255).astype(int)
    assert np.abs(merged.astype(int) - reference).max() <= 1


def test_fast_paths_reject_bad_shapes():
    with pytest.raises(ValueError, match="last axis of 3"):
        color.rgb_to_l(np.zeros((4, 4, 2), np.uint8))
    with pytest.raises(ValueError, match="last axis of 3"):
        color.lab_to_rgb(np.zeros((4, 4, 2), np.float32))


def test_resize_ab_enlarging_equals_pillows_bilinear_and_shrinking_is_pillows():
    from PIL import Image

    rng = np.random.default_rng(2)
    for source, target in (((37, 61), (360, 640)), ((90, 160), (45, 80))):
        ab = rng.uniform(-100, 100, source + (2,)).astype(np.float32)
        expected = np.stack([np.asarray(Image.fromarray(ab[..., c]).resize(target[::-1], Image.BILINEAR))
                             for c in range(2)], axis=-1)
        got = color.resize_ab(ab, *target)
        assert got.shape == target + (2,) and got.dtype == np.float32
        assert np.abs(got - expected).max() < 1e-3
