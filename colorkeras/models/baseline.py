"""The study's ColorNet: a plain CNN encoder-decoder from L to ab.

Encoder: 8 conv 3x3 (64, 128, 128, 256, 256, 512, 512, 256), stride 2 on convs 1, 3, 5,
each conv -> ReLU -> BatchNorm, so a 256x256 input becomes a 32x32x256 grid.
Decoder: conv 128, up x2, conv 64, conv 64, up x2, conv 32, conv 2 + tanh, up x2
(nearest), BatchNorm after the ReLUs of decoder convs 1-4.
"""

from __future__ import annotations

import keras
from keras import layers, ops

from colorkeras.models.colorizer import GRID_REDUCTION, Colorizer, check_image_size, check_input_channels

ENCODER_FILTERS = (64, 128, 128, 256, 256, 512, 512, 256)
ENCODER_STRIDES = (2, 1, 2, 1, 2, 1, 1, 1)
ENCODER_CHANNELS = ENCODER_FILTERS[-1]


@keras.saving.register_keras_serializable(package="colorkeras")
class RepeatChannels(layers.Layer):
    """Repeat a 1-channel image to `channels` channels (the study fed L three times).

    Args:
        channels: number of output channels.
    """

    def __init__(self, channels: int = 3, **kwargs):
        super().__init__(**kwargs)
        self.channels = channels

    def call(self, inputs):
        return ops.repeat(inputs, self.channels, axis=-1)

    def compute_output_shape(self, input_shape):
        return tuple(input_shape[:-1]) + (self.channels,)

    def get_config(self):
        return {**super().get_config(), "channels": self.channels}


def _conv_relu_bn(x, filters, stride, name):
    x = layers.Conv2D(filters, 3, strides=stride, padding="same", activation="relu", name=name)(x)
    return layers.BatchNormalization(name=f"{name}_bn")(x)


def build_encoder(image_size: int = 256, input_channels: int = 1) -> keras.Model:
    """Normalised L (S, S, 1) -> (S/8, S/8, 256) features.

    Args:
        image_size: input side, a multiple of 8.
        input_channels: 1, or 3 to repeat L as the study did (its first conv then has
            three input channels and the network has 6,257,954 trainable parameters).
    """
    check_image_size(image_size)
    check_input_channels(input_channels)
    # === Functional Model ===
    inputs = keras.Input((image_size, image_size, 1), name="l")
    x = RepeatChannels(3, name="repeat_l")(inputs) if input_channels == 3 else inputs
    for index, (filters, stride) in enumerate(zip(ENCODER_FILTERS, ENCODER_STRIDES), start=1):
        x = _conv_relu_bn(x, filters, stride, f"encoder_conv{index}")
    return keras.Model(inputs, x, name="encoder")


def build_decoder(grid_size: int, channels: int = ENCODER_CHANNELS) -> keras.Model:
    """(G, G, channels) features -> normalised ab (8G, 8G, 2) in [-1, 1]."""
    # === Functional Model ===
    inputs = keras.Input((grid_size, grid_size, channels), name="features")
    x = _conv_relu_bn(inputs, 128, 1, "decoder_conv1")
    x = layers.UpSampling2D(2, name="decoder_up1")(x)
    x = _conv_relu_bn(x, 64, 1, "decoder_conv2")
    x = _conv_relu_bn(x, 64, 1, "decoder_conv3")
    x = layers.UpSampling2D(2, name="decoder_up2")(x)
    x = _conv_relu_bn(x, 32, 1, "decoder_conv4")
    # tanh and the last upsampling in float32, so mixed precision never rounds the output.
    x = layers.Conv2D(2, 3, padding="same", name="decoder_conv5")(x)
    x = layers.Activation("tanh", dtype="float32", name="decoder_tanh")(x)
    outputs = layers.UpSampling2D(
        2, interpolation="nearest", dtype="float32", name="decoder_up3"
    )(x)
    return keras.Model(inputs, outputs, name="decoder")


@keras.saving.register_keras_serializable(package="colorkeras")
class Baseline(Colorizer):
    """The study's baseline: normalised L (S, S, 1) -> normalised ab (S, S, 2) in [-1, 1].

    Args:
        image_size: input side, a multiple of 8 (the study: 256).
        input_channels: 1, or 3 to repeat L as the study did (6,257,954 trainable
            parameters; 1,152 fewer with 1).
    """

    family = "baseline"

    def __init__(self, image_size: int = 256, input_channels: int = 1, name: str = "baseline", **kwargs):
        encoder = build_encoder(image_size, input_channels)
        decoder = build_decoder(image_size // GRID_REDUCTION)
        # === Functional Model ===
        inputs = keras.Input((image_size, image_size, 1), name="l")
        outputs = decoder(encoder(inputs))
        super().__init__(inputs=inputs, outputs=outputs, image_size=image_size,
                         input_channels=input_channels, name=name, **kwargs)


def build_baseline(image_size: int = 256, input_channels: int = 1) -> Baseline:
    """The study's baseline (see `Baseline`)."""
    return Baseline(image_size, input_channels)
