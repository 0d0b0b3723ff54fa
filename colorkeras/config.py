"""Training configuration as code: the study's recipe is the default.

``TrainConfig()`` is the study; ``TrainConfig.smoke()`` shrinks images, data and epochs so
the same path runs on a CPU in a minute; ``demo()`` is what ``colorkeras demo`` trains.
Any field can be overridden: ``dataclasses.replace(config, epochs=5)`` or, on the command
line, ``colorkeras train ... --set epochs=5``.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass

from colorkeras.errors import InvalidArgument

LOSSES = ("mse", "l1")


@dataclass(frozen=True)
class TrainConfig:
    """Every value that defines a training run.

    Args:
        model: "baseline", "inception_fusion" or "vit_fusion".
        image_size: side of the square training images; must equal the prepared data's.
        input_channels: 1, or 3 to repeat L as the study did (same function, 1,152 more
            weights in the first conv).
        epochs: passes over the training split.
        batch_size: images per step.
        learning_rate, weight_decay: Adam's settings.
        loss: "mse" (the study) or "l1" (the study's proposal against muted colours).
        seed: seeds weights, data order and augmentation.
        augment: random horizontal flips of training images.
        max_train_images: use only the first N images of each epoch's order (smoke runs).
        extractor_weights: the fusion extractor's weights ("imagenet", a local path, or
            None for random weights in tests).
        extractor_size: "base", or "tiny" (a small ViT) for tests.
        mixed_precision: "auto" (float16 with loss scaling on a T4, bfloat16 on newer
            GPUs, float32 on CPU), "float32", "mixed_float16" or "mixed_bfloat16".
        jit_compile: "auto" lets Keras use XLA where it helps; True or False forces it.
    """

    model: str = "baseline"
    image_size: int = 256  # the study resized SUN397 to 256x256
    input_channels: int = 1
    epochs: int = 50  # the study trained 50 epochs and kept the best validation epoch
    batch_size: int = 64  # the study's batch; fits a T4's 15 GB at 256px in mixed precision
    learning_rate: float = 1e-4  # the study's Adam learning rate
    # The study's PyTorch Adam(weight_decay=1e-6) adds 1e-6*w to the gradient; Keras' Adam
    # decays weights directly (decoupled). At 1e-6 the two are indistinguishable in effect.
    weight_decay: float = 1e-6
    loss: str = "mse"  # MSE on normalised ab, the study's loss (and its MSE column)
    seed: int = 0
    augment: bool = True  # horizontal flips: a mirrored street is still a street
    max_train_images: int | None = None
    extractor_weights: str | None = "imagenet"
    extractor_size: str = "base"
    mixed_precision: str = "auto"
    jit_compile: str | bool = "auto"

    def __post_init__(self):
        from colorkeras.models.registry import MODEL_NAMES

        if self.model not in MODEL_NAMES:
            raise InvalidArgument(f"unknown model {self.model!r}; expected one of {', '.join(MODEL_NAMES)}")
        if self.loss not in LOSSES:
            raise InvalidArgument(f"unknown loss {self.loss!r}; expected one of {LOSSES}")
        if self.epochs < 1 or self.batch_size < 1:
            raise InvalidArgument("epochs and batch_size must be at least 1")
        if self.mixed_precision not in ("auto", "float32", "mixed_float16", "mixed_bfloat16"):
            raise InvalidArgument(f"unknown mixed_precision {self.mixed_precision!r}")

    @classmethod
    def smoke(cls, **overrides) -> "TrainConfig":
        """A CPU-sized run of the same path: small images, few images, few epochs."""
        values = dict(image_size=64, epochs=2, batch_size=16, max_train_images=128,
                      learning_rate=1e-3)
        return cls(**{**values, **overrides})

    @classmethod
    def demo(cls, **overrides) -> "TrainConfig":
        """What `colorkeras demo` trains on the toy city within a few CPU minutes.

        A higher learning rate than the study's: the toy city is small and easy, and the
        demo has minutes, not hours.
        """
        values = dict(image_size=32, epochs=8, batch_size=16, learning_rate=2e-3)
        return cls(**{**values, **overrides})

    def replace(self, **changes) -> "TrainConfig":
        return dataclasses.replace(self, **changes)

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2, sort_keys=True)


def parse_overrides(pairs: list[str]) -> dict:
    """["epochs=5", "loss=l1"] -> {"epochs": 5, "loss": "l1"}, typed by the field's type."""
    fields = {field.name: field for field in dataclasses.fields(TrainConfig)}
    values = {}
    for pair in pairs:
        if "=" not in pair:
            raise InvalidArgument(f"override {pair!r} is not of the form key=value")
        key, raw = pair.split("=", 1)
        if key not in fields:
            raise InvalidArgument(f"unknown config key {key!r}; known: {', '.join(sorted(fields))}")
        values[key] = _parse_value(raw)
    return values


def _parse_value(raw: str):
    lowered = raw.lower()
    if lowered in ("none", "null"):
        return None
    if lowered in ("true", "false"):
        return lowered == "true"
    for kind in (int, float):
        try:
            return kind(raw)
        except ValueError:
            pass
    return raw
