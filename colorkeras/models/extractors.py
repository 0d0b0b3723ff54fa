"""Frozen ImageNet classifiers that give the fusion models a 1000-d view of the scene.

Each extractor takes the same input as the colorizer (normalised L, (S, S, 1)), turns it
into the grey sRGB photo it stands for, resizes it to the network's own input size and
scales it as that network expects, and returns the 1000 ImageNet logits. Extractors have
no trainable weights.

Weights load the normal way: ``keras.applications.InceptionV3(weights="imagenet")`` and
the keras-hub preset ``vit_base_patch16_224_imagenet``, or a local copy of either.
"""

from __future__ import annotations

import json
from pathlib import Path

import keras
from keras import layers, ops

from colorkeras.errors import ColorkerasError, InvalidArgument
from colorkeras import color

EXTRACTORS = ("inception_v3", "vit_b16")
INPUT_SIZES = {"inception_v3": 299, "vit_b16": 224}
EMBEDDING_DIM = 1000
VIT_PRESET = "vit_base_patch16_224_imagenet"
# ViT-B/16 (google/vit-base-patch16-224) architecture.
VIT_B16 = dict(patch_size=16, num_layers=12, num_heads=12, hidden_dim=768, mlp_dim=3072)
# A tiny ViT with the same structure, for fast tests only.
VIT_TINY = dict(patch_size=16, num_layers=2, num_heads=2, hidden_dim=32, mlp_dim=64)
# The Hugging Face checkpoint was trained with layer-norm epsilon 1e-12 (keras-hub's
# converter keeps its own default of 1e-6).
HF_VIT_LAYER_NORM_EPSILON = 1e-12


class WeightsUnavailableError(ColorkerasError):
    """Pretrained weights could not be loaded (offline, or a wrong local path)."""


@keras.saving.register_keras_serializable(package="colorkeras")
class GreyFromL(layers.Layer):
    """Normalised L (B, H, W, 1) -> the grey sRGB image (B, H, W, 3) in [0, 1] it stands for."""

    def call(self, l_norm):
        lightness = color.denormalize_l(ops.cast(l_norm, "float32"))
        lab = ops.concatenate([lightness, ops.zeros_like(lightness), ops.zeros_like(lightness)], axis=-1)
        # ab = 0 is grey up to the rounding of the white point's constants (~3e-5);
        # averaging the channels makes the image exactly neutral.
        grey = ops.mean(color.lab_to_rgb_ops(lab), axis=-1, keepdims=True)
        return ops.repeat(grey, 3, axis=-1)

    def compute_output_shape(self, input_shape):
        return tuple(input_shape[:-1]) + (3,)


def extractor_key(name: str, weights) -> str:
    """Folder name of an embedding cache: extractor plus which weights made it."""
    if weights is None:
        tag = "random"
    elif isinstance(weights, str) and weights in ("imagenet", VIT_PRESET):
        tag = "imagenet"
    else:
        tag = "local-" + Path(str(weights)).name.replace(".", "_")
    return f"{name}-{tag}"


def build_extractor(name: str, image_size: int = 256, weights="imagenet", size: str = "base") -> keras.Model:
    """A frozen extractor: normalised L (S, S, 1) -> 1000 ImageNet logits.

    Args:
        name: "inception_v3" or "vit_b16".
        image_size: the colorizer's input side.
        weights: "imagenet" (download through Keras / keras-hub), a local file or folder
            (InceptionV3: an .h5/.weights.h5 file; ViT: a keras-hub preset folder or a
            Hugging Face checkpoint folder of google/vit-base-patch16-224), or None for
            random weights (tests).
        size: "base" (the real architecture) or "tiny" (a small ViT, for fast tests).
    """
    if name not in EXTRACTORS:
        raise InvalidArgument(f"unknown extractor {name!r}; expected one of {EXTRACTORS}")
    if size not in ("base", "tiny"):
        raise InvalidArgument(f"unknown extractor size {size!r}; expected 'base' or 'tiny'")
    network = _inception_v3(weights) if name == "inception_v3" else _vit_b16(weights, size)
    network.trainable = False
    target = INPUT_SIZES[name]
    # === Functional Model ===
    inputs = keras.Input((image_size, image_size, 1), name="l")
    grey = GreyFromL(name="grey_rgb")(inputs)
    resized = layers.Resizing(target, target, interpolation="bilinear", name="resize")(grey)
    # Both networks take RGB scaled to [-1, 1] (InceptionV3's preprocess_input; the ViT
    # checkpoint's mean 0.5 / std 0.5 normalisation).
    scaled = layers.Rescaling(2.0, offset=-1.0, name="scale")(resized)
    logits = network(scaled)
    logits = layers.Activation("linear", dtype="float32", name="logits")(logits)
    model = keras.Model(inputs, logits, name="extractor")
    model.trainable = False
    return model


def _inception_v3(weights):
    if weights is not None and weights != "imagenet" and not Path(weights).is_file():
        raise WeightsUnavailableError(f"InceptionV3 weights file not found: {weights}")
    try:
        return keras.applications.InceptionV3(
            include_top=True, weights=weights, classifier_activation=None, name="inception_v3"
        )
    except Exception as error:  # noqa: BLE001 - Keras raises a bare Exception on fetch failure
        if weights != "imagenet":
            raise
        raise WeightsUnavailableError(
            "Could not download the InceptionV3 ImageNet weights "
            f"({type(error).__name__}: {error}).\n"
            "Download inception_v3_weights_tf_dim_ordering_tf_kernels.h5 from the Keras "
            "applications release (storage.googleapis.com/tensorflow/keras-applications/"
            "inception_v3/) and put it in ~/.keras/models/ (or $KERAS_HOME/models/), or pass "
            "its path as the weights."
        ) from error


def _vit_b16(weights, size):
    import keras_hub

    if weights is None:
        spec = VIT_B16 if size == "base" else VIT_TINY
        backbone = keras_hub.models.ViTBackbone(
            image_shape=(INPUT_SIZES["vit_b16"], INPUT_SIZES["vit_b16"], 3),
            patch_size=(spec["patch_size"], spec["patch_size"]),
            num_layers=spec["num_layers"],
            num_heads=spec["num_heads"],
            hidden_dim=spec["hidden_dim"],
            mlp_dim=spec["mlp_dim"],
            layer_norm_epsilon=HF_VIT_LAYER_NORM_EPSILON,
        )
        return keras_hub.models.ViTImageClassifier(
            backbone=backbone, num_classes=EMBEDDING_DIM, preprocessor=None, activation=None, name="vit_b16"
        )
    local = Path(str(weights))
    try:
        if local.is_dir() and _is_hugging_face_checkpoint(local):
            backbone = keras_hub.models.ViTBackbone.from_preset(
                str(local), layer_norm_epsilon=HF_VIT_LAYER_NORM_EPSILON
            )
            return keras_hub.models.ViTImageClassifier.from_preset(
                str(local), backbone=backbone, preprocessor=None, activation=None, name="vit_b16"
            )
        preset = str(local) if local.is_dir() else (VIT_PRESET if weights == "imagenet" else str(weights))
        return keras_hub.models.ViTImageClassifier.from_preset(
            preset, preprocessor=None, activation=None, name="vit_b16"
        )
    except Exception as error:  # noqa: BLE001 - kagglehub/HF raise many types when offline
        raise WeightsUnavailableError(
            f"Could not load ViT-B/16 weights from {weights!r} ({type(error).__name__}: {error}).\n"
            f"Either download the keras-hub preset '{VIT_PRESET}' (Kaggle: keras/vit) into a "
            "folder, or the Hugging Face checkpoint google/vit-base-patch16-224 "
            "(config.json + model.safetensors), and pass that folder as the weights."
        ) from error


def _is_hugging_face_checkpoint(folder: Path) -> bool:
    config = folder / "config.json"
    return config.is_file() and "model_type" in json.loads(config.read_text())
