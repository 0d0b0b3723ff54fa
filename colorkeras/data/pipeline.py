"""Read a prepared dataset: a tf.data pipeline, and a TF-free reader for JAX-only hosts.

Both readers draw the same seeded order of examples each epoch (``epoch_order``), so
without augmentation they yield identical batches. Training batches are
``(l_stored, ab_stored)`` or, when embeddings are given, ``((l_stored, embedding),
ab_stored)``: L (B, S, S, 1) and ab (B, S, S, 2) exactly as stored, uint8, and the
embedding float32 (B, D). They leave the host at 3 bytes per pixel instead of the 12 of
float32 L + ab; training normalises them on the device inside the compiled step
(``colorkeras.models.stored_input``); ``color.stored_to_normalized`` does the same on the
host for anyone who wants the normalised values.

Horizontal flips stay on the host, inside the uint8 gather (about 2 ms per batch of 64
at 256 px): the flip decides which cached embedding (the image's or its mirror's) goes
with the image, and that row is picked on the host; moving the flip to the device would
mean sending both embeddings, for no gain in bytes or time.

Embeddings are cached per image *and* per horizontal flip (shape (N, 2, D)), so a
flipped training image is paired with the embedding of the flipped image.

For a family that takes a reference photo (``references``: the exemplar family), batches
are ``((l_stored, reference_l, reference_ab), ab_stored)``: each target's reference from
``colorkeras.data.pairs`` (the same split's photos), normalised float32 (B, S, S, 1) and
(B, S, S, 2); drawn anew each epoch in training, one fixed reference per photo where the
reader does not augment (validation).
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from colorkeras.errors import ColorkerasError
from colorkeras.data.destination import SPLITS, read_settings
from colorkeras.data.pairs import ReferencePool, reference_batch


class DatasetError(ColorkerasError):
    """A prepared dataset that is missing, incomplete or does not fit the request."""


@dataclass
class PreparedDataset:
    """A prepared dataset on disk (see ``colorkeras.data.prepare``), opened memory-mapped.

    Args:
        root: the prepared dataset folder.
    """

    root: Path
    settings: dict

    @classmethod
    def open(cls, root) -> "PreparedDataset":
        root = Path(root)
        try:
            settings = read_settings(root)
        except Exception as error:  # noqa: BLE001 - one clear message for the user
            raise DatasetError(str(error)) from error
        return cls(root, settings)

    @property
    def image_size(self) -> int:
        return int(self.settings["image_size"])

    @property
    def classes(self) -> list[str]:
        return list(self.settings["classes"])

    def count(self, split: str) -> int:
        return int(self.settings["counts"].get(split, 0))

    def arrays(self, split: str) -> tuple[np.ndarray, np.ndarray]:
        """Memory-mapped uint8 (L, ab) arrays of one split."""
        if split not in SPLITS:
            raise DatasetError(f"unknown split {split!r}; expected one of {SPLITS}")
        try:
            l_array = np.load(self.root / f"{split}_l.npy", mmap_mode="r")
            ab_array = np.load(self.root / f"{split}_ab.npy", mmap_mode="r")
        except (OSError, ValueError) as error:
            raise DatasetError(f"{self.root}: cannot read the {split} arrays ({error})") from error
        return l_array, ab_array

    def manifest(self, split: str | None = None) -> list[dict]:
        with open(self.root / "manifest.csv", newline="", encoding="utf-8") as handle:
            rows = list(csv.DictReader(handle))
        return [r for r in rows if split is None or r["split"] == split]

    def labels(self, split: str) -> list[str]:
        """Class name of each row of a split, in row order."""
        return [row["class"] for row in self.manifest(split)]

    def embeddings(self, split: str, key: str) -> np.ndarray:
        """Cached extractor outputs (N, 2, D) float32: [:, 0] the image, [:, 1] its flip."""
        path = embedding_path(self.root, key, split)
        if not path.is_file():
            raise DatasetError(
                f"{self.root}: no cached embeddings {key!r} for split {split!r}; "
                f"run `colorkeras embed {self.root} --extractor ...` first."
            )
        return np.load(path, mmap_mode="r")


def embedding_path(root: Path, key: str, split: str) -> Path:
    return Path(root) / "embeddings" / key / f"{split}.npy"


def epoch_order(count: int, seed: int, epoch: int, shuffle: bool, max_images: int | None = None) -> np.ndarray:
    """The order of examples in one epoch; a pure function of (seed, epoch).

    ``max_images`` keeps the first N of that order: one pass is still one epoch.
    """
    order = np.random.default_rng([seed, epoch]).permutation(count) if shuffle else np.arange(count)
    return order[:max_images] if max_images else order


def epoch_flips(count: int, seed: int, epoch: int) -> np.ndarray:
    """Which examples are mirrored in one epoch (for the TF-free reader's augmentation)."""
    return np.random.default_rng([seed, epoch, 1]).random(count) < 0.5


def _batches(order: np.ndarray, batch_size: int, drop_remainder: bool):
    stop = len(order) - (len(order) % batch_size if drop_remainder else 0)
    for start in range(0, stop, batch_size):
        yield order[start : start + batch_size]


def _gather(array: np.ndarray, indices: np.ndarray, flips: np.ndarray | None = None) -> np.ndarray:
    """Rows `indices` of `array`, each mirrored left-right where `flips` is true."""
    # Reading rows in ascending order is much kinder to a memory map; restore order after.
    sort = np.argsort(indices, kind="stable")
    out = np.empty((len(indices),) + array.shape[1:], array.dtype)
    out[sort] = array[indices[sort]]
    if flips is not None:
        for row in np.flatnonzero(flips):
            _mirror(out[row])
    return out


def _mirror(image: np.ndarray) -> None:
    """Reverse the columns of one stored (H, W) L or (H, W, 2) ab uint8 image in place."""
    # Seen as one uint16 per pixel, an ab image reverses as a plain strided copy; a
    # reversed (W, 2) uint8 view makes NumPy loop two bytes at a time (~10x slower).
    pixels = image if image.ndim == 2 else image.view(np.uint16)[..., 0]
    pixels[:] = pixels[:, ::-1].copy()


def crop_and_resize(l_u8: np.ndarray, ab_u8: np.ndarray, size: int, crop_scale: float | None,
                    rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Stored L (B, H, H) and ab (B, H, H, 2) uint8 -> (B, size, size) and (B, size, size, 2).

    With ``crop_scale`` (training), each image is a random resized crop: a box of
    ``crop_scale``..1 of the area and aspect 3:4..4:3 at a random place, resized to
    ``size`` (so a street seen closer or farther is still a street). Without it the whole
    image is resized (validation). Area-averaging when shrinking, bilinear when enlarging,
    on uint8 (OpenCV; L and ab are resized alike, so they stay aligned)."""
    import cv2

    stored = l_u8.shape[1]
    if crop_scale is None and stored == size:
        return l_u8, ab_u8
    l_out = np.empty((len(l_u8), size, size), np.uint8)
    ab_out = np.empty((len(ab_u8), size, size, 2), np.uint8)
    for row in range(len(l_u8)):
        top = left = 0
        height = width = stored
        if crop_scale is not None:
            area = rng.uniform(crop_scale, 1.0) * stored * stored
            aspect = np.exp(rng.uniform(np.log(3 / 4), np.log(4 / 3)))
            width = int(min(stored, round(np.sqrt(area * aspect))))
            height = int(min(stored, round(np.sqrt(area / aspect))))
            top = int(rng.integers(0, stored - height + 1))
            left = int(rng.integers(0, stored - width + 1))
        method = cv2.INTER_AREA if min(height, width) >= size else cv2.INTER_LINEAR
        l_out[row] = cv2.resize(np.ascontiguousarray(l_u8[row, top:top + height, left:left + width]),
                                (size, size), interpolation=method)
        ab_out[row] = cv2.resize(np.ascontiguousarray(ab_u8[row, top:top + height, left:left + width]),
                                 (size, size), interpolation=method)
    return l_out, ab_out


class BatchReader:
    """Shared batch logic: seeded order, gather and flip on uint8; used by both readers.

    ``image_size`` (default: the stored size) is the size batches come out at: smaller
    stored images are refused, larger ones resized, or randomly cropped and resized where
    ``crop_scale`` is set (`crop_and_resize`). With ``references`` each batch also carries
    the targets' references (module docstring), fixed per photo where ``fixed_references``."""

    def __init__(self, dataset: PreparedDataset, split: str, batch_size: int,
                 embeddings_key: str | None = None, image_size: int | None = None,
                 crop_scale: float | None = None, seed: int = 0, references: bool = False,
                 fixed_references: bool = False):
        self.image_size = image_size or dataset.image_size
        if self.image_size > dataset.image_size:
            raise DatasetError(f"{dataset.root} was prepared at {dataset.image_size}px, smaller than the "
                               f"{self.image_size}px asked for: prepare it again at --size {self.image_size} or more")
        if embeddings_key and (crop_scale is not None or self.image_size != dataset.image_size):
            raise DatasetError("cached embeddings belong to the stored images: a model with a frozen "
                               "extractor trains at the prepared size, without crops")
        self.crop_scale = crop_scale
        self.seed = seed
        self.dataset = dataset
        self.l_array, self.ab_array = dataset.arrays(split)
        self.embedding_array = dataset.embeddings(split, embeddings_key) if embeddings_key else None
        self.batch_size = batch_size
        if len(self.l_array) == 0:
            raise DatasetError(f"{dataset.root}: split {split!r} is empty")
        if references and embeddings_key:
            raise DatasetError("a family takes a reference photo or cached embeddings, not both")
        self.reference_pool = ReferencePool.from_dataset(dataset, split) if references else None
        self.fixed_references = fixed_references

    def stored_batch(self, indices: np.ndarray, flips: np.ndarray | None = None):
        """L (B, S, S) and ab (B, S, S, 2) uint8 at the reader's size: gathered, mirrored,
        cropped and resized. The crops are drawn from the seed and the batch's rows, so a
        batch is the same whichever reader or thread makes it."""
        l_u8, ab_u8 = _gather(self.l_array, indices, flips), _gather(self.ab_array, indices, flips)
        rng = np.random.default_rng([self.seed, len(indices), *np.asarray(indices[:4], np.int64).tolist()])
        return crop_and_resize(l_u8, ab_u8, self.image_size, self.crop_scale, rng)

    def numpy_batch(self, indices: np.ndarray, flips: np.ndarray | None = None):
        """One stored batch: (L uint8 (B, S, S, 1)[, embedding], ab uint8 (B, S, S, 2))."""
        l_u8, ab_stored = self.stored_batch(indices, flips)
        inputs = l_u8[..., None]
        if self.reference_pool is not None:
            return (inputs, *self.reference_batch(indices)), ab_stored
        if self.embedding_array is None:
            return inputs, ab_stored
        return (inputs, self.embedding_batch(indices, flips)), ab_stored

    def reference_batch(self, indices: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Normalised reference L (B, S, S, 1) and ab (B, S, S, 2) float32 of the rows."""
        ref_l, ref_ab, _ = reference_batch(self.reference_pool, indices, self.image_size, self.seed,
                                           fixed=self.fixed_references)
        return ref_l, ref_ab

    def embedding_batch(self, indices: np.ndarray, flips: np.ndarray | None = None) -> np.ndarray:
        """The cached embedding of each row, or of its mirror image where `flips` is true."""
        rows = _gather(self.embedding_array, indices)
        which = np.zeros(len(indices), np.int64) if flips is None else flips.astype(np.int64)
        return rows[np.arange(len(indices)), which].astype(np.float32)


# ------------------------------------------------------------------------------------
# tf.data
# ------------------------------------------------------------------------------------
def make_tf_dataset(
    dataset: PreparedDataset | str | Path,
    split: str = "train",
    *,
    batch_size: int = 64,
    shuffle: bool = True,
    augment: bool = True,
    seed: int = 0,
    embeddings_key: str | None = None,
    drop_remainder: bool | None = None,
    start_epoch: int = 0,
    max_images: int | None = None,
    repeat: bool = False,
    device: str | None = None,
    image_size: int | None = None,
    crop_scale: float | None = None,
    references: bool = False,
):
    """A tf.data pipeline of stored uint8 batches (see the module docstring).

    Each pass over the dataset is one epoch with its own seeded order; horizontal flips
    are drawn in TensorFlow (seeded) and pick the flipped image's cached embedding.
    Batches are prefetched (AUTOTUNE) on the host; with ``device`` they are also copied
    ahead to that device, so the step never waits for a transfer.

    Args:
        max_images: use only the first N images of each epoch's order (smoke runs).
        start_epoch: the epoch the first pass stands for, so a resumed run continues the
            same sequence of orders.
        repeat: pass after pass (each a new seeded epoch), endlessly.
        device: prefetch to this one device ("/gpu:0") as the last transformation
            (``tf.data.experimental.prefetch_to_device``; one device only, so not under a
            multi-device distribution strategy).
        image_size, crop_scale: the size batches come out at and the random resized crops
            (`BatchReader`).
        references: each target's reference photo too (fixed per photo without ``augment``).
    """
    import tensorflow as tf

    if not isinstance(dataset, PreparedDataset):
        dataset = PreparedDataset.open(dataset)
    reader = BatchReader(dataset, split, batch_size, embeddings_key, image_size, crop_scale, seed,
                         references=references, fixed_references=not augment)
    drop_remainder = shuffle if drop_remainder is None else drop_remainder
    index_batches = _epochs_of_batches(len(reader.l_array), seed, shuffle, max_images, batch_size,
                                       drop_remainder, start_epoch)
    indices = tf.data.Dataset.from_generator(index_batches, output_signature=tf.TensorSpec([None], tf.int64))
    pipeline = tf.data.Dataset.zip(indices, _tf_flips(augment, seed, batch_size)).map(
        lambda idx, flp: (idx, flp[: tf.shape(idx)[0]])
    )
    pipeline = pipeline.map(_tf_loader(reader), num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
    options = tf.data.Options()
    options.experimental_optimization.map_parallelization = True
    pipeline = pipeline.with_options(options)
    if repeat:
        pipeline = pipeline.repeat()
    pipeline = pipeline.prefetch(tf.data.AUTOTUNE)
    if device:
        pipeline = pipeline.apply(tf.data.experimental.prefetch_to_device(device, buffer_size=2))
    return pipeline


def _epochs_of_batches(count: int, seed: int, shuffle: bool, max_images, batch_size: int, drop_remainder: bool,
                       start_epoch: int):
    """A generator function whose every call yields the index batches of the next epoch
    (its own seeded order), starting at ``start_epoch``."""
    epoch_counter = [start_epoch]

    def index_batches():
        epoch = epoch_counter[0]
        epoch_counter[0] += 1
        yield from _batches(epoch_order(count, seed, epoch, shuffle, max_images), batch_size, drop_remainder)

    return index_batches


def _tf_flips(augment: bool, seed: int, batch_size: int):
    """Endless batches of horizontal-flip flags: seeded coin tosses, or all False."""
    import tensorflow as tf

    if augment:
        flips = tf.data.Dataset.random(seed=seed).map(lambda x: x % 2 == 0)
        return flips.batch(batch_size).repeat()
    return tf.data.Dataset.from_tensors(tf.zeros([batch_size], tf.bool)).repeat()


def _tf_loader(reader: BatchReader):
    """(indices, flips) -> the stored batch, as tf.data's map function over the reader."""
    import tensorflow as tf

    size = reader.image_size
    with_embedding = reader.embedding_array is not None
    references = reader.reference_pool is not None

    def gather(idx, flp):
        # Gather and mirror in NumPy on uint8 (a few ms per batch); TF's reverse +
        # where over the float32 batch cost ~70 ms and capped the pipeline.
        idx, flp = np.asarray(idx), np.asarray(flp)
        l_u8, ab_u8 = reader.stored_batch(idx, flp)
        emb = reader.embedding_batch(idx, flp) if with_embedding else np.zeros((len(idx), 0), np.float32)
        return (l_u8, ab_u8, emb, *reader.reference_batch(idx)) if references else (l_u8, ab_u8, emb)

    def load(indices, flips):
        l_u8, ab_u8, emb, *refs = tf.numpy_function(
            gather, [indices, flips], [tf.uint8, tf.uint8, tf.float32] + [tf.float32] * 2 * references)
        l_u8.set_shape([None, size, size])
        ab_u8.set_shape([None, size, size, 2])
        l_u8 = l_u8[..., None]
        if references:
            return (l_u8, *(tf.ensure_shape(r, [None, size, size, c]) for r, c in zip(refs, (1, 2)))), ab_u8
        if with_embedding:
            emb.set_shape([None, reader.embedding_array.shape[-1]])
            return (l_u8, emb), ab_u8
        return l_u8, ab_u8

    return load


# ------------------------------------------------------------------------------------
# TF-free reader
# ------------------------------------------------------------------------------------
def make_py_dataset(
    dataset: PreparedDataset | str | Path,
    split: str = "train",
    *,
    batch_size: int = 64,
    shuffle: bool = True,
    augment: bool = True,
    seed: int = 0,
    embeddings_key: str | None = None,
    drop_remainder: bool | None = None,
    start_epoch: int = 0,
    workers: int = 1,
    max_images: int | None = None,
    queue: int = 10,
    image_size: int | None = None,
    crop_scale: float | None = None,
    references: bool = False,
):
    """A ``keras.utils.PyDataset`` of stored uint8 batches over the memory-mapped arrays
    (no TensorFlow needed; see the module docstring).

    With ``workers`` >= 2, ``fit`` reads ahead on that many threads (Keras'
    ``OrderedEnqueuer``) and keeps up to ``queue`` batches ready while the step runs; with
    1 it reads each batch when the step asks for it. (On a GPU, Keras' JAX trainer also
    starts each batch's transfer to the device one step ahead.)
    """
    import keras

    if not isinstance(dataset, PreparedDataset):
        dataset = PreparedDataset.open(dataset)
    reader = BatchReader(dataset, split, batch_size, embeddings_key, image_size, crop_scale, seed,
                         references=references, fixed_references=not augment)
    drop_remainder = shuffle if drop_remainder is None else drop_remainder

    class PreparedPyDataset(keras.utils.PyDataset):
        def __init__(self):
            super().__init__(workers=workers, use_multiprocessing=False, max_queue_size=queue)
            self.epoch = start_epoch
            self._set_epoch(start_epoch)

        def _set_epoch(self, epoch):
            self._order = epoch_order(len(reader.l_array), seed, epoch, shuffle, max_images)
            count = len(self._order)
            self._flips = epoch_flips(count, seed, epoch) if augment else None
            self._batches = list(_batches(np.arange(count), batch_size, drop_remainder))

        def __len__(self):
            return len(self._batches)

        def __getitem__(self, index):
            positions = self._batches[index]
            flips = None if self._flips is None else self._flips[positions]
            return reader.numpy_batch(self._order[positions], flips)

        def on_epoch_end(self):
            self.epoch += 1
            self._set_epoch(self.epoch)

    return PreparedPyDataset()
