"""Shared fixtures: a small prepared toy city, built once per test session."""

from __future__ import annotations

import pytest

from colorkeras.runtime import quiet_tensorflow_startup

quiet_tensorflow_startup()

TEST_IMAGE_SIZE = 32


def _lpips_installed() -> bool:
    import importlib.util

    return all(importlib.util.find_spec(name) is not None for name in ("lpips", "torch", "torchvision"))


def pytest_collection_modifyitems(config, items):
    """Tests marked `lpips` need torch (about 5 GB): without it they are skipped with the
    install line, and CI runs them in an extra step (`.ci/run`)."""
    if _lpips_installed():
        return
    skip = pytest.mark.skip(reason="needs the lpips extra: pip install -r requirements-lpips.txt")
    for item in items:
        if "lpips" in item.keywords:
            item.add_marker(skip)


@pytest.fixture(scope="session")
def toy_city(tmp_path_factory):
    """A toy-city image folder: 4 classes x 12 images of 48x48 (real PNG files)."""
    from colorkeras.data.synthetic import write_toy_city

    root = tmp_path_factory.mktemp("toy_city")
    write_toy_city(root, per_class=12, size=48, seed=0)
    return root


@pytest.fixture(scope="session")
def prepared_toy_city(toy_city, tmp_path_factory):
    """The toy city prepared at 32x32 (train 40, val 4, test 4)."""
    from colorkeras.data.prepare import PrepareSettings, prepare

    out = tmp_path_factory.mktemp("prepared") / "toy32"
    prepare(toy_city, out, PrepareSettings(image_size=TEST_IMAGE_SIZE), workers=1, progress=False)
    return out


@pytest.fixture
def own_prepared_toy_city(prepared_toy_city, tmp_path):
    """A private copy of the prepared toy city, for tests that write into a dataset
    (embeddings, probes): the shared one stays as every other test expects it."""
    import shutil

    return shutil.copytree(prepared_toy_city, tmp_path / "toy32")
