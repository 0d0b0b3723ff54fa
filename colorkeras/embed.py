"""Cache a frozen extractor's outputs for every prepared image and its mirror image.

Stored as ``PREPARED/embeddings/<extractor>-<weights>-<digest>/<split>.npy``, float32 of shape
(N, 2, 1000): ``[:, 0]`` for the image, ``[:, 1]`` for its horizontal flip, so flip
augmentation in training still sees the right embedding. Work is saved chunk by chunk
(``<split>.partial.npy`` plus a progress file); a rerun continues where it stopped.
"""

from __future__ import annotations

import hashlib
import json
import os

import numpy as np

from colorkeras import color
from colorkeras.data.pipeline import PreparedDataset, embedding_path
from colorkeras.data.prepare import SPLITS
from colorkeras.fileio import write_text_atomic
from colorkeras.models.extractors import build_extractor, extractor_key

CHUNK_BATCHES = 8  # progress is saved every CHUNK_BATCHES batches


def embed_dataset(
    prepared,
    extractor: str,
    weights="imagenet",
    *,
    batch_size: int = 32,
    splits=SPLITS,
    extractor_size: str = "base",
    progress: bool = True,
    model=None,
) -> str:
    """Compute and store embeddings for `splits`; return the cache key.

    Args:
        prepared: a prepared dataset folder or PreparedDataset.
        extractor: "inception_v3" or "vit_b16".
        weights: the extractor's weights ("imagenet", a local path, None for random).
        model: an already built extractor (skips building one).
    """
    from tqdm.auto import tqdm

    dataset = prepared if isinstance(prepared, PreparedDataset) else PreparedDataset.open(prepared)
    if model is None:
        model = build_extractor(extractor, dataset.image_size, weights, extractor_size)
    # Keyed by the weights' own digest too: two random (or two local) extractors never
    # share a cache, and a model is always trained on its own extractor's outputs.
    key = "-".join([extractor_key(extractor, weights)]
                   + ([extractor_size] if extractor_size != "base" else [])
                   + [weights_digest(model)])
    todo = [s for s in splits if dataset.count(s) and not embedding_path(dataset.root, key, s).is_file()]
    if not todo:
        return key
    for split in todo:
        final = embedding_path(dataset.root, key, split)
        final.parent.mkdir(parents=True, exist_ok=True)
        partial = final.with_name(f"{split}.partial.npy")
        progress_file = final.with_name(f"{split}.progress.json")
        l_array, _ = dataset.arrays(split)
        count = len(l_array)
        done = 0
        if partial.is_file() and progress_file.is_file():
            done = json.loads(progress_file.read_text())["rows_done"]
            out = np.load(partial, mmap_mode="r+")
        else:
            out = np.lib.format.open_memmap(partial, "w+", np.float32, (count, 2, model.output.shape[-1]))
        bar = tqdm(total=count, initial=done, desc=f"embed {split}", unit="img", disable=not progress)
        chunk = batch_size * CHUNK_BATCHES
        for start in range(done, count, chunk):
            stop = min(start + chunk, count)
            l_norm = color.normalize_l(color.dequantize_l(l_array[start:stop].astype(np.float32)))[..., None]
            out[start:stop, 0] = model.predict(l_norm, batch_size=batch_size, verbose=0)
            out[start:stop, 1] = model.predict(l_norm[:, :, ::-1], batch_size=batch_size, verbose=0)
            out.flush()
            write_text_atomic(progress_file, json.dumps({"rows_done": stop}))
            bar.update(stop - start)
        bar.close()
        del out
        os.replace(partial, final)
        progress_file.unlink(missing_ok=True)
    return key


def weights_digest(model) -> str:
    """A short digest of every weight of a model (which extractor made an embedding)."""
    import keras

    digest = hashlib.sha1()
    for weight in model.weights:
        digest.update(np.ascontiguousarray(keras.ops.convert_to_numpy(weight)).tobytes())
    return digest.hexdigest()[:10]
