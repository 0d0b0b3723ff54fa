"""Shared fixtures: a small prepared toy city, built once per test session."""

from __future__ import annotations

import os

import pytest

from colorkeras.runtime import quiet_tensorflow_startup

quiet_tensorflow_startup()

TEST_IMAGE_SIZE = 32


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
