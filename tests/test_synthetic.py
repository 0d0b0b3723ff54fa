"""Tests of the toy city (colorkeras.data.synthetic): determinism, layout on disk, and
checks that each class's colours follow from its structure."""

from __future__ import annotations

import itertools
import os

import numpy as np
import pytest
from PIL import Image
from skimage.color import rgb2lab

from colorkeras.data.synthetic import MARKER_NAME, SCENE_CLASSES, is_toy_city, render_scene, write_toy_city
from colorkeras.errors import ColorkerasError
from colorkeras.images import list_images

SIZE = 64
SAMPLES = 12  # images per class in the colour checks


@pytest.fixture(scope="module")
def labs() -> dict[str, list[np.ndarray]]:
    """CIE-LAB versions of the first SAMPLES images of every class, at SIZE."""
    return {c: [rgb2lab(render_scene(c, SIZE, seed=0, index=i)) for i in range(SAMPLES)] for c in SCENE_CLASSES}


def _rows(lab: np.ndarray, start: float, stop: float) -> np.ndarray:
    """The pixels of a horizontal band, given as fractions of the height, as (n, 3)."""
    h = lab.shape[0]
    return lab[int(start * h) : max(int(start * h) + 1, int(stop * h))].reshape(-1, 3)


# ----------------------------------------------------------------------------- API and shapes
def test_scene_classes_sorted_and_complete():
    assert SCENE_CLASSES == tuple(sorted(SCENE_CLASSES))
    assert {"park", "skyline", "street", "waterfront"} <= set(SCENE_CLASSES)


@pytest.mark.parametrize("size", [16, 64, 256])
@pytest.mark.parametrize("scene_class", SCENE_CLASSES)
def test_shape_and_dtype(scene_class, size):
    image = render_scene(scene_class, size=size, seed=1, index=2)
    assert image.shape == (size, size, 3)
    assert image.dtype == np.uint8
    assert image.flags.writeable  # callers may modify it in place
    assert image.std() > 10  # a scene, not a flat fill


@pytest.mark.parametrize("scene_class", SCENE_CLASSES)
def test_same_scene_at_every_size(scene_class):
    # The layout is drawn in relative coordinates: a large render shrunk to 32 pixels is
    # close to a 32-pixel render, while another index is not.
    small = render_scene(scene_class, 32, seed=0, index=5).astype(np.float64)
    large = Image.fromarray(render_scene(scene_class, 128, seed=0, index=5)).resize((32, 32), Image.Resampling.BOX)
    other = render_scene(scene_class, 32, seed=0, index=6).astype(np.float64)
    same_err = np.abs(small - np.asarray(large, np.float64)).mean()
    other_err = np.abs(small - other).mean()
    assert same_err < 10
    assert same_err < 0.5 * other_err


# ----------------------------------------------------------------------------- determinism
def test_render_is_deterministic_and_order_free():
    first = render_scene("street", 48, seed=3, index=7)
    for i in range(7):  # rendering other images in between changes nothing
        render_scene("street", 48, seed=3, index=i)
    np.testing.assert_array_equal(render_scene("street", 48, seed=3, index=7), first)


@pytest.mark.parametrize("scene_class", SCENE_CLASSES)
def test_seeds_and_indices_give_different_scenes(scene_class):
    images = [render_scene(scene_class, 32, seed=s, index=i) for s, i in [(0, 0), (1, 0), (0, 1)]]
    for a, b in itertools.combinations(images, 2):
        assert np.abs(a.astype(int) - b.astype(int)).mean() > 3


def test_same_seed_writes_byte_identical_files(tmp_path):
    a = write_toy_city(tmp_path / "a", per_class=2, size=32, seed=5)
    b = write_toy_city(tmp_path / "b", per_class=2, size=32, seed=5)
    c = write_toy_city(tmp_path / "c", per_class=2, size=32, seed=6)
    assert [p.relative_to(tmp_path / "a") for p in a] == [p.relative_to(tmp_path / "b") for p in b]
    for pa, pb, pc in zip(a, b, c):
        assert pa.read_bytes() == pb.read_bytes()
        assert not np.array_equal(np.asarray(Image.open(pa)), np.asarray(Image.open(pc)))


def test_image_does_not_depend_on_count(tmp_path):
    four = write_toy_city(tmp_path / "four", per_class=4, size=32, seed=0)
    eight = write_toy_city(tmp_path / "eight", per_class=8, size=32, seed=0)
    by_name = {p.name: p for p in eight}
    for p in four:
        assert p.read_bytes() == by_name[p.name].read_bytes()
    # ... nor on which classes are written alongside it.
    alone = write_toy_city(tmp_path / "alone", per_class=4, size=32, seed=0, classes=["waterfront"])
    assert alone[3].read_bytes() == by_name["waterfront_00003.png"].read_bytes()


# ----------------------------------------------------------------------------- on disk
def test_folder_layout(tmp_path):
    paths = write_toy_city(tmp_path, per_class=3, size=24, seed=0)
    assert len(paths) == 3 * len(SCENE_CLASSES)
    assert sorted(d.name for d in tmp_path.iterdir()) == sorted([*SCENE_CLASSES, MARKER_NAME])
    assert is_toy_city(tmp_path)
    assert list_images(tmp_path) == sorted(paths)  # the marker is not taken for an image
    for c in SCENE_CLASSES:
        names = sorted(p.name for p in (tmp_path / c).iterdir())
        assert names == [f"{c}_{i:05d}.png" for i in range(3)]  # no temporary files left over
    for p in paths:
        with Image.open(p) as image:
            assert image.format == "PNG" and image.mode == "RGB" and image.size == (24, 24)
        assert np.array_equal(np.asarray(Image.open(p)), render_scene(p.parent.name, 24, 0, int(p.stem[-5:])))


def test_classes_argument(tmp_path):
    paths = write_toy_city(tmp_path, per_class=1, size=16, classes=["street", "park", "street"])
    assert [p.parent.name for p in paths] == ["street", "park"]
    paths = write_toy_city(tmp_path / "one", per_class=2, size=16, classes="skyline")
    assert [p.name for p in paths] == ["skyline_00000.png", "skyline_00001.png"]


def test_rerun_skips_identical_files_and_rewrites_its_own(tmp_path):
    paths = write_toy_city(tmp_path, per_class=2, size=32, seed=0, classes=["park", "street"])
    inodes = {p: os.stat(p).st_ino for p in paths}
    good, missing = paths[0], paths[2]
    missing.unlink()
    again = write_toy_city(tmp_path, per_class=2, size=32, seed=0, classes=["park", "street"])
    assert again == paths
    assert os.stat(good).st_ino == inodes[good]  # left alone (a rewrite replaces the inode)
    assert os.stat(paths[3]).st_ino == inodes[paths[3]]
    assert np.array_equal(np.asarray(Image.open(missing)), render_scene("street", 32, 0, 0))
    # A different seed changes the pixels; the marker says toy-city wrote the old ones,
    # so they are replaced.
    write_toy_city(tmp_path, per_class=2, size=32, seed=1, classes=["park", "street"])
    assert os.stat(good).st_ino != inodes[good]
    assert np.array_equal(np.asarray(Image.open(good)), render_scene("park", 32, 1, 0))
    # Back to the first seed: the marker records every seed written, so those are ours too.
    write_toy_city(tmp_path, per_class=2, size=32, seed=0, classes=["park", "street"])
    assert np.array_equal(np.asarray(Image.open(good)), render_scene("park", 32, 0, 0))


def test_files_it_did_not_write_are_never_replaced(tmp_path):
    users = tmp_path / "park" / "park_00001.png"
    users.parent.mkdir()
    Image.fromarray(np.full((32, 32, 3), 7, np.uint8)).save(users)
    truncated = tmp_path / "park" / "park_00000.png"
    truncated.write_bytes(b"\x89PNG\r\n")  # damaged: not an image toy-city wrote either
    before = {p: p.read_bytes() for p in (users, truncated)}
    with pytest.raises(ColorkerasError, match=r"2 files already exist \(e.g. .*park_00000.png\).*nothing was written"):
        write_toy_city(tmp_path, per_class=3, size=32, seed=0, classes=["park"])
    assert {p: p.read_bytes() for p in (users, truncated)} == before
    assert sorted(p.name for p in tmp_path.rglob("*")) == ["park", "park_00000.png", "park_00001.png"]

    truncated.unlink()
    with pytest.raises(ColorkerasError, match=r"park_00001.png already exists"):
        write_toy_city(tmp_path, per_class=3, size=32, seed=0, classes=["park"])
    assert users.read_bytes() == before[users]


def test_refuses_a_file_as_the_output_folder_and_a_foreign_marker(tmp_path):
    notes = tmp_path / "notes.txt"
    notes.write_text("mine")
    with pytest.raises(ColorkerasError, match="notes.txt is a file, not a folder"):
        write_toy_city(notes, per_class=1, size=16)
    (tmp_path / "city").mkdir()
    (tmp_path / "city" / "park").write_text("a file where a class folder goes")
    with pytest.raises(ColorkerasError, match="park is a file"):
        write_toy_city(tmp_path / "city", per_class=1, size=16)
    (tmp_path / "other").mkdir()
    (tmp_path / "other" / MARKER_NAME).write_text('{"mine": true}')
    with pytest.raises(ColorkerasError, match="toy_city.json exists and was not written by toy-city"):
        write_toy_city(tmp_path / "other", per_class=1, size=16)
    assert notes.read_text() == "mine"
    assert (tmp_path / "other" / MARKER_NAME).read_text() == '{"mine": true}'
    assert not is_toy_city(tmp_path / "other")


def test_progress_bar_counts_the_images(tmp_path, capsys):
    paths = write_toy_city(tmp_path, per_class=1, size=16, progress=True)
    assert len(paths) == len(SCENE_CLASSES)
    shown = capsys.readouterr().err
    assert "toy city" in shown and f"{len(SCENE_CLASSES)}/{len(SCENE_CLASSES)}" in shown


# ----------------------------------------------------------------------------- bad arguments
@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"scene_class": "harbour"}, "unknown scene class"),
        ({"size": 15}, "size"),
        ({"size": 64.0}, "size"),
        ({"seed": -1}, "seed"),
        ({"index": -1}, "index"),
    ],
)
def test_render_rejects_bad_arguments(kwargs, match):
    args = {"scene_class": "park", "size": 32} | kwargs
    with pytest.raises(ValueError, match=match):
        render_scene(**args)


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"classes": ["park", "harbour"]}, "harbour"),
        ({"classes": []}, "at least one"),
        ({"per_class": 0}, "per_class"),
        ({"size": 8}, "size"),
        ({"seed": -2}, "seed"),
    ],
)
def test_write_rejects_bad_arguments(tmp_path, kwargs, match):
    with pytest.raises(ValueError, match=match):
        write_toy_city(tmp_path / "out", **({"per_class": 1, "size": 16} | kwargs))
    assert not (tmp_path / "out").exists()  # nothing written before the check


# ----------------------------------------------------------------------------- colour follows structure
def test_images_are_colourful(labs):
    for c, images in labs.items():
        for lab in images:
            chroma = np.hypot(lab[..., 1], lab[..., 2]).mean()
            assert chroma > 10, f"{c}: mean chroma {chroma:.1f}, nearly grayscale"


@pytest.mark.parametrize("scene_class", SCENE_CLASSES)
def test_top_rows_are_sky_blue(labs, scene_class):
    for lab in labs[scene_class]:
        top = _rows(lab, 0.0, 0.1)
        assert top[:, 2].mean() < -25, "the top of every scene is blue sky"


@pytest.mark.parametrize("scene_class", ["park", "waterfront"])
def test_sky_lightens_towards_horizon(labs, scene_class):
    # Row medians ignore clouds. At 25% of the height both classes still show sky.
    for lab in labs[scene_class]:
        h = lab.shape[0]
        top, low = np.median(lab[1], axis=0), np.median(lab[int(0.25 * h)], axis=0)
        assert top[0] < low[0] - 5, "lighter near the horizon"
        assert top[2] < low[2] - 5, "deeper blue overhead"


def test_park_is_green(labs):
    for lab in labs["park"]:
        assert (lab[..., 1] < -10).mean() > 0.35, "grass and trees cover much of a park"
        assert _rows(lab, 0.85, 1.0)[:, 1].mean() < -15, "the foreground is grass"


def test_street_facades_warm_skyline_cool(labs):
    # The band at 50-62% of the height is facades in both classes.
    for lab in labs["street"]:
        band = _rows(lab, 0.5, 0.62)
        assert band[:, 2].mean() > 5, "brick, ochre and beige facades are warm"
    for lab in labs["skyline"]:
        band = _rows(lab, 0.5, 0.62)
        assert band[:, 2].mean() < -3, "glass and steel towers are cool"


@pytest.mark.parametrize("scene_class", ["street", "skyline"])
def test_roads_are_grey(labs, scene_class):
    for lab in labs[scene_class]:
        road = _rows(lab, 0.92, 1.0)  # below the yellow edge line
        assert np.abs(road[:, 1:].mean(axis=0)).max() < 8, "asphalt is nearly neutral"
        assert road[:, 0].mean() < 55, "and darker than the sky"


def test_waterfront_water_is_blue_green(labs):
    for lab in labs["waterfront"]:
        water = _rows(lab, 0.85, 1.0)
        assert water[:, 2].mean() < -8 and water[:, 1].mean() < -3


def test_classes_differ_in_mean_colour(labs):
    means = {c: np.mean([lab.reshape(-1, 3).mean(axis=0) for lab in images], axis=0) for c, images in labs.items()}
    for a, b in itertools.combinations(SCENE_CLASSES, 2):
        assert np.linalg.norm(means[a] - means[b]) > 4, f"{a} and {b} look alike on average"


def test_accepts_str_path(tmp_path):
    # The CLI passes strings.
    paths = write_toy_city(str(tmp_path), per_class=1, size=16, classes=["park"])
    assert paths == [tmp_path / "park" / "park_00000.png"] and paths[0].is_file()
