"""The quality family: a U-Net from normalised L with skip connections, self-attention at
the lowest resolution and smooth (bilinear) upsampling, optionally fused with a frozen
extractor's 1000-d embedding at the bottleneck (the study's fusion idea).

Encoder: ``depth`` levels of two 3x3 conv -> BatchNorm -> ReLU, each followed by a 2x2
max-pool, then the same block at the bottom; level ``i`` has ``base_filters * 2**i``
filters. Bottleneck: optionally the tiled embedding, concatenated and mixed by a 1x1 conv
(`colorkeras.models.fusion.fuse_embedding`), then self-attention over the flattened grid
(``MultiHeadAttention`` with a residual and LayerNorm). Decoder, per level: a 1x1 conv
that narrows the channels at the low resolution (cheap), bilinear x2 upsampling, the
encoder's skip concatenated, two 3x3 conv blocks. Head: a 1x1 conv to
``output_channels``, in float32: tanh for 2-channel regression (normalised ab), raw
logits for classification (``output_channels`` = the objective's bins).

No nearest-neighbour upsampling anywhere, so no block pattern; at 256 px the default
configuration costs less than the study's baseline (`colorkeras.models.flops`).
"""

from __future__ import annotations

import keras
from keras import layers

from colorkeras.errors import InvalidArgument
from colorkeras.models.baseline import RepeatChannels
from colorkeras.models.blocks import (
    ATTENTION_HEADS,
    check_attention,
    check_base_filters,
    check_depth,
    check_output_channels,
    self_attention,
)
from colorkeras.models.colorizer import Colorizer, check_image_size, check_input_channels
from colorkeras.models.extractors import build_extractor
from colorkeras.models.fusion import FUSION_FAMILIES, TileEmbedding, fuse_embedding

MAX_DEPTH = 6


def _conv_block(x, filters: int, name: str):
    for index in (1, 2):
        x = layers.Conv2D(filters, 3, padding="same", use_bias=False, name=f"{name}_conv{index}")(x)
        x = layers.BatchNormalization(name=f"{name}_bn{index}")(x)
        x = layers.Activation("relu", name=f"{name}_relu{index}")(x)
    return x


def level_filters(base_filters: int, depth: int) -> list[int]:
    """Filters of encoder levels 0..depth-1 and of the bottom (index depth)."""
    return [base_filters * 2**level for level in range(depth + 1)]


def build_unet_encoder(image_size: int, input_channels: int, base_filters: int, depth: int) -> keras.Model:
    """Normalised L (S, S, 1) -> [skip_0, ..., skip_{depth-1}, bottom]."""
    filters = level_filters(base_filters, depth)
    # === Functional Model ===
    inputs = keras.Input((image_size, image_size, 1), name="l")
    x = RepeatChannels(3, name="repeat_l")(inputs) if input_channels == 3 else inputs
    skips = []
    for level in range(depth):
        x = _conv_block(x, filters[level], f"encoder_level{level}")
        skips.append(x)
        x = layers.MaxPooling2D(2, name=f"encoder_pool{level}")(x)
    bottom = _conv_block(x, filters[depth], "encoder_bottom")
    return keras.Model(inputs, skips + [bottom], name="encoder")


def build_unet_decoder(image_size: int, base_filters: int, depth: int, attention: bool,
                       output_channels: int) -> keras.Model:
    """[skip_0, ..., skip_{depth-1}, bottom] -> (S, S, output_channels)."""
    filters = level_filters(base_filters, depth)
    # === Functional Model ===
    skips = [keras.Input((image_size >> level, image_size >> level, filters[level]), name=f"skip{level}")
             for level in range(depth)]
    bottom = keras.Input((image_size >> depth, image_size >> depth, filters[depth]), name="bottom")
    x = self_attention(bottom, ATTENTION_HEADS, "attention") if attention else bottom
    for level in reversed(range(depth)):
        x = layers.Conv2D(filters[level], 1, name=f"decoder_reduce{level}")(x)
        x = layers.UpSampling2D(2, interpolation="bilinear", name=f"decoder_up{level}")(x)
        x = layers.Concatenate(name=f"decoder_skip{level}")([x, skips[level]])
        x = _conv_block(x, filters[level], f"decoder_level{level}")
    # The head in float32, so mixed precision never rounds ab or the logits.
    outputs = layers.Conv2D(output_channels, 1, dtype="float32", name="head")(x)
    if output_channels == 2:
        outputs = layers.Activation("tanh", dtype="float32", name="head_tanh")(outputs)
    return keras.Model(skips + [bottom], outputs, name="decoder")


@keras.saving.register_keras_serializable(package="colorkeras")
class UNet(Colorizer):
    """The quality family: normalised L (S, S, 1) -> (S, S, output_channels).

    Args:
        image_size: input side, a multiple of 8 and of 2**depth.
        input_channels: 1, or 3 to repeat L as the study did.
        base_filters: width: filters of the full-resolution level (doubled per level).
        depth: number of 2x downsamplings (1 to 6); the attention grid is S / 2**depth.
        attention: self-attention over the lowest-resolution grid.
        output_channels: 2 for regression (tanh: normalised ab), or the number of ab bins of
            a classification objective (raw logits).
        extractor: None, "inception_v3" or "vit_b16": a frozen extractor whose 1000-d
            embedding is tiled at the bottleneck (as `Fusion`); training caches it.
        extractor_weights: the extractor's weights when building anew (see
            ``build_extractor``); not kept in the config (a saved model carries them).
        extractor_size: "base", or "tiny" for a small ViT in fast tests.
        extractor_network: a built extractor, or its serialized config (``get_config``).
    """

    family = "unet"

    def __init__(
        self,
        image_size: int = 256,
        input_channels: int = 1,
        base_filters: int = 24,
        depth: int = 4,
        attention: bool = True,
        output_channels: int = 2,
        extractor: str | None = None,
        extractor_weights="imagenet",
        extractor_size: str = "base",
        extractor_network=None,
        name: str = "unet",
        **kwargs,
    ):
        check_image_size(image_size)
        check_input_channels(input_channels)
        check_depth(depth, MAX_DEPTH)
        if image_size % 2**depth:
            raise InvalidArgument(f"image_size {image_size} must be a multiple of 2**depth = {2**depth}")
        check_base_filters(base_filters)
        check_attention(attention)
        check_output_channels(output_channels)
        if extractor is not None and extractor not in FUSION_FAMILIES:
            raise InvalidArgument(
                f"unknown extractor {extractor!r}; expected None or one of {', '.join(FUSION_FAMILIES)}")
        encoder = build_unet_encoder(image_size, input_channels, base_filters, depth)
        decoder = build_unet_decoder(image_size, base_filters, depth, attention, output_channels)
        # === Functional Model ===
        inputs = keras.Input((image_size, image_size, 1), name="l")
        *skips, bottom = encoder(inputs)
        if extractor is not None:
            if isinstance(extractor_network, dict):
                extractor_network = keras.saving.deserialize_keras_object(extractor_network)
            frozen = extractor_network or build_extractor(extractor, image_size, extractor_weights, extractor_size)
            bottom = fuse_embedding(bottom, frozen(inputs), TileEmbedding(name="tile"),
                                    layers.Concatenate(name="concat"),
                                    layers.Conv2D(bottom.shape[-1], 1, activation="relu", name="fuse"))
        outputs = decoder(skips + [bottom])
        super().__init__(inputs=inputs, outputs=outputs, image_size=image_size, input_channels=input_channels,
                         name=name, **kwargs)
        self.base_filters = base_filters
        self.depth = depth
        self.attention = attention
        self.extractor_name = extractor
        self.extractor_size = extractor_size

    @property
    def extractor(self) -> str | None:
        return self.extractor_name

    @property
    def extractor_model(self) -> keras.Model | None:
        """The frozen extractor (normalised L -> 1000 logits), or None without one."""
        return self.get_layer("extractor") if self.extractor_name else None

    def training_graph(self) -> keras.Model:
        """Without an extractor the same graph as the model (`Colorizer.training_graph`);
        with one, (L, cached embedding) -> output, sharing every trainable layer (training
        never runs the frozen extractor)."""
        if self.extractor_name is None:
            return super().training_graph()
        size = self.image_size
        # === Functional Model ===
        l_input = keras.Input((size, size, 1), name="l")
        embedding = keras.Input((self.extractor_model.output.shape[-1],), name="embedding")
        *skips, bottom = self.get_layer("encoder")(l_input)
        bottom = fuse_embedding(bottom, embedding, self.get_layer("tile"), self.get_layer("concat"),
                                self.get_layer("fuse"))
        outputs = self.get_layer("decoder")(skips + [bottom])
        return keras.Model([l_input, embedding], outputs, name=f"{self.name}_training")

    def get_config(self) -> dict:
        config = {**super().get_config(), "base_filters": self.base_filters, "depth": self.depth,
                  "attention": self.attention, "output_channels": self.output_channels,
                  "extractor": self.extractor_name, "extractor_size": self.extractor_size}
        if self.extractor_name is not None:
            config["extractor_network"] = keras.saving.serialize_keras_object(self.extractor_model)
        return config
