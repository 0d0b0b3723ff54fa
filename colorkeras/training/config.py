"""Training configuration as code: the study's recipe is the default.

``TrainConfig()`` is the study; ``TrainConfig.smoke()`` shrinks images, data and epochs so
the same path runs on a CPU in a minute; ``demo()`` is what ``colorkeras demo`` trains.
Any field can be overridden: ``dataclasses.replace(config, epochs=5)`` or, on the command
line, ``colorkeras train ... --set epochs=5``.
"""

from __future__ import annotations

import dataclasses
import json
import math
from dataclasses import dataclass

from colorkeras.errors import InvalidArgument
from colorkeras.models.registry import FAMILIES, MODEL_NAMES
from colorkeras.training.objectives import OBJECTIVE_NAMES

INPUT_CHANNELS = (1, 3)
EXTRACTOR_SIZES = ("base", "tiny")
PRECISIONS = ("auto", "float32", "mixed_float16", "mixed_bfloat16")
JIT_COMPILE = ("auto", True, False)
SCHEDULES = ("constant", "cosine")
BOOLS = (True, False)
FUSED_EXTRACTORS = ("inception_v3", "vit_b16")
ARCHITECTURE_FIELDS = ("base_filters", "depth", "attention", "extractor", "blocks", "block")
BLOCKS = ("fused", "mbconv")


@dataclass(frozen=True)
class TrainConfig:
    """Every value that defines a training run.

    Args:
        model: "baseline", "inception_fusion", "vit_fusion" or "unet" (the quality family).
        image_size: side of the square training images; the prepared data's, or smaller
            (batches are then resized, or cropped with ``crop_scale``).
        input_channels: 1, or 3 to repeat L as the study did (same function, 1,152 more
            weights in the first conv).
        epochs: passes over the training split.
        batch_size: images per step.
        learning_rate, weight_decay: Adam's settings.
        loss: the objective (``colorkeras.training.objectives``): "mse" (the study), "l1" (the
            study's proposal against muted colours), "huber", "colourful" (MSE plus the
            study's colourfulness term) or "classify" (ab bins fitted to the training
            data; needs a family that takes output_channels, such as "unet").
        seed: seeds weights, data order and augmentation.
        augment: random horizontal flips of training images.
        max_train_images: use only the first N images of each epoch's order (smoke runs).
        extractor_weights: the fusion extractor's weights ("imagenet", a local path, or
            None for random weights in tests).
        extractor_size: "base", or "tiny" (a small ViT) for tests.
        mixed_precision: "auto" (float16 with loss scaling on a T4, bfloat16 on newer
            GPUs, float32 on CPU), "float32", "mixed_float16" or "mixed_bfloat16".
        jit_compile: "auto" lets Keras use XLA where it helps; True or False forces it.
        base_filters, depth, attention, extractor: the quality family's architecture
            (``colorkeras.models.unet.UNet``): width of the first level, number of 2x
            downsamplings, self-attention at the lowest resolution, and a frozen extractor
            ("inception_v3" or "vit_b16") fused at the bottleneck. None keeps the family's
            default (24, 4, True, no extractor); families without them accept only None.
        blocks, block: the efficient family's blocks per level and block kind ("fused" or
            "mbconv"; ``colorkeras.models.efficient``).
        crop_scale: random resized crops of the training images, from this fraction of
            the area to all of it (None: whole images, flips only).
        schedule: the learning rate over training: "constant" (the study), or "cosine"
            (decays to 0 over all epochs; for the short CPU runs).
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
    base_filters: int | None = None
    depth: int | None = None
    attention: bool | None = None
    extractor: str | None = None
    blocks: int | None = None
    block: str | None = None
    crop_scale: float | None = None
    schedule: str = "constant"

    def __post_init__(self):
        # Every field is checked here, so a wrong value from the command line, a notebook or
        # code fails at once with its name, not minutes later inside Keras (or never).
        _choice("model", self.model, MODEL_NAMES)
        _whole("image_size", self.image_size, minimum=8)
        if self.image_size % 8:
            # prepare accepts only multiples of 8 (the models halve the size three times).
            raise InvalidArgument(f"image_size must be a multiple of 8 (such as 32, 64 or 256), got {self.image_size}")
        _choice("input_channels", self.input_channels, INPUT_CHANNELS)
        _whole("epochs", self.epochs, minimum=1)
        _whole("batch_size", self.batch_size, minimum=1)
        _real("learning_rate", self.learning_rate, positive=True)
        _real("weight_decay", self.weight_decay, positive=False)
        _choice("loss", self.loss, OBJECTIVE_NAMES)
        _whole("seed", self.seed, minimum=0)
        _choice("augment", self.augment, BOOLS)
        if self.max_train_images is not None:
            _whole("max_train_images", self.max_train_images, minimum=1)
        if self.extractor_weights is not None and (
                not isinstance(self.extractor_weights, str) or not self.extractor_weights):
            raise InvalidArgument(f"extractor_weights must be 'imagenet', a path or None, got {self.extractor_weights!r}")
        _choice("extractor_size", self.extractor_size, EXTRACTOR_SIZES)
        _choice("mixed_precision", self.mixed_precision, PRECISIONS)
        _choice("jit_compile", self.jit_compile, JIT_COMPILE)
        if self.base_filters is not None:
            _whole("base_filters", self.base_filters, minimum=4)
        if self.depth is not None:
            _whole("depth", self.depth, minimum=1)
        if self.attention is not None:
            _choice("attention", self.attention, BOOLS)
        if self.extractor is not None:
            _choice("extractor", self.extractor, FUSED_EXTRACTORS)
        if self.blocks is not None:
            _whole("blocks", self.blocks, minimum=0)
        if self.block is not None:
            _choice("block", self.block, BLOCKS)
        if self.crop_scale is not None:
            _real("crop_scale", self.crop_scale, positive=True)
            if self.crop_scale > 1:
                raise InvalidArgument(f"crop_scale must lie in (0, 1], got {self.crop_scale!r}")
        _choice("schedule", self.schedule, SCHEDULES)
        taken = FAMILIES[self.model].options
        refused = [name for name in ARCHITECTURE_FIELDS if getattr(self, name) is not None and name not in taken]
        if refused:
            raise InvalidArgument(
                f"model {self.model!r} does not take {', '.join(refused)}; it takes "
                f"{', '.join(taken) or 'none of the architecture fields'}: leave the others unset")

    def architecture(self) -> dict:
        """The architecture fields that are set, as ``build_model`` takes them."""
        return {name: getattr(self, name) for name in ARCHITECTURE_FIELDS if getattr(self, name) is not None}

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
    """["epochs=5", "loss=l1"] -> {"epochs": 5, "loss": "l1"}, typed by the field's type.

    A value that cannot be read as its field's type is an ``InvalidArgument`` naming the
    key, the value and what was expected; ``TrainConfig`` then checks the range.
    """
    fields = {field.name: field for field in dataclasses.fields(TrainConfig)}
    values = {}
    for pair in pairs:
        if "=" not in pair:
            raise InvalidArgument(f"override {pair!r} is not of the form key=value")
        key, raw = pair.split("=", 1)
        key = key.strip()
        if key not in fields:
            raise InvalidArgument(f"unknown config key {key!r}; known: {', '.join(sorted(fields))}")
        values[key] = _parse_value(key, raw.strip(), fields[key].type)
    return values


_TRUE_WORDS, _FALSE_WORDS = ("true", "yes", "on", "1"), ("false", "no", "off", "0")


def _parse_value(key: str, raw: str, annotation: str):
    """The text of ``--set key=raw`` as the field's type (annotations are strings here)."""
    lowered = raw.lower()
    if "None" in annotation and lowered in ("none", "null"):
        return None
    if annotation.startswith("bool") or key == "jit_compile":
        if lowered in _TRUE_WORDS:
            return True
        if lowered in _FALSE_WORDS:
            return False
        if key == "jit_compile" and lowered == "auto":
            return "auto"
        allowed = "auto, true or false" if key == "jit_compile" else "true or false"
        raise InvalidArgument(f"--set {key}={raw}: expected {allowed}")
    for kind, name in ((int, "a whole number"), (float, "a number")):
        if annotation.startswith(kind.__name__):
            try:
                return kind(raw)
            except ValueError:
                extra = " or none" if "None" in annotation else ""
                raise InvalidArgument(f"--set {key}={raw}: expected {name}{extra}") from None
    return raw


def _is_int(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)  # True is an int to Python


def _whole(name: str, value, minimum: int) -> None:
    if not _is_int(value) or value < minimum:
        raise InvalidArgument(f"{name} must be a whole number >= {minimum}, got {value!r}")


def _real(name: str, value, positive: bool) -> None:
    ok = isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
    if not ok or value < 0 or (positive and value == 0):
        raise InvalidArgument(f"{name} must be a finite number {'> 0' if positive else '>= 0'}, got {value!r}")


def _choice(name: str, value, allowed) -> None:
    # `in` alone would let 1 stand for True and 1.0 for 1: the type must match too.
    if not any(value == option and type(value) is type(option) for option in allowed):
        raise InvalidArgument(f"unknown {name} {value!r}; expected one of {', '.join(map(repr, allowed))}")


def data_size_problem(prepared, data_size: int, image_size: int) -> str | None:
    """Why a dataset prepared at ``data_size`` px cannot train at ``image_size`` px (a
    model trains at or below the stored size), or None. Said in the flags' own words."""
    if data_size >= image_size:
        return None
    return (f"{prepared} was prepared at {data_size}px, smaller than the config's {image_size}px: "
            f"prepare again with --size {image_size} (or more), or train with --image-size {data_size}.")
