"""Objectives: what a colorizer's output means, how it is trained, how it becomes ab.

An objective owns three things that must agree, so that training, evaluation and
colorize never disagree about them:

* ``encode(ab_norm)``: the training target for normalised ab (ab / 127.5);
* ``loss``: the Keras loss between that target and the model output;
* ``decode(output)``: the model output -> normalised ab, (..., 2) in about [-1, 1].

``output_channels`` says what output a family must produce for it. Adding an objective
is one class here and one ``register_objective`` line.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from colorkeras.errors import InvalidArgument


@dataclass(frozen=True)
class Regression:
    """Regression of normalised ab: the model outputs ab itself (identity decoding).

    Args:
        name: the registry name ("mse", "l1", "huber").
        loss_name: Keras' loss: "mse" (the study), "mae" (L1) or "huber".
    """

    name: str
    loss_name: str
    summary: str = ""
    output_channels: int = 2

    @property
    def loss(self):
        import keras

        if self.loss_name == "huber":
            # delta 0.1 on normalised ab (about 13 ab units): quadratic for small errors,
            # linear for the large ones that make MSE average colours into grey.
            return keras.losses.Huber(delta=0.1)
        return self.loss_name

    def encode(self, ab_norm):
        return ab_norm

    def decode(self, output):
        return output

    def to_dict(self) -> dict:
        return {"name": self.name, "kind": "regression", "loss": self.loss_name}


OBJECTIVES: dict[str, Regression] = {}


def register_objective(objective) -> None:
    OBJECTIVES[objective.name] = objective


register_objective(Regression("mse", "mse", "mean squared error on normalised ab (the study)"))
register_objective(Regression("l1", "mae", "mean absolute error on normalised ab"))
register_objective(Regression("huber", "huber", "Huber loss (delta 0.1) on normalised ab"))

OBJECTIVE_NAMES = tuple(OBJECTIVES)
DEFAULT_OBJECTIVE = "mse"


def get_objective(name: str | None):
    """The registered objective `name` (None: the study's MSE regression)."""
    name = name or DEFAULT_OBJECTIVE
    if name not in OBJECTIVES:
        raise InvalidArgument(f"unknown objective {name!r}; expected one of {', '.join(OBJECTIVE_NAMES)}")
    return OBJECTIVES[name]


def decode_to_numpy(objective, output) -> np.ndarray:
    """Decode a batch of model output into float32 normalised ab as a NumPy array."""
    return np.asarray(objective.decode(np.asarray(output, np.float32)), np.float32)
