"""Fusion models: the baseline plus a frozen extractor's 1000-d vector tiled on its grid.

Two graphs share every trainable layer:

* the end-to-end graph (the ``Fusion`` model): L -> extractor inside -> ab; it is what
  is saved and what ``colorize`` runs;
* the training graph (``Fusion.training_graph``): (L, cached embedding) -> ab, so training
  never runs the frozen extractor (the embeddings are cached once by ``colorkeras embed``).
"""

from __future__ import annotations

import keras
from keras import layers, ops

from colorkeras.errors import InvalidArgument
from colorkeras.models.baseline import build_decoder, build_encoder
from colorkeras.models.colorizer import GRID_REDUCTION, Colorizer
from colorkeras.models.extractors import build_extractor

FUSION_FILTERS = 256


@keras.saving.register_keras_serializable(package="colorkeras")
class TileEmbedding(layers.Layer):
    """Tile a vector (B, D) over the grid of a feature map (B, H, W, C) -> (B, H, W, D)."""

    def call(self, embedding, features):
        shape = ops.shape(features)
        embedding = ops.cast(embedding, features.dtype)
        return ops.broadcast_to(embedding[:, None, None, :], (shape[0], shape[1], shape[2], embedding.shape[-1]))

    def compute_output_shape(self, embedding_shape, features_shape):
        return tuple(features_shape[:3]) + (embedding_shape[-1],)


def fuse_embedding(features, embedding, tile, concat, fuse_conv):
    """Concatenate a tiled embedding to a feature map and mix them with `fuse_conv` (the
    study's fusion, shared by every family that offers it)."""
    return fuse_conv(concat([features, tile(embedding, features)]))


FUSION_FAMILIES = {"inception_v3": "inception_fusion", "vit_b16": "vit_fusion"}


@keras.saving.register_keras_serializable(package="colorkeras")
class Fusion(Colorizer):
    """The baseline plus a frozen extractor's 1000-d view of the scene, tiled on the grid:
    normalised L (S, S, 1) -> normalised ab (S, S, 2) in [-1, 1].

    Args:
        extractor: "inception_v3" or "vit_b16".
        image_size: a multiple of 8.
        input_channels: 1, or 3 to repeat L as the study did.
        extractor_weights: the extractor's weights when building anew (see
            ``build_extractor``): "imagenet", a local path, or None for random. Not kept
            in the config: a saved model carries its weights.
        extractor_size: "base", or "tiny" for a small ViT in fast tests.
        extractor_network: a built extractor (``build_extractor``), or its serialized
            config (what ``get_config`` keeps, so a loaded model rebuilds the very
            network it was saved with, a ViT preset's settings included).
    """

    def __init__(
        self,
        extractor: str = "inception_v3",
        image_size: int = 256,
        input_channels: int = 1,
        extractor_weights="imagenet",
        extractor_size: str = "base",
        extractor_network=None,
        name: str | None = None,
        **kwargs,
    ):
        if extractor not in FUSION_FAMILIES:
            raise InvalidArgument(f"unknown extractor {extractor!r}; expected one of {', '.join(FUSION_FAMILIES)}")
        if isinstance(extractor_network, dict):
            extractor_network = keras.saving.deserialize_keras_object(extractor_network)
        frozen = extractor_network or build_extractor(extractor, image_size, extractor_weights, extractor_size)
        encoder = build_encoder(image_size, input_channels)
        decoder = build_decoder(image_size // GRID_REDUCTION, FUSION_FILTERS)
        tile = TileEmbedding(name="tile")
        concat = layers.Concatenate(name="concat")
        fuse_conv = layers.Conv2D(FUSION_FILTERS, 1, activation="relu", name="fuse")
        # === Functional Model ===
        inputs = keras.Input((image_size, image_size, 1), name="l")
        features = encoder(inputs)
        fused = fuse_embedding(features, frozen(inputs), tile, concat, fuse_conv)
        outputs = decoder(fused)
        super().__init__(inputs=inputs, outputs=outputs, image_size=image_size, input_channels=input_channels,
                         name=name or f"{extractor}_fusion", **kwargs)
        self.family = FUSION_FAMILIES[extractor]
        self.extractor_name = extractor
        self.extractor_size = extractor_size

    @property
    def extractor(self) -> str:
        return self.extractor_name

    @property
    def extractor_model(self) -> keras.Model:
        """The frozen extractor: normalised L -> 1000 logits."""
        return self.get_layer("extractor")

    def training_graph(self) -> keras.Model:
        """(L, cached embedding) -> ab, sharing every trainable layer with this model: training
        never runs the frozen extractor, and this model stays uncompiled (it saves lean)."""
        size = self.image_size
        dim = self.extractor_model.output.shape[-1]
        # === Functional Model ===
        l_input = keras.Input((size, size, 1), name="l")
        embedding = keras.Input((dim,), name="embedding")
        features = self.get_layer("encoder")(l_input)
        fused = fuse_embedding(features, embedding, self.get_layer("tile"), self.get_layer("concat"), self.get_layer("fuse"))
        outputs = self.get_layer("decoder")(fused)
        return keras.Model([l_input, embedding], outputs, name=f"{self.name}_training")

    def get_config(self) -> dict:
        return {**super().get_config(), "extractor": self.extractor_name, "extractor_size": self.extractor_size,
                "extractor_network": keras.saving.serialize_keras_object(self.extractor_model)}


def build_fusion_model(
    extractor: str = "inception_v3",
    image_size: int = 256,
    weights="imagenet",
    input_channels: int = 1,
    extractor_size: str = "base",
) -> Fusion:
    """The end-to-end fusion model (see `Fusion`)."""
    return Fusion(extractor, image_size, input_channels, extractor_weights=weights, extractor_size=extractor_size)
