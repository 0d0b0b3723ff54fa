"""What the U-Net families share: the self-attention block over the lowest grid and the
checks of the architecture arguments both take (``colorkeras.models.unet`` and
``colorkeras.models.efficient``), so that both say a wrong value in the same words.
"""

from __future__ import annotations

from keras import layers

from colorkeras.errors import InvalidArgument

ATTENTION_HEADS = 4


def is_whole_number(value) -> bool:
    """An int that is not a bool (True is an int to Python)."""
    return isinstance(value, int) and not isinstance(value, bool)


def self_attention(x, heads: int, name: str):
    """Self-attention over the flattened (G, G, C) grid, with a residual and LayerNorm.

    In float32 under mixed precision: the block is a small part of the cost, it keeps the
    attention logits and softmax exact, and JAX on CPU has no float16 matrix products."""
    grid, channels = x.shape[1], x.shape[-1]
    tokens = layers.Reshape((grid * grid, channels), name=f"{name}_flatten")(x)
    attended = layers.MultiHeadAttention(heads, key_dim=max(1, channels // heads), dtype="float32",
                                         name=f"{name}_mha")(tokens, tokens)
    tokens = layers.Add(dtype="float32", name=f"{name}_residual")([tokens, attended])
    tokens = layers.LayerNormalization(dtype="float32", name=f"{name}_norm")(tokens)
    return layers.Reshape((grid, grid, channels), name=f"{name}_grid")(tokens)


def check_depth(depth, max_depth: int) -> None:
    if not is_whole_number(depth) or not 1 <= depth <= max_depth:
        raise InvalidArgument(f"depth must be a whole number from 1 to {max_depth}, got {depth!r}")


def check_base_filters(base_filters) -> None:
    """At least one filter per attention head."""
    if not is_whole_number(base_filters) or base_filters < ATTENTION_HEADS:
        raise InvalidArgument(f"base_filters must be a whole number >= {ATTENTION_HEADS}, got {base_filters!r}")


def check_attention(attention) -> None:
    if not isinstance(attention, bool):
        raise InvalidArgument(f"attention must be True or False, got {attention!r}")


def check_output_channels(output_channels) -> None:
    """2 (regression: ab) or more (what a classification or confidence objective decodes)."""
    if not is_whole_number(output_channels) or output_channels < 2:
        raise InvalidArgument(f"output_channels must be a whole number >= 2, got {output_channels!r}")
