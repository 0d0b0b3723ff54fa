"""Cache a frozen extractor's outputs for every prepared image and its mirror image.

Stored as ``PREPARED/embeddings/<extractor>-<weights>-<digest>/<split>.npy``, float32 of shape
(N, 2, 1000): ``[:, 0]`` for the image, ``[:, 1]`` for its horizontal flip, so flip
augmentation in training still sees the right embedding. Work is saved chunk by chunk
(``<split>.partial.npy`` plus a progress file); a rerun continues where it stopped.

A full disk is one clear error (``EmbedError``) before any work: free space is checked
for every split first, and each partial file's blocks are allocated when it is created,
so the memory-mapped writes that follow cannot fail half-way (on a sparse file they
would kill the process with SIGBUS).
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import json
import os
from pathlib import Path

import numpy as np
from tqdm.auto import tqdm

from colorkeras import color
from colorkeras.data.pipeline import PreparedDataset, embedding_path
from colorkeras.data.prepare import SPLITS
from colorkeras.errors import ColorkerasError
from colorkeras.fileio import free_bytes_if_short, write_text_atomic
from colorkeras.models.extractors import build_extractor, extractor_key

CHUNK_BATCHES = 8  # progress is saved every CHUNK_BATCHES batches
_HEADER_BYTES = 4096  # an .npy header, rounded up


class EmbedError(ColorkerasError):
    """The embeddings cannot be written (a full disk, a read-only folder)."""


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
    dim = int(model.output.shape[-1])
    _check_free_space(dataset, key, todo, dim)
    for split in todo:
        _embed_split(dataset, embedding_path(dataset.root, key, split), split, model, dim, batch_size, progress)
    return key


def _embed_split(dataset, final: Path, split: str, model, dim: int, batch_size: int, progress: bool) -> None:
    """Embed one split into ``final``, chunk by chunk, continuing a partial file whose
    progress was recorded."""
    partial = final.with_name(f"{split}.partial.npy")
    progress_file = final.with_name(f"{split}.progress.json")
    l_array, _ = dataset.arrays(split)
    count = len(l_array)
    done = 0
    if partial.is_file() and progress_file.is_file():
        done = json.loads(progress_file.read_text())["rows_done"]
        out = np.load(partial, mmap_mode="r+")
        _allocate_or_explain(partial, remove=False)  # a sparse file of an older version
    else:
        out = _create_partial(partial, (count, 2, dim))
    bar = tqdm(total=count, initial=done, desc=f"embed {split}", unit="img", disable=not progress)
    chunk = batch_size * CHUNK_BATCHES
    for start in range(done, count, chunk):
        stop = min(start + chunk, count)
        l_norm = color.normalize_l(color.dequantize_l(l_array[start:stop].astype(np.float32)))[..., None]
        out[start:stop, 0] = model.predict(l_norm, batch_size=batch_size, verbose=0)
        out[start:stop, 1] = model.predict(l_norm[:, :, ::-1], batch_size=batch_size, verbose=0)
        with _writing(progress_file, "the rows done so far are kept; rerun to continue"):
            out.flush()
            write_text_atomic(progress_file, json.dumps({"rows_done": stop}))
        bar.update(stop - start)
    bar.close()
    del out
    os.replace(partial, final)
    progress_file.unlink(missing_ok=True)


def _check_free_space(dataset, key: str, todo, dim: int) -> None:
    """Refuse, before any work, when the splits still to do do not fit on the disk."""
    folder = embedding_path(dataset.root, key, todo[0]).parent
    needed = 0
    for split in todo:
        partial = folder / f"{split}.partial.npy"
        if partial.is_file() and not (folder / f"{split}.progress.json").is_file():
            partial.unlink()  # no record of rows done: nothing in it to keep
        if not partial.is_file():
            needed += dataset.count(split) * 2 * dim * 4 + _HEADER_BYTES
    with _writing(folder, "nothing was written"):
        folder.mkdir(parents=True, exist_ok=True)
    free = free_bytes_if_short(folder, needed)
    if free is not None:
        raise EmbedError(
            f"not enough free space to cache the embeddings in {folder}: they need about "
            f"{needed:,} bytes ({needed / 2**30:.2f} GiB) and {free:,} bytes are free; "
            "free some space and rerun")


def _create_partial(path: Path, shape) -> np.memmap:
    """An .npy file of ``shape`` float32, memory-mapped, with every block allocated now."""
    try:
        out = np.lib.format.open_memmap(path, "w+", np.float32, shape)
    except OSError as error:
        path.unlink(missing_ok=True)
        raise EmbedError(_write_failure(path, error, "nothing partial was kept")) from error
    try:
        _allocate_or_explain(path, remove=True)
    except BaseException:
        del out
        path.unlink(missing_ok=True)
        raise
    return out


def _allocate_or_explain(path: Path, remove: bool) -> None:
    """Allocate the disk blocks of the whole file: writing through a memory map into a
    hole of a sparse file on a full disk is a SIGBUS, not an error; this is ENOSPC."""
    kept = "nothing partial was kept" if remove else "the rows done so far are kept; rerun to continue"
    try:
        with open(path, "r+b") as handle:
            size = os.fstat(handle.fileno()).st_size
            try:
                os.posix_fallocate(handle.fileno(), 0, size)
            except OSError as error:
                if error.errno not in (errno.EOPNOTSUPP, errno.EINVAL, errno.ENOSYS):
                    raise
                _fill_holes(handle, size)
            except AttributeError:  # no posix_fallocate on this OS (macOS, Windows)
                _fill_holes(handle, size)
    except OSError as error:
        raise EmbedError(_write_failure(path, error, kept)) from error


def _fill_holes(handle, size: int) -> None:
    """Allocate by writing: zeros where the file reads as zeros (its holes)."""
    block = 1 << 20
    for offset in range(0, size, block):
        handle.seek(offset)
        data = handle.read(min(block, size - offset))
        if not any(data):
            handle.seek(offset)
            handle.write(data)
    handle.flush()
    os.fsync(handle.fileno())


@contextlib.contextmanager
def _writing(path, kept: str):
    """Turn an OSError (a full disk) while writing ``path`` into one clear EmbedError."""
    try:
        yield
    except OSError as error:
        raise EmbedError(_write_failure(path, error, kept)) from error


def _write_failure(path, error: OSError, kept: str) -> str:
    return (f"could not write {path}: {error.strerror or error}; {kept}. "
            "Free some space (or fix the folder's permissions) and rerun.")


def weights_digest(model) -> str:
    """A short digest of every weight of a model (which extractor made an embedding)."""
    import keras

    digest = hashlib.sha1()
    for weight in model.weights:
        digest.update(np.ascontiguousarray(keras.ops.convert_to_numpy(weight)).tobytes())
    return digest.hexdigest()[:10]
