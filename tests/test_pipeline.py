"""The two readers of a prepared dataset agree, and both deliver what training expects."""

from __future__ import annotations

import numpy as np
import pytest

from colorkeras import color
from colorkeras.data.pipeline import DatasetError, PreparedDataset, make_py_dataset, make_tf_dataset


def _tf_batches(dataset, epochs=1):
    return [tuple(np.asarray(t) for t in batch) for batch in dataset.take(epochs * 100).as_numpy_iterator()]


def test_tf_and_tf_free_readers_yield_identical_batches_without_augmentation(prepared_toy_city):
    tf_data = make_tf_dataset(prepared_toy_city, "train", batch_size=8, shuffle=True, augment=False, seed=3)
    py_data = make_py_dataset(prepared_toy_city, "train", batch_size=8, shuffle=True, augment=False, seed=3)
    tf_batches = list(tf_data.as_numpy_iterator())
    assert len(tf_batches) == len(py_data) == 5
    for (l_tf, ab_tf), index in zip(tf_batches, range(len(py_data))):
        l_py, ab_py = py_data[index]
        np.testing.assert_allclose(l_tf, l_py, atol=1e-6)
        np.testing.assert_allclose(ab_tf, ab_py, atol=1e-6)
    # A second epoch has a different (still seeded) order in both readers.
    second_tf = list(tf_data.as_numpy_iterator())
    py_data.on_epoch_end()
    assert not np.allclose(second_tf[0][0], tf_batches[0][0])
    np.testing.assert_allclose(second_tf[0][0], py_data[0][0], atol=1e-6)


def test_batches_are_normalised_and_shaped(prepared_toy_city):
    l_norm, ab_norm = next(make_tf_dataset(prepared_toy_city, "val", batch_size=4, shuffle=False, augment=False).as_numpy_iterator())
    assert l_norm.shape == (4, 32, 32, 1) and ab_norm.shape == (4, 32, 32, 2)
    assert l_norm.dtype == np.float32
    assert -1.0 <= l_norm.min() and l_norm.max() <= 1.0 and np.abs(ab_norm).max() <= 1.0
    l_u8, ab_u8 = PreparedDataset.open(prepared_toy_city).arrays("val")
    expected_l, expected_ab = color.stored_to_normalized(l_u8[:4].astype(np.float32), ab_u8[:4].astype(np.float32))
    np.testing.assert_allclose(l_norm[..., 0], expected_l, atol=1e-6)
    np.testing.assert_allclose(ab_norm, expected_ab, atol=1e-6)


def test_flips_mirror_the_image_and_pick_the_flipped_embedding(prepared_toy_city, tmp_path):
    dataset = PreparedDataset.open(prepared_toy_city)
    count = dataset.count("train")
    # A synthetic cache whose entries name their own row and flip: [row, flip] -> (row, flip).
    cache = np.zeros((count, 2, 2), np.float32)
    cache[:, :, 0] = np.arange(count)[:, None]
    cache[:, 1, 1] = 1.0
    key_dir = prepared_toy_city / "embeddings" / "probe-test"
    key_dir.mkdir(parents=True, exist_ok=True)
    np.save(key_dir / "train.npy", cache)
    l_all, _ = dataset.arrays("train")
    l_all_norm = color.normalize_l(color.dequantize_l(l_all.astype(np.float32)))
    seen_flip = seen_plain = False
    for make in (make_tf_dataset, make_py_dataset):
        data = make(dataset, "train", batch_size=8, shuffle=True, augment=True, seed=1, embeddings_key="probe-test")
        batches = data.as_numpy_iterator() if make is make_tf_dataset else (data[i] for i in range(len(data)))
        for (l_norm, embedding), _ in batches:
            for image, (row, flipped) in zip(l_norm[..., 0], embedding):
                source = l_all_norm[int(row)]
                expected = source[:, ::-1] if flipped else source
                np.testing.assert_allclose(image, expected, atol=1e-5)
                seen_flip |= bool(flipped)
                seen_plain |= not flipped
    assert seen_flip and seen_plain


def test_missing_or_incomplete_dataset_is_a_clear_error(tmp_path, prepared_toy_city):
    with pytest.raises(DatasetError, match="not a prepared dataset"):
        PreparedDataset.open(tmp_path)
    with pytest.raises(DatasetError, match="no cached embeddings"):
        PreparedDataset.open(prepared_toy_city).embeddings("train", "nothing-here")
