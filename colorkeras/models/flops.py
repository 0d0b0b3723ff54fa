"""Forward cost of a colorizer, counted analytically from its layers (no profiler).

FLOPs are 2 x multiply-adds per image of the layers that dominate a colorizer: convolutions,
dense layers and multi-head self-attention. Normalisation, activations, pooling and
upsampling are a few operations per value and are left out (well under 1% here).

A layer of its own kind reports its cost through a ``forward_flops()`` method (the exemplar
family's attention, ``colorkeras.models.exemplar``); a nested model that a model calls more
than once per image (a shared encoder) is counted as often as the model's
``calls_per_image`` (a dict: nested model name -> calls) says.
"""

from __future__ import annotations

import math

import keras
from keras import layers


def _attention_flops(layer) -> int:
    """Self-attention (query = key = value) over N tokens of C channels."""
    _, tokens, channels = layer.output.shape
    inner = layer.num_heads * layer.key_dim
    projections = 2 * tokens * channels * inner * 3 + 2 * tokens * inner * channels  # q, k, v; output
    mixing = 2 * 2 * tokens * tokens * inner  # scores, then the weighted sum of values
    return projections + mixing


def forward_flops(model) -> int:
    """FLOPs of one image through `model` (nested models counted where they are used)."""
    total = 0
    calls = getattr(model, "calls_per_image", {})
    for layer in model.layers:
        if isinstance(layer, keras.Model):
            total += forward_flops(layer) * calls.get(layer.name, 1)
        elif callable(getattr(layer, "forward_flops", None)):
            total += layer.forward_flops()
        elif isinstance(layer, layers.Conv2D):
            cin = layer.input.shape[-1]
            spatial = math.prod(layer.output.shape[1:-1])
            total += 2 * spatial * math.prod(layer.kernel_size) * cin * layer.filters // layer.groups
        elif isinstance(layer, layers.Dense):
            rows = math.prod(layer.output.shape[1:-1])
            total += 2 * rows * layer.input.shape[-1] * layer.units
        elif isinstance(layer, layers.MultiHeadAttention):
            total += _attention_flops(layer)
    return total
