"""Tests for colorkeras.inference.upsample (model-size ab onto full-resolution L) and its wiring into
the Predictor, colorize_paths and the CLI: real arrays, real PNG files, a real
(random-weight) Keras model."""

from __future__ import annotations

import tracemalloc

import cv2
import numpy as np
import pytest

from colorkeras import color
from colorkeras.errors import ColorkerasError
from colorkeras.images import read_rgb, save_rgb
from colorkeras.inference.predictor import Colorized, Predictor
from colorkeras.inference.upsample import upsample_ab

MODEL_SIZE = 32


def _edge_scene(height: int = 120, width: int = 160):
    """A slanted sharp L edge (dark left, light right) with different ab on each side.

    Returns the full-resolution L and ab, the ab reduced to 32x32 by area averaging (what
    a perfect model at 32 px sees), and the band of pixels within 3 px of the edge.
    """
    rows, columns = np.mgrid[0:height, 0:width].astype(np.float32)
    right = columns >= 57.0 + 0.3 * rows  # off the 5-pixel grid almost everywhere
    lightness = np.where(right, 72.0, 31.0).astype(np.float32)
    ab = np.where(right[..., None], np.float32([-25.0, 45.0]), np.float32([38.0, -12.0]))
    ab = ab.astype(np.float32)
    small = cv2.resize(ab, (MODEL_SIZE, MODEL_SIZE), interpolation=cv2.INTER_AREA)
    band = np.abs(columns - (57.0 + 0.3 * rows)) <= 3.0
    return lightness, ab, small, band


# ------------------------------------------------------------------------------------
# upsample_ab
# ------------------------------------------------------------------------------------
@pytest.mark.parametrize("method", ["guided", "resize"])
def test_constant_ab_stays_constant(method):
    rng = np.random.default_rng(0)
    lightness = rng.uniform(0, 100, (90, 130)).astype(np.float32)  # texture everywhere
    small = np.full((MODEL_SIZE, MODEL_SIZE, 2), [12.5, -33.0], np.float32)
    out = upsample_ab(small, lightness, method)
    np.testing.assert_allclose(out, np.broadcast_to([12.5, -33.0], out.shape), atol=1e-3)


@pytest.mark.parametrize("method", ["guided", "resize"])
@pytest.mark.parametrize("shape", [(90, 130), (17, 300), (20, 12), (32, 32)])
def test_output_has_the_size_of_l(method, shape):
    rng = np.random.default_rng(1)
    small = rng.normal(0, 20, (MODEL_SIZE, MODEL_SIZE, 2)).astype(np.float32)
    lightness = rng.uniform(0, 100, shape).astype(np.float32)
    out = upsample_ab(small, lightness, method)
    assert out.shape == shape + (2,) and out.dtype == np.float32
    assert np.isfinite(out).all()


def test_guided_keeps_colour_inside_the_edge_where_resize_bleeds():
    lightness, truth, small, band = _edge_scene()
    errors = {}
    for method in ("resize", "guided"):
        error = np.abs(upsample_ab(small, lightness, method) - truth).mean(axis=-1)
        errors[method] = (error[band].mean(), error.mean())
    resize_band, resize_all = errors["resize"]
    guided_band, guided_all = errors["guided"]
    assert resize_band > 5.0  # the plain resize smears the colours over the band
    assert guided_band < 0.3 * resize_band
    assert guided_all < resize_all


def test_guided_reduced_back_to_the_grid_is_close_to_the_field_it_came_from():
    rng = np.random.default_rng(2)
    lightness = cv2.GaussianBlur(rng.uniform(0, 100, (128, 128)).astype(np.float32), (0, 0), 3)
    small = cv2.GaussianBlur(rng.normal(0, 30, (MODEL_SIZE, MODEL_SIZE, 2)).astype(np.float32), (0, 0), 1)
    out = upsample_ab(small, lightness)
    back = cv2.resize(out, (MODEL_SIZE, MODEL_SIZE), interpolation=cv2.INTER_AREA)
    # The back-projection step keeps the field's own detail where L says nothing.
    assert np.abs(back - small).mean() < 0.15 * np.abs(small - small.mean((0, 1))).mean()


def test_large_input_runs_in_bounded_memory():
    height, width = 2000, 3000
    rng = np.random.default_rng(3)
    lightness = rng.uniform(0, 100, (height, width)).astype(np.float32)
    small = rng.normal(0, 20, (256, 256, 2)).astype(np.float32)
    plane = height * width * 4  # one full-size float32 array
    tracemalloc.start()
    try:
        out = upsample_ab(small, lightness)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert out.shape == (height, width, 2)
    # The output is 2 planes; everything else together stays under one more.
    assert peak < 3 * plane, f"peak {peak / plane:.2f} full-size float32 planes"


@pytest.mark.parametrize("arguments, message", [
    ({"method": "bilateral"}, "chroma upsampling"),
    ({"radius": 0}, "radius"),
    ({"radius": 1.5}, "radius"),
    ({"eps": 0.0}, "eps"),
])
def test_bad_options_are_user_errors(arguments, message):
    lightness, _, small, _ = _edge_scene(40, 40)
    with pytest.raises(ColorkerasError, match=message):
        upsample_ab(small, lightness, **arguments)


def test_bad_shapes_are_user_errors():
    with pytest.raises(ColorkerasError, match="ab field"):
        upsample_ab(np.zeros((8, 8, 3), np.float32), np.zeros((20, 20), np.float32))
    with pytest.raises(ColorkerasError, match="2-D L"):
        upsample_ab(np.zeros((8, 8, 2), np.float32), np.zeros((20, 20, 1), np.float32))


# ------------------------------------------------------------------------------------
# The Predictor, colorize_paths and the CLI
# ------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def model_path(tmp_path_factory):
    import keras

    from colorkeras.models.registry import build_model

    keras.utils.set_random_seed(0)
    path = tmp_path_factory.mktemp("model") / "baseline32.keras"
    build_model("baseline", MODEL_SIZE).save(path)
    return path


@pytest.fixture(scope="module")
def photo(tmp_path_factory):
    """A real PNG with edges and texture (a toy-city street, 96x144)."""
    from PIL import Image

    from colorkeras.data.synthetic import render_scene

    rgb = np.asarray(Image.fromarray(render_scene("street", size=144, seed=5)).resize((144, 96)))
    path = tmp_path_factory.mktemp("photos") / "street.png"
    save_rgb(rgb, path)
    return path


def test_predictor_with_resize_gives_exactly_the_old_output(model_path, photo):
    predictor = Predictor.open(model_path, chroma_upsampling="resize")
    [[item]] = predictor.colorize_many([("x", read_rgb(photo))])
    # Before guided upsampling, rgb() was merge_l_ab of the model-size field on the photo's L.
    old = color.merge_l_ab(item.lightness, item.ab, rows_per_chunk=512)
    np.testing.assert_array_equal(item.rgb(), old)
    np.testing.assert_array_equal(predictor.colorize(read_rgb(photo)), old)


def test_predictor_defaults_to_auto_which_guides_only_large_photos(model_path, photo):
    from colorkeras.inference.upsample import resolve_auto

    predictor = Predictor.open(model_path)
    assert predictor.chroma_upsampling == "auto"
    [[item]] = predictor.colorize_many([("x", read_rgb(photo))])
    chosen = resolve_auto(item.ab.shape, item.lightness.shape)
    expected = color.merge_l_ab(item.lightness, upsample_ab(item.ab, item.lightness, chosen))
    np.testing.assert_array_equal(item.rgb(), expected)
    assert resolve_auto((256, 256), (4000, 6000)) == "guided"
    assert resolve_auto((256, 256), (360, 480)) == "resize"


def test_colorized_methods_differ_where_colour_crosses_an_edge():
    lightness, truth, small, band = _edge_scene()
    guided = Colorized("g", lightness, small, "guided").rgb()
    resized = Colorized("r", lightness, small, "resize").rgb()
    true_rgb = color.merge_l_ab(lightness, truth)
    guided_error = np.abs(guided.astype(int) - true_rgb)[band].mean()
    resize_error = np.abs(resized.astype(int) - true_rgb)[band].mean()
    assert guided_error < 0.5 * resize_error


def test_unknown_chroma_upsampling_is_refused_before_any_work(model_path, tmp_path):
    from colorkeras.inference.colorize import colorize_paths

    with pytest.raises(ColorkerasError, match="chroma upsampling"):
        Predictor.open(model_path, chroma_upsampling="nearest")
    with pytest.raises(ColorkerasError, match="chroma upsampling"):
        colorize_paths(model_path, [tmp_path / "absent.png"], tmp_path / "out", chroma_upsampling="nearest")
    assert not (tmp_path / "out").exists()


def test_cli_chroma_flag_reaches_the_output(model_path, photo, tmp_path):
    from colorkeras.cli import main

    rgb = read_rgb(photo)
    for flag in (None, "auto", "guided", "resize"):
        out = tmp_path / str(flag)
        argv = ["colorize", str(model_path), str(photo), "--out", str(out)]
        assert main(argv + (["--chroma", flag] if flag else [])) == 0
        expected = Predictor.open(model_path, chroma_upsampling=flag or "auto").colorize(rgb)
        np.testing.assert_array_equal(read_rgb(out / photo.name), expected)
    with pytest.raises(SystemExit):
        main(["colorize", str(model_path), str(photo), "--out", str(tmp_path / "x"), "--chroma", "nearest"])
