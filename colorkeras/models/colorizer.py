"""The contract every model family answers: normalised L in, an output its objective decodes.

A family is a functional Keras model built in its constructor (the keras-hub way): the
constructor takes the family's hyperparameters, builds the graph under a
``# === Functional Model ===`` banner, and keeps every argument for ``get_config``, so a
saved ``.keras`` file says what built it and ``from_config`` rebuilds it exactly.

Contract, for every family:
* input: normalised L, ``(batch, S, S, 1)``, L / 50 - 1 in [-1, 1] (``colorkeras.color``);
* output: ``(batch, S, S, output_channels)``; the run's objective turns it into normalised
  ab (``colorkeras.training.objectives``): for regression, 2 channels of ab / 127.5 in [-1, 1];
* ``training_graph()``: the graph that training fits (the model itself, or a graph that
  takes cached inputs, such as a frozen extractor's embedding, beside L);
* ``extractor``: the frozen extractor a family needs cached outputs of, or None;
* ``takes_reference``: True for a family that also takes a reference photo's normalised L
  and ab, ``(batch, S, S, 1)`` and ``(batch, S, S, 2)``, after the target's L
  (``colorkeras.models.exemplar``); training then feeds references (``colorkeras.data.pairs``).
"""

from __future__ import annotations

import inspect

import keras

from colorkeras.errors import InvalidArgument

GRID_REDUCTION = 8  # the study's encoder halves the image three times


def check_image_size(image_size) -> int:
    if not isinstance(image_size, int) or isinstance(image_size, bool) or image_size < GRID_REDUCTION \
            or image_size % GRID_REDUCTION:
        raise InvalidArgument(f"image_size must be a positive multiple of {GRID_REDUCTION}, got {image_size!r}")
    return image_size


def check_input_channels(input_channels) -> int:
    if input_channels not in (1, 3):
        raise InvalidArgument(f"input_channels must be 1 or 3, got {input_channels!r}")
    return input_channels


class Colorizer(keras.Model):
    """Base class of the model families (see the module docstring for the contract).

    Subclasses set ``family`` (the registry name) and call ``super().__init__(inputs=...,
    outputs=..., **kwargs)`` after building their graph, then keep their arguments.

    Args:
        image_size: side S of the square input.
        input_channels: 1, or 3 to repeat L as the study did.
    """

    family = ""
    takes_reference = False  # inputs: target L, reference L, reference ab (module docstring)

    def __init__(self, *args, image_size: int, input_channels: int = 1, **kwargs):
        super().__init__(*args, **kwargs)
        self.image_size = image_size
        self.input_channels = input_channels

    @property
    def output_channels(self) -> int:
        """Channels of the output the objective decodes (2: normalised ab)."""
        return int(self.outputs[0].shape[-1])

    @property
    def extractor(self) -> str | None:
        """The frozen extractor whose outputs training caches, or None."""
        return None

    def training_graph(self) -> keras.Model:
        """What `fit` trains; it shares every layer (and so every weight) with this model.

        A separate graph even where it computes the same: compiling it leaves this model
        uncompiled, so the saved model carries no optimizer state (a third of the size).
        """
        return keras.Model(self.inputs, self.outputs, name=f"{self.name}_training")

    def get_config(self) -> dict:
        # Not Functional's config (layers and wiring): the family rebuilds those itself.
        config = {"name": self.name, "trainable": self.trainable, "image_size": self.image_size,
                  "input_channels": self.input_channels}
        if self.dtype_policy is not None:
            config["dtype"] = keras.saving.serialize_keras_object(self.dtype_policy)
        return config

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        # A config carries no weights: whoever rebuilds from it (loading a .keras file,
        # which then reads the saved weights from the archive; a float32 twin, which
        # copies them) sets them. So a frozen extractor is built with random weights,
        # whatever the config says: loading a model never downloads or reads other files,
        # even from a crafted file naming "imagenet" or an hf:// preset.
        if "extractor_weights" in inspect.signature(cls.__init__).parameters:
            config["extractor_weights"] = None
        if isinstance(config.get("dtype"), dict):
            config["dtype"] = keras.saving.deserialize_keras_object(config["dtype"])
        return cls(**config)
