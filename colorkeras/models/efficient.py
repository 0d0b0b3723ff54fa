"""The efficient family: the default model, made to be trained on two CPU cores.

Colour is low-frequency (JPEG stores it at half resolution), so the network sees L at
full size but predicts ab at half size, and the last step is a bilinear x2 to the input
size; full-resolution detail comes later from the photo's own L (``Predictor``, guided
chroma upsampling). Layout:

* stem: a stride-2 3x3 conv (S -> S/2);
* encoder: ``depth`` levels below the stem, each a stride-2 block then ``blocks`` blocks
  at that resolution; level widths ``base_filters * WIDTH_STEPS``;
* bottom: self-attention over the lowest grid (``attention``);
* decoder: per level, a 1x1 conv to the skip's width, bilinear x2, add the skip, one
  block; the head (1x1 conv) works at S/2 and is brought to S bilinearly, in float32.

Blocks (``block``): "fused" is EfficientNetV2's fused-MBConv (3x3 conv that expands, 1x1
that projects, residual) and "mbconv" MobileNetV2's inverted residual (1x1 expand,
depthwise 3x3, 1x1 project, residual). Both are offered because FLOPs do not predict
speed on a CPU: TensorFlow's depthwise kernels run far below the dense convolutions'
rate there (``bench/bench_efficient.py`` measures training images per second of both).
"""

from __future__ import annotations

import keras
from keras import layers

from colorkeras.errors import InvalidArgument
from colorkeras.models.colorizer import Colorizer, check_image_size, check_input_channels
from colorkeras.models.blocks import (
    ATTENTION_HEADS,
    check_attention,
    check_base_filters,
    check_depth,
    check_output_channels,
    is_whole_number,
    self_attention,
)

BLOCKS = ("fused", "mbconv")
WIDTH_STEPS = (1, 1.5, 2.5, 5, 8, 10)  # MobileNet-like widening, per level below the stem
MAX_DEPTH = len(WIDTH_STEPS) - 1
EXPANSION = 4


def level_widths(base_filters: int, depth: int) -> list[int]:
    """Channels at the stem (index 0) and at each of the ``depth`` levels below it (8-aligned)."""
    return [max(8, int(round(base_filters * step / 8)) * 8) for step in WIDTH_STEPS[: depth + 1]]


def mbconv_block(x, filters: int, block: str, stride: int, name: str):
    """One fused-MBConv or inverted-residual block; residual when shape is kept."""
    inputs = x
    expanded = x.shape[-1] * EXPANSION
    if block == "fused":
        x = layers.Conv2D(expanded, 3, strides=stride, padding="same", use_bias=False, name=f"{name}_expand")(x)
        x = layers.BatchNormalization(name=f"{name}_expand_bn")(x)
        x = layers.Activation("relu", name=f"{name}_expand_relu")(x)
    else:
        x = layers.Conv2D(expanded, 1, use_bias=False, name=f"{name}_expand")(x)
        x = layers.BatchNormalization(name=f"{name}_expand_bn")(x)
        x = layers.Activation("relu", name=f"{name}_expand_relu")(x)
        x = layers.DepthwiseConv2D(3, strides=stride, padding="same", use_bias=False, name=f"{name}_depthwise")(x)
        x = layers.BatchNormalization(name=f"{name}_depthwise_bn")(x)
        x = layers.Activation("relu", name=f"{name}_depthwise_relu")(x)
    x = layers.Conv2D(filters, 1, use_bias=False, name=f"{name}_project")(x)
    x = layers.BatchNormalization(name=f"{name}_project_bn")(x)
    if stride == 1 and inputs.shape[-1] == filters:
        x = layers.Add(name=f"{name}_residual")([inputs, x])
    return x


def _encoder(x, widths: list[int], block: str, blocks: int) -> list:
    """The stem (S -> S/2) and the levels below it: the output of each, the last lowest."""
    x = layers.Conv2D(widths[0], 3, strides=2, padding="same", use_bias=False, name="stem")(x)
    x = layers.BatchNormalization(name="stem_bn")(x)
    x = layers.Activation("relu", name="stem_relu")(x)
    skips = [x]
    for level in range(1, len(widths)):
        x = mbconv_block(x, widths[level], block, 2, f"encoder{level}_down")
        for index in range(blocks):
            x = mbconv_block(x, widths[level], block, 1, f"encoder{level}_block{index}")
        skips.append(x)
    return skips


def _decoder(x, skips: list, widths: list[int], block: str, output_channels: int):
    """Up through the levels, adding each skip; the head at S/2, in float32, then bilinear to S."""
    for level in reversed(range(len(widths) - 1)):
        x = layers.Conv2D(widths[level], 1, use_bias=False, name=f"decoder{level}_reduce")(x)
        x = layers.UpSampling2D(2, interpolation="bilinear", name=f"decoder{level}_up")(x)
        x = layers.Add(name=f"decoder{level}_skip")([x, skips[level]])
        x = layers.BatchNormalization(name=f"decoder{level}_bn")(x)
        x = layers.Activation("relu", name=f"decoder{level}_relu")(x)
        x = mbconv_block(x, widths[level], block, 1, f"decoder{level}_block")
    # The head in float32 at S/2 (chroma is low-frequency), then bilinear to S.
    x = layers.Conv2D(output_channels, 1, dtype="float32", name="head")(x)
    x = layers.UpSampling2D(2, interpolation="bilinear", dtype="float32", name="head_up")(x)
    if output_channels == 2:
        x = layers.Activation("tanh", dtype="float32", name="head_tanh")(x)
    return x


@keras.saving.register_keras_serializable(package="colorkeras")
class EfficientUNet(Colorizer):
    """The efficient family: normalised L (S, S, 1) -> (S, S, output_channels).

    Args:
        image_size: input side, a multiple of 8 and of 2**(depth + 1).
        input_channels: 1, or 3 to repeat L (kept for the shared contract).
        base_filters: width of the stem (levels widen by ``WIDTH_STEPS``).
        depth: stride-2 levels below the stem (1 to 5); attention runs on S / 2**(depth+1).
        blocks: blocks per encoder level after its stride-2 block.
        block: "fused" or "mbconv" (see the module docstring).
        attention: self-attention over the lowest grid.
        output_channels: 2 for regression (tanh: normalised ab), or what the objective
            decodes (raw outputs: bins' logits, or ab and a log-variance).
    """

    family = "efficient"

    def __init__(
        self,
        image_size: int = 256,
        input_channels: int = 1,
        base_filters: int = 16,
        depth: int = 4,
        blocks: int = 1,
        block: str = "fused",
        attention: bool = True,
        output_channels: int = 2,
        name: str = "efficient",
        **kwargs,
    ):
        check_image_size(image_size)
        check_input_channels(input_channels)
        check_depth(depth, MAX_DEPTH)
        if image_size % 2 ** (depth + 1):
            raise InvalidArgument(f"image_size {image_size} must be a multiple of 2**(depth+1) = {2 ** (depth + 1)}")
        check_base_filters(base_filters)
        if not is_whole_number(blocks) or blocks < 0:
            raise InvalidArgument(f"blocks must be a whole number >= 0, got {blocks!r}")
        if block not in BLOCKS:
            raise InvalidArgument(f"unknown block {block!r}; expected one of {', '.join(BLOCKS)}")
        check_attention(attention)
        check_output_channels(output_channels)
        widths = level_widths(base_filters, depth)

        # === Functional Model ===
        inputs = keras.Input((image_size, image_size, 1), name="l")
        x = layers.Concatenate(name="repeat_l")([inputs] * 3) if input_channels == 3 else inputs
        skips = _encoder(x, widths, block, blocks)
        x = self_attention(skips[-1], ATTENTION_HEADS, "attention") if attention else skips[-1]
        x = _decoder(x, skips, widths, block, output_channels)
        super().__init__(inputs=inputs, outputs=x, image_size=image_size, input_channels=input_channels,
                         name=name, **kwargs)
        self.base_filters = base_filters
        self.depth = depth
        self.blocks = blocks
        self.block = block
        self.attention = attention

    def get_config(self) -> dict:
        return {**super().get_config(), "base_filters": self.base_filters, "depth": self.depth,
                "blocks": self.blocks, "block": self.block, "attention": self.attention,
                "output_channels": self.output_channels}
