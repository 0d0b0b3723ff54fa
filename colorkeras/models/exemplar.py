"""The exemplar family: colour a grey photo from a colour reference photo (issue 19).

Inputs (normalised as everywhere, ``colorkeras.color``): the target's L (S, S, 1), the
reference's L (S, S, 1) and the reference's ab (S, S, 2); output: normalised ab (S, S, 2)
for the target (2 channels: the regression objectives, MSE by default).

* **One shared encoder** (the nested model "encoder", applied to both L images): the
  efficient family's strided stem and blocks (``colorkeras.models.efficient``) down to
  S/8, plus a 3x3 projection to ``key_dim`` matching features.
* **Attention from the target to the reference at S/8** (``ReferenceAttention``): the
  target's matching features are the queries, the reference's the keys (both unit
  length: cosine similarity, times a learnt scale, then softmax over the reference's
  (S/8)^2 positions); the values are the reference's ab averaged over 8 x 8 blocks. It
  gives the warped ab at S/8 and a per-pixel confidence, the cosine similarity of the best
  match.
* **The target's own automatic path**: the encoder goes on below S/8 (``depth`` levels in
  all, self-attention at the bottom), and a decoder like the efficient family's (1x1 to
  the skip's width, bilinear x2, add the skip, block) comes back up to S/2; at S/8, S/4
  and S/2 the warped ab and the confidence (upsampled bilinearly) are concatenated and
  fused by a 1x1 conv, so the decoder refines them with the target's features.
* **Fallback where the match is weak**: the head (float32, at S/2) predicts the decoder's
  own ab (tanh) and a per-pixel gate g (sigmoid); the output is
  ``auto + g * (warped - auto)``, the warped ab (upsampled to S/2) where the decoder trusts
  the match and its own prediction where it does not; then bilinear x2 to S. Both terms
  lie in [-1, 1], and so does their convex mix. ``guidance_graph`` exposes the warped ab,
  the confidence and the gate.

Cost at 256 px with the defaults (base_filters 16, depth 4, blocks 1, fused blocks,
attention, key_dim 64): 2.27 GFLOP per image forward (``colorkeras.models.flops``, the
shared encoder counted twice, the attention's products included: 0.51 GFLOP per encoder
pass, 0.14 for the attention), 1.46 times the default model's 1.56 GFLOP (efficient,
base_filters 16, depth 4, 3 outputs); 1,848,980 weights (the default: 1,823,043), most of
them in the target's levels below S/8. tests/test_reference.py checks both figures.
"""

from __future__ import annotations

import math

import keras
from keras import layers, ops

from colorkeras.errors import InvalidArgument
from colorkeras.models.colorizer import Colorizer, check_image_size, check_input_channels
from colorkeras.models.blocks import (
    ATTENTION_HEADS,
    check_attention,
    check_base_filters,
    is_whole_number,
    self_attention,
)
from colorkeras.models.efficient import BLOCKS, MAX_DEPTH, level_widths, mbconv_block

MATCH_LEVEL = 2  # encoder level the attention runs at: below the stem, so S / 2**(2+1) = S/8
MATCH_REDUCTION = 2 ** (MATCH_LEVEL + 1)


@keras.saving.register_keras_serializable(package="colorkeras")
class ReferenceAttention(layers.Layer):
    """Warp values from a reference grid onto a target grid by feature similarity.

    ``call(queries, keys, values)``: queries (B, G, G, K) of the target, keys (B, g, g, K)
    and values (B, g, g, V) of the reference -> (B, G, G, V + 1): the values averaged with
    softmax(scale * cosine similarity) weights over the reference's positions, and the
    best match's cosine similarity (in [-1, 1]) as the last channel.

    Args:
        initial_scale: the softmax's starting inverse temperature; it is learnt (kept in
            [1, 100]).
    """

    def __init__(self, initial_scale: float = 10.0, **kwargs):
        super().__init__(**kwargs)
        self.initial_scale = float(initial_scale)

    def build(self, queries_shape, keys_shape, values_shape):
        self.log_scale = self.add_weight(shape=(), name="log_scale",
                                         initializer=keras.initializers.Constant(math.log(self.initial_scale)))
        self.query_grid = tuple(queries_shape[1:3])
        self.key_positions = int(keys_shape[1]) * int(keys_shape[2])
        self.key_dim, self.value_dim = int(keys_shape[-1]), int(values_shape[-1])

    def call(self, queries, keys, values):
        rows, cols = self.query_grid
        queries = ops.reshape(queries, (-1, rows * cols, self.key_dim))
        keys = ops.reshape(keys, (-1, self.key_positions, self.key_dim))
        values = ops.reshape(values, (-1, self.key_positions, self.value_dim))
        queries = queries * ops.rsqrt(ops.sum(queries * queries, axis=-1, keepdims=True) + 1e-6)
        keys = keys * ops.rsqrt(ops.sum(keys * keys, axis=-1, keepdims=True) + 1e-6)
        similarity = ops.matmul(queries, ops.transpose(keys, (0, 2, 1)))
        scale = ops.exp(ops.clip(self.log_scale, 0.0, math.log(100.0)))
        warped = ops.matmul(ops.softmax(similarity * scale, axis=-1), values)
        confidence = ops.max(similarity, axis=-1, keepdims=True)
        return ops.reshape(ops.concatenate([warped, confidence], axis=-1), (-1, rows, cols, self.value_dim + 1))

    def compute_output_shape(self, queries_shape, keys_shape, values_shape):
        return tuple(queries_shape[:3]) + (int(values_shape[-1]) + 1,)

    def forward_flops(self) -> int:
        """Per image: the similarities and the weighted sum (2 x multiply-adds each)."""
        pairs = math.prod(self.query_grid) * self.key_positions
        return 2 * pairs * self.key_dim + 2 * pairs * self.value_dim

    def get_config(self):
        return {**super().get_config(), "initial_scale": self.initial_scale}


def build_exemplar_encoder(image_size: int, input_channels: int, widths: list[int], blocks: int, block: str,
                           key_dim: int) -> keras.Model:
    """Normalised L (S, S, 1) -> [S/2 skip, S/4 skip, S/8 features, S/8 matching features]."""
    # === Functional Model ===
    inputs = keras.Input((image_size, image_size, 1), name="l")
    x = layers.Concatenate(name="repeat_l")([inputs] * 3) if input_channels == 3 else inputs
    x = layers.Conv2D(widths[0], 3, strides=2, padding="same", use_bias=False, name="stem")(x)
    x = layers.BatchNormalization(name="stem_bn")(x)
    x = layers.Activation("relu", name="stem_relu")(x)
    features = [x]
    for level in range(1, MATCH_LEVEL + 1):
        x = mbconv_block(x, widths[level], block, 2, f"encoder{level}_down")
        for index in range(blocks):
            x = mbconv_block(x, widths[level], block, 1, f"encoder{level}_block{index}")
        features.append(x)
    keys = layers.Conv2D(key_dim, 3, padding="same", name="match_project")(x)
    return keras.Model(inputs, features + [keys], name="encoder")


def _guide(x, guidance, width: int, name: str):
    """Concatenate the warped ab and confidence (at x's size) and fuse back to ``width``."""
    x = layers.Concatenate(name=f"{name}_concat")([x, guidance])
    x = layers.Conv2D(width, 1, use_bias=False, name=f"{name}_fuse")(x)
    x = layers.BatchNormalization(name=f"{name}_fuse_bn")(x)
    return layers.Activation("relu", name=f"{name}_fuse_relu")(x)


def _upsampled(guidance, factor: int, name: str):
    if factor == 1:
        return guidance
    return layers.UpSampling2D(factor, interpolation="bilinear", dtype="float32", name=name)(guidance)


def _automatic_path(skips, guidance, widths, depth: int, blocks: int, block: str, attention: bool):
    """The target's encoder below S/8, bottom attention and the guided decoder up to S/2."""
    x = skips[MATCH_LEVEL]
    for level in range(MATCH_LEVEL + 1, depth + 1):
        x = mbconv_block(x, widths[level], block, 2, f"encoder{level}_down")
        for index in range(blocks):
            x = mbconv_block(x, widths[level], block, 1, f"encoder{level}_block{index}")
        skips.append(x)
    if attention:
        x = self_attention(x, ATTENTION_HEADS, "attention")
    if depth == MATCH_LEVEL:
        x = _guide(x, guidance, widths[MATCH_LEVEL], f"guide{MATCH_LEVEL}")
    for level in reversed(range(depth)):
        x = layers.Conv2D(widths[level], 1, use_bias=False, name=f"decoder{level}_reduce")(x)
        x = layers.UpSampling2D(2, interpolation="bilinear", name=f"decoder{level}_up")(x)
        x = layers.Add(name=f"decoder{level}_skip")([x, skips[level]])
        if level < MATCH_LEVEL:
            x = _guide(x, _upsampled(guidance, 2 ** (MATCH_LEVEL - level), f"guidance_up{level}"), widths[level],
                       f"guide{level}")
        else:
            x = layers.BatchNormalization(name=f"decoder{level}_bn")(x)
            x = layers.Activation("relu", name=f"decoder{level}_relu")(x)
        x = mbconv_block(x, widths[level], block, 1, f"decoder{level}_block")
        if level == MATCH_LEVEL:
            x = _guide(x, guidance, widths[level], f"guide{level}")
    return x


def _blend_head(x, warped):
    """The float32 head at S/2: auto + g * (warped - auto), then bilinear x2 to S."""
    auto = layers.Conv2D(2, 1, dtype="float32", name="head")(x)
    auto = layers.Activation("tanh", dtype="float32", name="head_tanh")(auto)
    gate = layers.Conv2D(1, 1, dtype="float32", name="gate_logit")(x)
    gate = layers.Activation("sigmoid", dtype="float32", name="gate")(gate)
    warped = _upsampled(warped, MATCH_REDUCTION // 2, "warped_up")
    difference = layers.Subtract(dtype="float32", name="warped_minus_auto")([warped, auto])
    gate = layers.Concatenate(dtype="float32", name="gate_ab")([gate, gate])
    x = layers.Add(dtype="float32", name="blend")([auto, layers.Multiply(dtype="float32", name="gated")(
        [gate, difference])])
    return layers.UpSampling2D(2, interpolation="bilinear", dtype="float32", name="head_up")(x)


def _check_arguments(image_size, input_channels, base_filters, depth, blocks, block, attention, key_dim):
    check_image_size(image_size)
    check_input_channels(input_channels)

    if not is_whole_number(depth) or not MATCH_LEVEL <= depth <= MAX_DEPTH:
        raise InvalidArgument(f"depth must be a whole number from {MATCH_LEVEL} to {MAX_DEPTH}, got {depth!r}")
    if image_size % 2 ** (depth + 1):
        raise InvalidArgument(f"image_size {image_size} must be a multiple of 2**(depth+1) = {2 ** (depth + 1)}")
    check_base_filters(base_filters)
    if not is_whole_number(blocks) or blocks < 0:
        raise InvalidArgument(f"blocks must be a whole number >= 0, got {blocks!r}")
    if block not in BLOCKS:
        raise InvalidArgument(f"unknown block {block!r}; expected one of {', '.join(BLOCKS)}")
    check_attention(attention)
    if not is_whole_number(key_dim) or key_dim < 1:
        raise InvalidArgument(f"key_dim must be a whole number >= 1, got {key_dim!r}")


@keras.saving.register_keras_serializable(package="colorkeras")
class ExemplarUNet(Colorizer):
    """The exemplar family: (target L, reference L, reference ab), all normalised and
    (S, S, ·) -> the target's normalised ab (S, S, 2). See the module docstring.

    Args:
        image_size: input side, a multiple of 8 and of 2**(depth + 1).
        input_channels: 1, or 3 to repeat L (kept for the shared contract).
        base_filters: width of the stem (levels widen as the efficient family's).
        depth: stride-2 levels below the stem (2 to 5); matching runs at level 2 (S/8),
            the target's automatic path goes on to S / 2**(depth+1).
        blocks: blocks per encoder level after its stride-2 block.
        block: "fused" or "mbconv" (``colorkeras.models.efficient``).
        attention: self-attention over the target's lowest grid.
        key_dim: channels of the matching features.
    """

    family = "exemplar"
    takes_reference = True
    # The shared encoder runs twice per image (target and reference): what
    # colorkeras.models.flops counts it as.
    calls_per_image = {"encoder": 2}

    def __init__(self, image_size: int = 256, input_channels: int = 1, base_filters: int = 16, depth: int = 4,
                 blocks: int = 1, block: str = "fused", attention: bool = True, key_dim: int = 64,
                 name: str = "exemplar", **kwargs):
        _check_arguments(image_size, input_channels, base_filters, depth, blocks, block, attention, key_dim)
        widths = level_widths(base_filters, depth)
        encoder = build_exemplar_encoder(image_size, input_channels, widths, blocks, block, key_dim)
        # === Functional Model ===
        target_l = keras.Input((image_size, image_size, 1), name="l")
        reference_l = keras.Input((image_size, image_size, 1), name="reference_l")
        reference_ab = keras.Input((image_size, image_size, 2), name="reference_ab")
        *skips, queries = encoder(target_l)
        *_, keys = encoder(reference_l)
        values = layers.AveragePooling2D(MATCH_REDUCTION, dtype="float32", name="reference_ab_pool")(reference_ab)
        guidance = ReferenceAttention(dtype="float32", name="match")(queries, keys, values)
        output = _blend_head(_automatic_path(skips, guidance, widths, depth, blocks, block, attention),
                             _channels(guidance, 2, "warped_ab"))
        super().__init__(inputs=[target_l, reference_l, reference_ab], outputs=output, image_size=image_size,
                         input_channels=input_channels, name=name, **kwargs)
        self.base_filters, self.depth, self.blocks, self.block = base_filters, depth, blocks, block
        self.attention, self.key_dim = attention, key_dim

    def guidance_graph(self) -> keras.Model:
        """The same inputs -> [warped ab and match confidence (S/8, S/8, 3), the head's gate
        (S/2, S/2, 1): 1 where the output is the warped ab, 0 where it is the decoder's own]."""
        return keras.Model(self.inputs, [self.get_layer("match").output, self.get_layer("gate").output],
                           name=f"{self.name}_guidance")

    def get_config(self) -> dict:
        return {**super().get_config(), "base_filters": self.base_filters, "depth": self.depth,
                "blocks": self.blocks, "block": self.block, "attention": self.attention, "key_dim": self.key_dim}


@keras.saving.register_keras_serializable(package="colorkeras")
class FirstChannels(layers.Layer):
    """The first ``channels`` channels of the last axis (the warped ab of the guidance).

    Args:
        channels: how many to keep.
    """

    def __init__(self, channels: int, **kwargs):
        super().__init__(**kwargs)
        self.channels = int(channels)

    def call(self, inputs):
        return inputs[..., : self.channels]

    def compute_output_shape(self, input_shape):
        return tuple(input_shape[:-1]) + (self.channels,)

    def get_config(self):
        return {**super().get_config(), "channels": self.channels}


def _channels(x, channels: int, name: str):
    return FirstChannels(channels, dtype="float32", name=name)(x)
