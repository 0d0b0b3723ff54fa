"""`colorkeras embed`: cached extractor outputs for every image and its mirror image."""

from __future__ import annotations

import json

import numpy as np
import pytest

from colorkeras import color
from colorkeras.data.pipeline import PreparedDataset
from colorkeras.embed import embed_dataset
from colorkeras.models.extractors import build_extractor


@pytest.mark.backend
def test_embed_caches_image_and_flip_and_is_keyed_by_weights(own_prepared_toy_city):
    import keras

    dataset = PreparedDataset.open(own_prepared_toy_city)
    keras.utils.set_random_seed(7)
    extractor = build_extractor("vit_b16", dataset.image_size, weights=None, size="tiny")
    key = embed_dataset(dataset, "vit_b16", None, extractor_size="tiny", batch_size=8, progress=False, model=extractor)
    cached = dataset.embeddings("val", key)
    assert cached.shape == (dataset.count("val"), 2, 1000)
    l_u8, _ = dataset.arrays("val")
    l_norm = color.normalize_l(color.dequantize_l(l_u8.astype(np.float32)))[..., None]
    np.testing.assert_allclose(cached[:, 0], extractor.predict(l_norm, verbose=0), atol=1e-4)
    np.testing.assert_allclose(cached[:, 1], extractor.predict(l_norm[:, :, ::-1], verbose=0), atol=1e-4)
    # Another random extractor gets its own cache instead of reusing this one.
    other = build_extractor("vit_b16", dataset.image_size, weights=None, size="tiny")
    other_key = embed_dataset(dataset, "vit_b16", None, extractor_size="tiny", progress=False, model=other)
    assert other_key != key


def test_embed_resumes_from_its_progress_file(own_prepared_toy_city, monkeypatch):
    import colorkeras.embed as embed

    dataset = PreparedDataset.open(own_prepared_toy_city)
    extractor = build_extractor("vit_b16", dataset.image_size, weights=None, size="tiny")
    monkeypatch.setattr(embed, "CHUNK_BATCHES", 1)
    calls = []
    original = extractor.predict

    def failing_predict(x, **kwargs):
        calls.append(len(x))
        if len(calls) == 3:  # die in the middle of the second chunk, like a disconnect
            raise KeyboardInterrupt
        return original(x, **kwargs)

    monkeypatch.setattr(extractor, "predict", failing_predict)
    with pytest.raises(KeyboardInterrupt):
        embed_dataset(dataset, "vit_b16", None, extractor_size="tiny", batch_size=8, splits=("train",),
                      progress=False, model=extractor)
    partial = list((own_prepared_toy_city / "embeddings").glob("*/train.progress.json"))
    assert partial and json.loads(partial[0].read_text())["rows_done"] == 8
    monkeypatch.setattr(extractor, "predict", original)
    key = embed_dataset(dataset, "vit_b16", None, extractor_size="tiny", batch_size=8, splits=("train",),
                        progress=False, model=extractor)
    cached = dataset.embeddings("train", key)
    l_u8, _ = dataset.arrays("train")
    l_norm = color.normalize_l(color.dequantize_l(l_u8.astype(np.float32)))[..., None]
    np.testing.assert_allclose(cached[:, 0], original(l_norm, verbose=0), atol=1e-4)
    assert not list((own_prepared_toy_city / "embeddings").glob("*/train.progress.json"))


def test_embed_cli_runs_with_random_weights(own_prepared_toy_city):
    from tests.test_cli import run_cli

    result = run_cli("embed", own_prepared_toy_city, "--extractor", "inception_v3", "--weights", "random",
                     "--batch-size", "16")
    assert result.returncode == 0, result.stderr[-2000:]
    assert "Embeddings cached under" in result.stdout
