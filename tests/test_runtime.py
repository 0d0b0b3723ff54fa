"""Tests of colorkeras.runtime: the precision training picks and the notebooks' accelerator check."""

from __future__ import annotations

import sys
import types

import pytest

from colorkeras import runtime


@pytest.mark.parametrize("requested", ["float32", "mixed_float16", "mixed_bfloat16"])
def test_resolve_precision_keeps_an_explicit_choice(requested):
    assert runtime.resolve_precision(requested) == requested


def test_resolve_precision_auto_follows_the_device():
    precision = runtime.resolve_precision("auto")
    if runtime.gpu_names():
        assert precision in ("mixed_float16", "mixed_bfloat16")
    else:
        assert precision == "float32"


def test_describe_accelerator_names_the_backend_and_the_gpus():
    import keras

    text = runtime.describe_accelerator()
    assert f"backend {keras.backend.backend()}" in text
    assert ("GPU:" in text) == bool(runtime.gpu_names())
    assert ("Training precision" in text) == bool(runtime.gpu_names())


def test_describe_accelerator_without_a_gpu_says_how_to_get_one(monkeypatch):
    if runtime.gpu_names():
        pytest.skip("this machine has a GPU")
    monkeypatch.delitem(sys.modules, "google.colab", raising=False)
    assert not runtime.in_colab()
    assert "needs a GPU" in runtime.describe_accelerator()
    monkeypatch.setitem(sys.modules, "google.colab", types.ModuleType("google.colab"))
    assert runtime.in_colab()
    assert "Runtime > Change runtime type > T4 GPU" in runtime.describe_accelerator()
