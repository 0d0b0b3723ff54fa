"""The two readers of a prepared dataset agree, and both deliver stored uint8 batches."""

from __future__ import annotations

import numpy as np
import pytest

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
        np.testing.assert_array_equal(l_tf, l_py)
        np.testing.assert_array_equal(ab_tf, ab_py)
    # A second epoch has a different (still seeded) order in both readers.
    second_tf = list(tf_data.as_numpy_iterator())
    py_data.on_epoch_end()
    assert not np.array_equal(second_tf[0][0], tf_batches[0][0])
    np.testing.assert_array_equal(second_tf[0][0], py_data[0][0])


@pytest.mark.parametrize("reader", ["tf.data", "PyDataset"])
def test_batches_leave_the_host_as_stored_uint8(prepared_toy_city, reader):
    if reader == "tf.data":
        data = make_tf_dataset(prepared_toy_city, "val", batch_size=4, shuffle=False, augment=False)
        l_stored, ab_stored = next(data.as_numpy_iterator())
    else:
        l_stored, ab_stored = make_py_dataset(prepared_toy_city, "val", batch_size=4, shuffle=False, augment=False)[0]
    assert l_stored.shape == (4, 32, 32, 1) and ab_stored.shape == (4, 32, 32, 2)
    assert l_stored.dtype == np.uint8 and ab_stored.dtype == np.uint8
    # 3 bytes per pixel (L + ab), a quarter of the 12 of float32 batches.
    assert (l_stored.nbytes + ab_stored.nbytes) / (4 * 32 * 32) == 3
    l_u8, ab_u8 = PreparedDataset.open(prepared_toy_city).arrays("val")
    np.testing.assert_array_equal(l_stored[..., 0], l_u8[:4])
    np.testing.assert_array_equal(ab_stored, ab_u8[:4])


def test_tf_data_prefetches_to_a_device_and_repeats_with_new_epochs(prepared_toy_city):
    import tensorflow as tf

    data = make_tf_dataset(prepared_toy_city, "train", batch_size=8, shuffle=True, augment=False, seed=3,
                           repeat=True, device="/cpu:0")
    batches = [l_stored for (l_stored, _), _ in zip(data, range(10))]  # two epochs of 5
    assert all(batch.dtype == tf.uint8 and "CPU:0" in batch.device for batch in batches)
    plain = list(make_tf_dataset(prepared_toy_city, "train", batch_size=8, shuffle=True, augment=False,
                                 seed=3).as_numpy_iterator())
    np.testing.assert_array_equal(batches[0].numpy(), plain[0][0])
    assert not np.array_equal(batches[5].numpy(), batches[0].numpy())  # the second pass: a new order


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
    seen_flip = seen_plain = False
    for make in (make_tf_dataset, make_py_dataset):
        data = make(dataset, "train", batch_size=8, shuffle=True, augment=True, seed=1, embeddings_key="probe-test")
        batches = data.as_numpy_iterator() if make is make_tf_dataset else (data[i] for i in range(len(data)))
        for (l_stored, embedding), _ in batches:
            for image, (row, flipped) in zip(l_stored[..., 0], embedding):
                source = l_all[int(row)]
                expected = source[:, ::-1] if flipped else source
                np.testing.assert_array_equal(image, expected)
                seen_flip |= bool(flipped)
                seen_plain |= not flipped
    assert seen_flip and seen_plain


def test_missing_or_incomplete_dataset_is_a_clear_error(tmp_path, prepared_toy_city):
    with pytest.raises(DatasetError, match="not a prepared dataset"):
        PreparedDataset.open(tmp_path)
    with pytest.raises(DatasetError, match="no cached embeddings"):
        PreparedDataset.open(prepared_toy_city).embeddings("train", "nothing-here")
