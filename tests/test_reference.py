"""Exemplar mode (issue 19): reading references, the classical transfers, retrieval, the
learnt exemplar family's graph and cost, and the self-supervised training pairs."""

from __future__ import annotations

import numpy as np
import pytest

from colorkeras import color
from colorkeras.errors import InvalidArgument
from colorkeras.images import ImageReadError, save_rgb
from colorkeras.inference import reference
from colorkeras.inference.reference import ReferenceIndex, global_transfer, welsh_transfer

SKY = (80.0, -10.0, -30.0)  # bright blue: in the sRGB gamut, so it survives the round trip
GRASS = (40.0, -35.0, 35.0)  # dark green


def _scene_rgb(height, width, bright_top=True, seed=0):
    """A colour photo whose colour follows its L: a bright blue band over a dark green one,
    with a little texture in L."""
    rng = np.random.default_rng(seed)
    lab = np.empty((height, width, 3), np.float32)
    top, bottom = (SKY, GRASS) if bright_top else (GRASS, SKY)
    lab[: height // 2], lab[height // 2 :] = top, bottom
    lab[..., 0] += rng.normal(0, 1.5, (height, width))
    return np.rint(color.lab_to_rgb(lab) * 255).astype(np.uint8)


def _two_tone_target(height=48, width=64):
    """A grey target laid out differently: bright on the left, dark on the right."""
    lightness = np.full((height, width), GRASS[0], np.float32)
    lightness[:, : width // 2] = SKY[0]
    return lightness


# ------------------------------------------------------------------------------------
# Reading and refusing references
# ------------------------------------------------------------------------------------
def test_reference_lab_is_the_photos_lab_and_a_large_photo_is_reduced():
    rgb = _scene_rgb(40, 56)
    lab = reference.reference_lab(rgb)
    np.testing.assert_allclose(lab, color.rgb_to_lab(rgb), atol=1e-4)
    big = reference.reference_lab(_scene_rgb(300, 500), max_side=100)
    assert big.shape == (60, 100, 3) and big.dtype == np.float32


@pytest.mark.parametrize("noise", [0, 1])
def test_a_grey_reference_is_refused_in_one_line(noise, tmp_path):
    rng = np.random.default_rng(0)
    grey = np.repeat(rng.integers(0, 256, (32, 48, 1)), 3, axis=-1)
    # A JPEG of a grey photo is not exactly grey: channels differ by a level or so.
    rgb = np.clip(grey + rng.integers(-noise, noise + 1, grey.shape), 0, 255).astype(np.uint8)
    with pytest.raises(InvalidArgument, match="is grey") as caught:
        reference.reference_lab(rgb)
    assert "\n" not in str(caught.value)
    save_rgb(rgb, tmp_path / "old.png")
    with pytest.raises(InvalidArgument, match=r"old\.png is grey"):
        reference.read_reference(tmp_path / "old.png")


def test_a_weakly_tinted_photo_is_accepted_and_an_unreadable_file_says_so(tmp_path):
    lab = np.zeros((32, 32, 3), np.float32)
    lab[..., 0], lab[..., 2] = 60.0, 8.0  # a sepia-ish tint: chroma 8
    rgb = np.rint(color.lab_to_rgb(lab) * 255).astype(np.uint8)
    assert reference.reference_lab(rgb).shape == (32, 32, 3)
    (tmp_path / "broken.jpg").write_bytes(b"not a jpeg")
    with pytest.raises(ImageReadError, match="broken.jpg"):
        reference.read_reference(tmp_path / "broken.jpg")


def test_reference_inputs_are_the_squared_normalised_reference():
    lab = reference.reference_lab(_scene_rgb(40, 56))
    l_norm, ab_norm = reference.reference_inputs(lab, 32)
    assert l_norm.shape == (1, 32, 32, 1) and ab_norm.shape == (1, 32, 32, 2) and ab_norm.dtype == np.float32
    square = color.resize_ab(lab, 32, 32)
    np.testing.assert_allclose(color.denormalize_l(l_norm[0, ..., 0]), square[..., 0], atol=1e-4)
    np.testing.assert_allclose(color.denormalize_ab(ab_norm[0]), square[..., 1:], atol=1e-4)
    assert ab_norm[0, :8, :, 1].mean() < 0 < ab_norm[0, -8:, :, 1].mean()  # blue sky above, green below


# ------------------------------------------------------------------------------------
# The classical transfers
# ------------------------------------------------------------------------------------
@pytest.mark.parametrize("transfer", [global_transfer, welsh_transfer])
def test_transfers_give_each_target_pixel_the_color_of_reference_pixels_of_its_lightness(transfer):
    reference_lab = reference.reference_lab(_scene_rgb(40, 56))  # another size and aspect
    sky_ab = reference_lab[:20, :, 1:].mean(axis=(0, 1))
    grass_ab = reference_lab[20:, :, 1:].mean(axis=(0, 1))
    ab = transfer(_two_tone_target(), reference_lab)
    assert ab.shape == (48, 64, 2) and ab.dtype == np.float32
    # Away from the boundary (Welsh's 5x5 texture feature and the resize blur it).
    np.testing.assert_allclose(ab[:, :28].mean(axis=(0, 1)), sky_ab, atol=2.0)
    np.testing.assert_allclose(ab[:, 36:].mean(axis=(0, 1)), grass_ab, atol=2.0)


@pytest.mark.parametrize("transfer", [global_transfer, welsh_transfer])
def test_transfers_follow_the_target_statistics_not_absolute_lightness(transfer):
    """Luminance remapping: a darker, low-contrast target still takes sky for its brighter
    half and grass for its darker half."""
    reference_lab = reference.reference_lab(_scene_rgb(40, 56))
    target = _two_tone_target() * 0.3 + 20.0  # 32 and 44 instead of 80 and 40
    ab = transfer(target, reference_lab)
    assert ab[:, :28, 1].mean() < -15 < 15 < ab[:, 36:, 1].mean()  # b: blue left, yellow-green right


def test_global_transfer_fills_lightness_the_reference_lacks_from_its_neighbours():
    lab = np.zeros((16, 16, 3), np.float32)
    lab[:8] = (30.0, 20.0, 0.0)
    lab[8:] = (70.0, -20.0, 0.0)
    # Every L from dark to bright, with the reference's mean (50) and spread (20), so that
    # remapping leaves the reference's L at 30 and 70 and every other bin is empty.
    target = np.linspace(0, 100, 101, dtype=np.float32)[None, :]
    target = (target - target.mean()) / target.std() * 20.0 + 50.0
    ab = global_transfer(target, lab, smoothing=0.0)
    a = ab[0, :, 0]
    assert np.all(np.isfinite(ab)) and np.all(np.diff(a) <= 1e-4)  # monotone from red to green
    assert a[0] == pytest.approx(20.0, abs=1e-3) and a[-1] == pytest.approx(-20.0, abs=1e-3)


def test_welsh_transfer_works_at_a_bounded_size_and_is_seeded():
    rng = np.random.default_rng(1)
    reference_lab = reference.reference_lab(_scene_rgb(64, 64))
    big = rng.uniform(0, 100, (1200, 1600)).astype(np.float32)
    ab = welsh_transfer(big, reference_lab, work_side=64)
    assert ab.shape == (1200, 1600, 2)
    # Matched at 64 x 48 and enlarged: the field is smooth where a per-pixel match is not.
    small = welsh_transfer(color.resize_ab(big[..., None], 48, 64)[..., 0], reference_lab, work_side=64)
    np.testing.assert_allclose(color.resize_ab(small, 1200, 1600), ab, atol=1e-3)
    np.testing.assert_array_equal(welsh_transfer(big, reference_lab, work_side=64), ab)
    assert not np.array_equal(welsh_transfer(big, reference_lab, work_side=64, seed=5), ab)


def test_jittered_grid_puts_one_sample_in_each_cell():
    rows, cols = reference.jittered_grid(100, 200, 200, np.random.default_rng(0))
    assert len(rows) == 10 * 20
    cells = set(zip((rows // 10).tolist(), (cols // 10).tolist()))
    assert len(cells) == 200
    tiny_rows, tiny_cols = reference.jittered_grid(3, 2, 200, np.random.default_rng(0))
    assert len(tiny_rows) == 6 and set(zip(tiny_rows.tolist(), tiny_cols.tolist())) == {
        (r, c) for r in range(3) for c in range(2)}


@pytest.mark.parametrize("transfer", [global_transfer, welsh_transfer])
def test_transfers_refuse_wrong_shapes_in_one_line(transfer):
    lab = reference.reference_lab(_scene_rgb(16, 16))
    with pytest.raises(InvalidArgument, match="2-D"):
        transfer(np.zeros((4, 4, 1), np.float32), lab)
    with pytest.raises(InvalidArgument, match=r"\(height, width, 3\)"):
        transfer(np.zeros((4, 4), np.float32), lab[..., 1:])
    with pytest.raises(InvalidArgument, match="not finite"):
        transfer(np.full((4, 4), np.nan, np.float32), lab)


# ------------------------------------------------------------------------------------
# Retrieval
# ------------------------------------------------------------------------------------
def _photos(folder):
    """Three colour photos of different layouts, a grey one and a broken file."""
    rng = np.random.default_rng(3)
    layouts = {
        "bands.png": _scene_rgb(48, 64, bright_top=True),
        "flipped.png": _scene_rgb(48, 64, bright_top=False),
    }
    checks = np.kron(rng.integers(0, 2, (6, 8)), np.ones((8, 8)))[..., None]
    layouts["checks.png"] = np.where(checks > 0, [200, 40, 40], [30, 30, 160]).astype(np.uint8)
    for name, rgb in layouts.items():
        save_rgb(rgb, folder / name)
    save_rgb(np.full((32, 32, 3), 128, np.uint8), folder / "grey.png")
    (folder / "broken.jpg").write_bytes(b"\xff\xd8 not really")
    return layouts


def test_the_index_matches_a_grey_input_to_the_photo_of_its_layout_and_lists_what_it_skipped(tmp_path):
    layouts = _photos(tmp_path)
    index = ReferenceIndex.from_folder(tmp_path)
    assert sorted(p.name for p in index.names) == ["bands.png", "checks.png", "flipped.png"]
    assert sorted(p.name for p, _ in index.skipped) == ["broken.jpg", "grey.png"]
    assert any("grey" in reason for _, reason in index.skipped)
    for name, rgb in layouts.items():
        # The grey input, at another size and slightly darker: only its L is used.
        grey = color.rgb_to_l(rgb)[4:-4, 6:] * 0.9
        found, score = index.best(grey)
        assert found.name == name and 0.8 < score <= 1.0 + 1e-5
        ranked = np.argsort(-index.scores(grey))
        assert index.names[ranked[0]].name == name
    batch = index.best_batch([color.rgb_to_l(rgb) for rgb in layouts.values()])
    assert [path.name for path, _ in batch] == list(layouts)
    second, _ = index.best(color.rgb_to_l(layouts["bands.png"]), exclude=index.names[0])
    assert second != index.names[0]


def test_an_index_with_no_usable_photo_is_a_clear_error(tmp_path):
    save_rgb(np.full((16, 16, 3), 90, np.uint8), tmp_path / "grey.png")
    with pytest.raises(InvalidArgument, match=r"no colour photo.*1 skipped.*grey\.png"):
        ReferenceIndex.from_folder(tmp_path)
    with pytest.raises(InvalidArgument, match="not found"):
        ReferenceIndex.from_folder(tmp_path / "missing")
    with pytest.raises(InvalidArgument, match="is grey"):
        ReferenceIndex.open(tmp_path / "grey.png")  # one photo named: its problem is the error


def test_descriptors_are_unit_length_and_the_index_takes_prepared_l_images():
    rng = np.random.default_rng(0)
    images = [rng.uniform(0, 100, (32, 32)).astype(np.float32) for _ in range(4)]
    index = ReferenceIndex.from_lightness(["a", "b", "c", "d"], images)
    assert index.descriptors.shape == (4, 16 * 16 + 324)
    np.testing.assert_allclose(np.linalg.norm(index.descriptors, axis=1), 1.0, atol=1e-5)
    assert index.best(images[2]) == ("c", pytest.approx(1.0, abs=1e-5))
    assert index.best(images[2], exclude="c")[0] != "c"
    assert np.linalg.norm(reference.l_descriptor(np.full((20, 30), 50.0))) == 0.0


# ------------------------------------------------------------------------------------
# The learnt exemplar family (the shared contract is in tests/test_models.py)
# ------------------------------------------------------------------------------------
def test_exemplar_costs_at_most_twice_the_default_model_at_256_px():
    from colorkeras.models import build_model
    from colorkeras.models.flops import forward_flops

    default = build_model("efficient", 256, output_channels=3, base_filters=16, depth=4, blocks=1,
                          block="fused", attention=True)
    exemplar = build_model("exemplar", 256)
    encoder = forward_flops(exemplar.get_layer("encoder"))
    flops = forward_flops(exemplar)
    assert forward_flops(default) == pytest.approx(1.555e9, rel=1e-3)
    assert flops == pytest.approx(2.270e9, rel=1e-3)  # the module docstring's figure
    assert flops <= 2 * forward_flops(default)
    # The shared encoder runs on the target and on the reference; the attention is counted.
    assert flops > 2 * encoder + exemplar.get_layer("match").forward_flops()
    assert sum(int(np.prod(w.shape)) for w in exemplar.weights) == 1_848_980


def _attention_case(size=4, seed=0):
    """Queries that are the keys in another order (plus one query unlike any key)."""
    rng = np.random.default_rng(seed)
    positions = size * size
    keys = np.eye(positions, positions + 1, dtype=np.float32)[rng.permutation(positions)]
    order = rng.permutation(positions)
    queries = keys[order].copy()
    queries[0] = 0.0
    queries[0, -1] = 1.0  # orthogonal to every key: keys leave the last channel empty
    values = rng.uniform(-1, 1, (size * size, 3)).astype(np.float32)
    grid = (1, size, size)
    return queries.reshape(grid + (-1,)), keys.reshape(grid + (-1,)), values.reshape(grid + (3,)), order, values


@pytest.mark.backend
def test_reference_attention_warps_values_to_the_best_match_and_reports_its_similarity():
    import keras

    from colorkeras.models.exemplar import ReferenceAttention

    queries, keys, values, order, flat_values = _attention_case()
    layer = ReferenceAttention(initial_scale=100.0)
    out = keras.ops.convert_to_numpy(layer(queries, keys, values)).reshape(16, 4)
    # Each query finds its own key: the value there, and similarity 1.
    np.testing.assert_allclose(out[1:, :3], flat_values[order[1:]], atol=1e-3)
    np.testing.assert_allclose(out[1:, 3], 1.0, atol=1e-5)
    # The query unlike every key: similarity 0, an even average of all values.
    np.testing.assert_allclose(out[0, :3], flat_values.mean(axis=0), atol=1e-5)
    assert out[0, 3] == pytest.approx(0.0, abs=1e-5)
    assert layer.forward_flops() == 2 * 16 * 16 * 17 + 2 * 16 * 16 * 3


def _exemplar_with_gate(bias, size=32, seed=0):
    import keras

    from colorkeras.models import build_model

    keras.utils.set_random_seed(seed)
    model = build_model("exemplar", size, base_filters=8, depth=2)
    gate = model.get_layer("gate_logit")
    kernel, _ = gate.get_weights()
    gate.set_weights([np.zeros_like(kernel), np.full((1,), bias, np.float32)])
    return model


@pytest.mark.backend
def test_exemplar_copies_the_reference_where_its_gate_trusts_the_match_and_ignores_it_where_not():
    rng = np.random.default_rng(0)
    l_target, l_reference = (rng.uniform(-1, 1, (2, 32, 32, 1)).astype(np.float32) for _ in range(2))
    flat_ab = np.broadcast_to(np.float32([0.3, -0.2]), (2, 32, 32, 2)).copy()
    trusting = _exemplar_with_gate(30.0)
    out = trusting.predict([l_target, l_reference, flat_ab], verbose=0)
    np.testing.assert_allclose(out, flat_ab, atol=1e-5)  # a flat reference warps to itself
    warped_and_confidence, gate = trusting.guidance_graph().predict([l_target, l_reference, flat_ab], verbose=0)
    assert warped_and_confidence.shape == (2, 4, 4, 3) and gate.shape == (2, 16, 16, 1)
    assert np.all(np.abs(warped_and_confidence[..., 2]) <= 1 + 1e-5) and np.allclose(gate, 1.0)

    doubting = _exemplar_with_gate(-30.0)
    other_ab = rng.uniform(-0.8, 0.8, (2, 32, 32, 2)).astype(np.float32)
    first = doubting.predict([l_target, l_reference, flat_ab], verbose=0)
    second = doubting.predict([l_target, l_reference, other_ab], verbose=0)
    # Without the gate, the reference's ab still reaches the output through the decoder's
    # guidance channels: the outputs differ, but neither is the reference's colour.
    assert not np.allclose(first, second, atol=1e-4)
    assert not np.allclose(first, flat_ab, atol=0.05)


def test_exemplar_refuses_bad_arguments_in_one_line():
    from colorkeras.models import build_model

    with pytest.raises(InvalidArgument, match="depth must be a whole number from 2"):
        build_model("exemplar", 32, depth=1)
    with pytest.raises(InvalidArgument, match="multiple of 2"):
        build_model("exemplar", 40, depth=3)
    with pytest.raises(InvalidArgument, match="does not take extractor"):
        build_model("exemplar", 32, extractor="vit_b16")


# ------------------------------------------------------------------------------------
# Training pairs
# ------------------------------------------------------------------------------------
def _coordinate_photo(size=64):
    """Stored L = 2 x column and a = 2 x row (b = 0): a view's values say where they came from."""
    rows, cols = np.mgrid[0:size, 0:size]
    l_stored = (2 * cols).astype(np.uint8)
    ab_stored = np.stack([2 * rows, np.zeros_like(rows)], axis=-1).astype(np.uint8)
    return l_stored, ab_stored


def test_a_whole_view_is_the_photo_itself_or_its_mirror():
    from colorkeras.data.pairs import random_view

    l_stored, ab_stored = _coordinate_photo()
    stacked = np.concatenate([l_stored[..., None], ab_stored], axis=-1).astype(np.float32)
    whole = {"scale": (1.0, 1.0), "aspect": (1.0, 1.0), "max_rotation": 0.0}
    views = [random_view(l_stored, ab_stored, 64, np.random.default_rng(seed), **whole) for seed in range(8)]
    assert all(np.allclose(v, stacked, atol=1e-3) or np.allclose(v, stacked[:, ::-1], atol=1e-3) for v in views)
    assert any(np.allclose(v, stacked[:, ::-1], atol=1e-3) for v in views)  # some are mirrored
    assert random_view(l_stored, ab_stored, 32, np.random.default_rng(0), **whole).shape == (32, 32, 3)


def _fitted_view(view, size):
    """The affine map a view applied, fitted on its central half (always inside the photo):
    (area fraction, angle in degrees, mirrored?)."""
    quarter = size // 4
    rows, cols = np.mgrid[quarter:size - quarter, quarter:size - quarter]
    design = np.stack([cols.ravel(), rows.ravel(), np.ones(cols.size)], axis=1)
    centre = view[quarter:size - quarter, quarter:size - quarter]
    (l_dx, l_dy, _), (a_dx, a_dy, _) = (np.linalg.lstsq(design, centre[..., c].ravel() / 2, rcond=None)[0]
                                        for c in (0, 1))
    box_w, box_h = np.hypot(l_dx, a_dx) * size, np.hypot(l_dy, a_dy) * size
    angle = np.degrees(np.arctan2(-l_dy, a_dy))
    mirrored = l_dx * np.cos(np.radians(angle)) + a_dx * np.sin(np.radians(angle)) < 0
    return box_w * box_h / 64 ** 2, angle, mirrored


def test_views_are_crops_rotations_and_flips_in_the_stated_ranges():
    from colorkeras.data.pairs import random_view

    l_stored, ab_stored = _coordinate_photo()
    fits = [_fitted_view(random_view(l_stored, ab_stored, 48, np.random.default_rng(seed)), 48)
            for seed in range(40)]
    areas, angles, mirrored = (np.array(values) for values in zip(*fits))
    assert np.all(areas > 0.3 - 0.02) and np.all(areas < 1.0 + 0.02)
    assert np.all(np.abs(angles) < 10.0 + 0.3) and angles.min() < -3 and angles.max() > 3
    assert 8 <= mirrored.sum() <= 32 and areas.max() - areas.min() > 0.3


def _labelled_pool(per_class=(4, 4, 1), size=16):
    """A pool whose photos each have their own constant ab (so a reference names its photo)."""
    from colorkeras.data.pairs import ReferencePool

    rng = np.random.default_rng(0)
    count = sum(per_class)
    l_array = rng.integers(0, 256, (count, size, size), dtype=np.uint8)
    ab_array = np.repeat(np.arange(count, dtype=np.uint8)[:, None, None, None] * 10 + 60, 2, axis=-1)
    ab_array = np.broadcast_to(ab_array, (count, size, size, 2)).copy()
    labels = [f"class{c}" for c, n in enumerate(per_class) for _ in range(n)]
    return ReferencePool(l_array, ab_array, labels), labels


def _source_photo(ab_norm):
    """Which pool photo a reference's (constant) ab came from."""
    stored_a = np.rint((color.denormalize_ab(ab_norm[..., 0].mean()) - color.AB_STORAGE_MIN)
                       / ((color.AB_STORAGE_MAX - color.AB_STORAGE_MIN) / 255))
    return int(round((stored_a - 60) / 10))


def test_references_mix_the_same_photo_and_another_of_its_class_and_are_seeded():
    from colorkeras.data.pairs import reference_batch

    pool, labels = _labelled_pool()
    rows = np.arange(9).repeat(30)
    ref_l, ref_ab, same = reference_batch(pool, rows, 16, seed=3)
    assert ref_l.shape == (270, 16, 16, 1) and ref_ab.shape == (270, 16, 16, 2) and ref_l.dtype == np.float32
    assert np.abs(ref_l).max() <= 1.0 + 1e-6
    sources = np.array([_source_photo(ab) for ab in ref_ab])
    assert np.array_equal(sources[same], rows[same])  # the same photo: its own colours
    others = ~same
    assert np.all(sources[others] != rows[others])  # another photo ...
    assert all(labels[s] == labels[r] for s, r in zip(sources[others], rows[others]))  # ... of its class
    assert np.all(same[rows == 8])  # alone in its class: the same photo, under change
    share = same[rows < 8].mean()
    assert 0.4 < share < 0.6
    again = reference_batch(pool, rows, 16, seed=3)
    np.testing.assert_array_equal(again[1], ref_ab)
    assert not np.array_equal(reference_batch(pool, rows, 16, seed=4)[0], ref_l)
    only_same = reference_batch(pool, rows[:20], 16, seed=3, same_fraction=1.0)[2]
    assert only_same.all()


def test_validation_references_are_fixed_per_photo_whatever_the_batch():
    from colorkeras.data.pairs import reference_batch

    pool, _ = _labelled_pool()
    first = reference_batch(pool, [0, 1, 2, 3], 16, seed=0, fixed=True)
    second = reference_batch(pool, [5, 2, 7, 0], 16, seed=0, fixed=True)
    np.testing.assert_array_equal(first[0][[0, 2]], second[0][[3, 1]])
    drawn = [reference_batch(pool, order, 16, seed=0)[0] for order in ([0, 1, 2, 3], [5, 2, 7, 0])]
    assert not np.array_equal(drawn[0][[0, 2]], drawn[1][[3, 1]])  # training draws anew
    with pytest.raises(InvalidArgument, match="same_fraction"):
        reference_batch(pool, [0], 16, seed=0, same_fraction=1.5)


# ------------------------------------------------------------------------------------
# Training the exemplar family through the ordinary readers and run folder
# ------------------------------------------------------------------------------------
def test_both_readers_give_each_target_its_reference_fixed_for_validation(prepared_toy_city):
    from colorkeras.data.pipeline import make_py_dataset, make_tf_dataset

    options = dict(batch_size=4, shuffle=False, augment=False, seed=2, references=True)
    (l_u8, ref_l, ref_ab), ab_u8 = make_py_dataset(prepared_toy_city, "val", **options)[0]
    assert l_u8.dtype == np.uint8 and l_u8.shape == (4, 32, 32, 1) and ab_u8.shape == (4, 32, 32, 2)
    assert ref_l.shape == (4, 32, 32, 1) and ref_ab.shape == (4, 32, 32, 2) and ref_ab.dtype == np.float32
    tf_batches = list(make_tf_dataset(prepared_toy_city, "val", **options))
    (tf_l, tf_ref_l, tf_ref_ab), _ = tf_batches[0]
    np.testing.assert_array_equal(np.asarray(tf_l), l_u8)
    np.testing.assert_array_equal(np.asarray(tf_ref_l), ref_l)
    np.testing.assert_array_equal(np.asarray(tf_ref_ab), ref_ab)
    # Validation: the same references on every pass.
    again = make_py_dataset(prepared_toy_city, "val", **options)
    again.on_epoch_end()
    np.testing.assert_array_equal(again[0][0][2], ref_ab)
    # Training: new references each epoch.
    train_options = {**options, "shuffle": True, "augment": True}
    reader = make_py_dataset(prepared_toy_city, "train", **train_options)
    first = reader[0][0][2]
    reader.on_epoch_end()
    assert not np.array_equal(reader[0][0][2], first)


@pytest.mark.backend
def test_the_exemplar_family_trains_into_a_run_folder_and_resumes(prepared_toy_city, tmp_path):
    import json

    from colorkeras.models.exemplar import ExemplarUNet
    from colorkeras.training.config import TrainConfig
    from colorkeras.training.run import Run
    from colorkeras.training.train import train

    config = TrainConfig(model="exemplar", image_size=32, epochs=2, batch_size=8, learning_rate=1e-3,
                         base_filters=8, depth=2, crop_scale=0.5, schedule="cosine")
    run = tmp_path / "run"
    result = train(prepared_toy_city, run, config.replace(epochs=1), verbose=0)
    assert result.epochs_done == 1
    result = train(prepared_toy_city, run, config, verbose=0)  # resumed: one more epoch
    assert result.resumed_from == 1 and result.epochs_done == 2
    state = json.loads((Run(run).latest_state() / "state.json").read_text())
    assert state["epochs_done"] == 2 and state["optimizer_iterations"] == 2 * (40 // 8)
    assert all(np.isfinite(row["val_loss"]) for row in state["history"])
    model = Run(run).load_best()
    assert isinstance(model, ExemplarUNet) and model.takes_reference
    l_norm = np.zeros((1, 32, 32, 1), np.float32)
    out = model.predict([l_norm, l_norm, np.zeros((1, 32, 32, 2), np.float32)], verbose=0)
    assert out.shape == (1, 32, 32, 2) and np.all(np.isfinite(out))


@pytest.mark.slow
def test_training_rate_times_the_exemplar_step_with_its_reference_inputs():
    from colorkeras.training.config import TrainConfig
    from colorkeras.training.train import training_rate

    config = TrainConfig(model="exemplar", image_size=32, batch_size=4, base_filters=8, depth=2)
    assert training_rate(config, steps=1) > 0


def test_nearest_rows_stay_in_their_group_and_rank_by_similarity():
    from colorkeras.data.descriptors import nearest_rows

    descriptors = np.array([[1, 0], [0.9, 0.1], [0, 1], [0.8, 0.2], [0.1, 0.9]], np.float32)
    groups = ["a", "a", "a", "a", "b"]
    nearest = nearest_rows(descriptors / np.linalg.norm(descriptors, axis=1, keepdims=True), groups, 2)
    assert nearest[0].tolist() == [1, 3] and nearest[2].tolist() == [3, 1]
    assert nearest[4].tolist() == [4, 4]  # alone in its group


def test_another_photo_is_drawn_among_its_nearest_by_lightness():
    from colorkeras.data.pairs import ReferencePool

    rng = np.random.default_rng(0)
    # rows 0-2: bright left halves; rows 3-5: bright right halves; all one class
    l_array = np.zeros((6, 32, 32), np.uint8)
    l_array[:3, :, :16] = 200
    l_array[3:, :, 16:] = 200
    l_array = np.clip(l_array.astype(int) + rng.integers(0, 20, l_array.shape), 0, 255).astype(np.uint8)
    pool = ReferencePool(l_array, np.full((6, 32, 32, 2), 128, np.uint8), ["c"] * 6, neighbours=2)
    drawn = {pool.same_class(0, np.random.default_rng(seed)) for seed in range(40)}
    assert drawn == {1, 2}
    anywhere = ReferencePool(l_array, np.full((6, 32, 32, 2), 128, np.uint8), ["c"] * 6, neighbours=0)
    assert {anywhere.same_class(0, np.random.default_rng(seed)) for seed in range(80)} == {1, 2, 3, 4, 5}
