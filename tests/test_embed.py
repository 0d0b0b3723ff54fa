"""`colorkeras embed`: cached extractor outputs for every image and its mirror image."""

from __future__ import annotations

import json
import re

import numpy as np
import pytest

from colorkeras import color
from colorkeras.data.pipeline import PreparedDataset
from colorkeras.training.embed import embed_dataset
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
    import colorkeras.training.embed as embed

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


def test_embed_cli_caches_what_its_extractor_computes(own_prepared_toy_city, capsys):
    """`colorkeras embed` with random weights: the folder it names holds, for every split,
    the outputs of the extractor it built for each image and its mirror image."""
    import keras

    from colorkeras.cli import main
    from colorkeras.training.embed import weights_digest

    keras.utils.set_random_seed(3)
    assert main(["embed", str(own_prepared_toy_city), "--extractor", "vit_b16", "--weights", "random",
                 "--extractor-size", "tiny", "--batch-size", "16"]) == 0
    [folder] = re.findall(r"^Embeddings cached under (.+)$", capsys.readouterr().out, re.MULTILINE)
    keras.utils.set_random_seed(3)  # the same random extractor again, as the command built it
    extractor = build_extractor("vit_b16", 32, weights=None, size="tiny")
    assert folder.endswith(weights_digest(extractor))
    dataset = PreparedDataset.open(own_prepared_toy_city)
    for split in ("train", "val", "test"):
        cached = np.load(f"{folder}/{split}.npy")
        assert cached.shape == (dataset.count(split), 2, 1000), split
        l_u8, _ = dataset.arrays(split)
        l_norm = color.normalize_l(color.dequantize_l(l_u8.astype(np.float32)))[..., None]
        np.testing.assert_allclose(cached[:, 0], extractor.predict(l_norm, verbose=0), atol=1e-4)
        np.testing.assert_allclose(cached[:, 1], extractor.predict(l_norm[:, :, ::-1], verbose=0), atol=1e-4)


# ------------------------------------------------------------------------------------
# A full disk (issue 22): one clear line, never a SIGBUS, nothing partial left behind
# ------------------------------------------------------------------------------------
@pytest.fixture
def small_disk(tmp_path):
    """``mount(size)``: a real file system of ``size`` bytes (tmpfs) at tmp_path/disk, so a
    full disk is met as a user meets it. Mounting needs root (CI's container has it);
    elsewhere the tests that need it are skipped, saying why."""
    import subprocess

    point = tmp_path / "disk"
    point.mkdir()
    mounted = []

    def mount(size: int):
        result = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(point)],
                                capture_output=True, text=True)
        if result.returncode:
            pytest.skip(f"cannot mount a small tmpfs here ({result.stderr.strip()}); needs root")
        mounted.append(point)
        return point

    yield mount
    for point in mounted:
        subprocess.run(["umount", "-l", str(point)], check=True)


def _dataset_on_small_disk(prepared, small_disk, spare: int):
    """A copy of ``prepared`` on a disk with about ``spare`` bytes left over."""
    import shutil

    size = sum(p.stat().st_size for p in prepared.rglob("*") if p.is_file())
    disk = small_disk(size + 64 * 1024 + spare)  # + directory entries and rounding
    return shutil.copytree(prepared, disk / "toy32")


def _embed_in_a_process(data, *extra_code):
    """`colorkeras embed` (a tiny random ViT) in its own process: a SIGBUS kills only it."""
    import subprocess
    import sys

    code = "\n".join([*extra_code, "import sys", "from colorkeras.cli import main",
                      f"sys.exit(main(['embed', {str(data)!r}, '--extractor', 'vit_b16', '--weights', "
                      "'random', '--extractor-size', 'tiny', '--batch-size', '8']))"])
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)


def _leftovers(data):
    return sorted(p.name for p in (data / "embeddings").rglob("*") if p.is_file()) \
        if (data / "embeddings").exists() else []


def test_embed_on_a_full_disk_is_one_clear_line_and_leaves_nothing(prepared_toy_city, small_disk):
    # The train split's embeddings (40 x 2 x 1000 float32: 320 KB) do not fit in 128 KB.
    data = _dataset_on_small_disk(prepared_toy_city, small_disk, spare=128 * 1024)
    result = _embed_in_a_process(data)
    assert result.returncode == 2, (result.returncode, result.stderr[-2000:])  # not -7 (SIGBUS)
    message = result.stderr.strip().splitlines()[-1]
    assert message.startswith("colorkeras embed: error: not enough free space to cache the embeddings in")
    assert "bytes are free" in message and "Traceback" not in result.stderr
    assert _leftovers(data) == []


def test_embed_allocates_its_file_so_a_full_disk_is_an_error_not_a_sigbus(prepared_toy_city, small_disk):
    # The free-space check is fooled (another writer could fill the disk after it): the
    # allocation of the partial file then fails with ENOSPC, which is reported.
    data = _dataset_on_small_disk(prepared_toy_city, small_disk, spare=128 * 1024)
    result = _embed_in_a_process(data, "import shutil", "real = shutil.disk_usage",
                                 "shutil.disk_usage = lambda path: real(path)._replace(free=10**12)")
    assert result.returncode == 2, (result.returncode, result.stderr[-2000:])  # not -7 (SIGBUS)
    message = result.stderr.strip().splitlines()[-1]
    assert message.startswith("colorkeras embed: error: could not write ")
    assert "train.partial.npy: No space left on device; nothing partial was kept" in message
    assert _leftovers(data) == []


def test_embed_checks_free_space_before_any_work(own_prepared_toy_city, monkeypatch):
    import shutil

    from colorkeras.training.embed import EmbedError

    real = shutil.disk_usage
    monkeypatch.setattr(shutil, "disk_usage", lambda path: real(path)._replace(free=5000))
    dataset = PreparedDataset.open(own_prepared_toy_city)
    extractor = build_extractor("vit_b16", dataset.image_size, weights=None, size="tiny")
    # A partial file with no record of its rows (left by a crash) is no work to keep.
    from colorkeras.training.embed import weights_digest
    from colorkeras.models.extractors import extractor_key

    stale = own_prepared_toy_city / "embeddings" / f"{extractor_key('vit_b16', None)}-tiny-{weights_digest(extractor)}"
    stale.mkdir(parents=True)
    stale = stale / "train.partial.npy"
    stale.write_bytes(b"\0" * 4096)
    with pytest.raises(EmbedError, match=r"they need about [\d,]+ bytes \(0.00 GiB\) and 5,000 bytes are free"):
        embed_dataset(dataset, "vit_b16", None, extractor_size="tiny", progress=False, model=extractor)
    assert not stale.exists() and _leftovers(own_prepared_toy_city) == []


def test_train_vit_fusion_on_a_full_disk_is_one_clear_line(prepared_toy_city, small_disk):
    from tests.test_cli import run_cli

    data = _dataset_on_small_disk(prepared_toy_city, small_disk, spare=128 * 1024)
    result = run_cli("train", data, "--model", "vit_fusion", "--out", data.parent / "run", "--smoke",
                     "--image-size", "32", "--epochs", "1", "--extractor-weights", "random",
                     "--set", "extractor_size=tiny")
    assert result.returncode == 2, (result.returncode, result.stderr[-2000:])
    assert result.stderr.strip().splitlines()[-1].startswith(
        "colorkeras train: error: not enough free space to cache the embeddings")
    assert _leftovers(data) == []
