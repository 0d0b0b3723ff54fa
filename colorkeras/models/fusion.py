"""Fusion models: the baseline plus a frozen extractor's 1000-d vector tiled on its grid.

Two graphs share every trainable layer:

* the end-to-end graph (``build_fusion_model``): L -> extractor inside -> ab; it is what
  is saved and what ``colorize`` runs;
* the training graph (``training_graph``): (L, cached embedding) -> ab, so training never
  runs the frozen extractor (the embeddings are cached once by ``colorkeras embed``).
"""

from __future__ import annotations

import keras
from keras import layers, ops

from colorkeras.models.baseline import GRID_REDUCTION, build_decoder, build_encoder
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


def _fuse(features, embedding, tile, concat, fuse_conv):
    return fuse_conv(concat([features, tile(embedding, features)]))


def build_fusion_model(
    extractor: str = "inception_v3",
    image_size: int = 256,
    weights="imagenet",
    input_channels: int = 1,
    extractor_size: str = "base",
) -> keras.Model:
    """The end-to-end fusion model: normalised L (S, S, 1) -> normalised ab (S, S, 2).

    Args:
        extractor: "inception_v3" or "vit_b16".
        image_size: a multiple of 8.
        weights: the extractor's weights (see ``build_extractor``); None for random.
        input_channels: 1, or 3 to repeat L as the study did.
        extractor_size: "base", or "tiny" for a small ViT in fast tests.
    """
    encoder = build_encoder(image_size, input_channels)
    decoder = build_decoder(image_size // GRID_REDUCTION, FUSION_FILTERS)
    frozen = build_extractor(extractor, image_size, weights, extractor_size)
    tile = TileEmbedding(name="tile")
    concat = layers.Concatenate(name="concat")
    fuse_conv = layers.Conv2D(FUSION_FILTERS, 1, activation="relu", name="fuse")
    # === Functional Model ===
    inputs = keras.Input((image_size, image_size, 1), name="l")
    features = encoder(inputs)
    fused = _fuse(features, frozen(inputs), tile, concat, fuse_conv)
    outputs = decoder(fused)
    return keras.Model(inputs, outputs, name=f"{extractor}_fusion")


def is_fusion(model: keras.Model) -> bool:
    return any(layer.name == "extractor" for layer in model.layers)


def training_graph(model: keras.Model) -> keras.Model:
    """The graph to train: L -> ab for the baseline, (L, embedding) -> ab for fusion.

    It reuses the end-to-end model's layers, so training it trains the end-to-end model,
    while the end-to-end model itself stays uncompiled: it saves without optimizer state.
    """
    if not is_fusion(model):
        return keras.Model(model.inputs, model.outputs, name=f"{model.name}_training")
    image_size = model.input_shape[1]
    dim = model.get_layer("extractor").output.shape[-1]
    # === Functional Model ===
    l_input = keras.Input((image_size, image_size, 1), name="l")
    embedding = keras.Input((dim,), name="embedding")
    features = model.get_layer("encoder")(l_input)
    fused = _fuse(features, embedding, model.get_layer("tile"), model.get_layer("concat"), model.get_layer("fuse"))
    outputs = model.get_layer("decoder")(fused)
    return keras.Model([l_input, embedding], outputs, name=f"{model.name}_training")
