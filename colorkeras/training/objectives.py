"""Objectives: what a colorizer's output means, how it is trained, how it becomes ab.

An objective owns three things that must agree, so that training, evaluation and
colorize never disagree about them:

* ``encode(ab_norm)``: the training target for normalised ab (ab / 127.5);
* ``loss``: the Keras loss between normalised ab (what the data pipeline yields) and the
  model output; it applies ``encode`` itself, so the pipeline is the same for every objective;
* ``decode(output, temperature=None)``: the model output -> normalised ab, (..., 2) in
  about [-1, 1]; ``temperature`` is a decode-time knob of classification (regression
  ignores it).

``output_channels`` says what output a family must produce for it. An objective whose
``needs_fit`` is true learns from the training data first (``fit(dataset)``: the ab bins
of classification); ``to_dict`` then carries what it learned, and ``get_objective(that
dict)`` rebuilds it, so evaluate and colorize decode exactly as training encoded. Adding
an objective is one class here and one ``register_objective`` line (plus its Keras loss in
`colorkeras.training.losses` if Keras has none that fits).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace

import numpy as np

from colorkeras import color
from colorkeras.data.pipeline import PreparedDataset
from colorkeras.errors import ColorkerasError, InvalidArgument


class ObjectiveNotFitted(ColorkerasError):
    """A data-fitted objective (classification) used before ``fit``."""


def check_temperature(temperature) -> float:
    """A decode temperature: a finite number > 0."""
    if isinstance(temperature, bool) or not isinstance(temperature, (int, float)) \
            or not math.isfinite(temperature) or temperature <= 0:
        raise InvalidArgument(f"temperature must be a number > 0, got {temperature!r}")
    return float(temperature)


# ====================================================================================
# Regression
# ====================================================================================
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
    needs_fit = False
    uses_temperature = False

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

    def decode(self, output, temperature=None):
        """The output itself (``temperature`` is ignored: regression has none)."""
        return output

    def to_dict(self) -> dict:
        return {"name": self.name, "kind": "regression", "loss": self.loss_name}

    def from_dict(self, record: dict):
        """This objective (a regression learns nothing from data)."""
        return self


# The colourfulness term's default weight. On normalised ab a muted, near-grey
# prediction of a typical city photo (true chroma mean ~0.15, spread ~0.1) pays a gap of
# about 0.03, a few times the ab-MSE of the grey floor (~0.008): the term matters as much
# as the pixel error without overruling it.
COLORFULNESS_WEIGHT = 1.0


@dataclass(frozen=True)
class ColorfulRegression(Regression):
    """Regression plus the study's proposed colourfulness term: per image, lambda times
    the squared gaps between the predicted and true mean and standard deviation of the
    chroma sqrt(a^2 + b^2) (on normalised ab), added to the MSE ("mse") or L1 ("mae").

    Args:
        colorfulness_weight: lambda (default `COLORFULNESS_WEIGHT`); recorded in a run
            as "colourfulness_weight", the name runs have always carried.
    """

    colorfulness_weight: float = COLORFULNESS_WEIGHT

    @property
    def loss(self):
        from colorkeras.training import losses

        return losses.ColorfulnessLoss(base=self.loss_name, weight=self.colorfulness_weight)

    def to_dict(self) -> dict:
        return {**super().to_dict(), "colourfulness_weight": self.colorfulness_weight}

    def from_dict(self, record: dict) -> "ColorfulRegression":
        return replace(self, colorfulness_weight=float(record.get("colourfulness_weight",
                                                                  self.colorfulness_weight)))


# ====================================================================================
# Regression with a learnt confidence: know when not to paint
# ====================================================================================
def confidence_gain(ab_norm, log_variance, temperature: float) -> np.ndarray:
    """The chroma gain per pixel for the decode ``temperature`` (NumPy).

    The confidence c = |ab|^2 / (|ab|^2 + var) in [0, 1] compares the predicted chroma
    with the error the model expects there (a Wiener-style ratio, no units to tune): a
    faint blue on a sky the model is unsure of has c near 0, a brick wall it knows near 1.
    T = 1 keeps the prediction; T > 1 shrinks towards grey where the model is unsure
    (gain c^(T-1): T = 2 is the Wiener shrinkage); T < 1 paints more vividly where it is
    sure (gain 1 + (1/T - 1) c). The direction matches classification's annealed mean:
    smaller T is more vivid."""
    chroma2 = np.sum(np.square(ab_norm), axis=-1)
    variance = np.exp(np.clip(log_variance, -12.0, 4.0))
    confidence = chroma2 / (chroma2 + variance + 1e-12)
    if temperature >= 1:
        return np.power(confidence, np.float32(temperature - 1.0))
    return 1.0 + (1.0 / temperature - 1.0) * confidence


@dataclass(frozen=True)
class Confidence:
    """MSE regression of normalised ab plus a per-pixel log-variance of its error, learnt
    with the loss (`colorkeras.training.losses.ConfidenceLoss`); the decode temperature
    shrinks chroma towards grey where the model is unsure, or boosts it where it is sure
    (`confidence_gain`).

    Output: 3 raw channels, tanh(a), tanh(b) normalised ab and the log-variance.

    Args:
        weight: of the variance term in the loss.
        temperature: the default decode temperature (1: the prediction as trained).
    """

    name: str = "confidence"
    summary: str = ""
    weight: float = 0.1
    temperature: float = 1.0
    output_channels: int = 3
    needs_fit = False
    uses_temperature = True

    @property
    def loss(self):
        from colorkeras.training import losses

        return losses.ConfidenceLoss(weight=self.weight)

    def encode(self, ab_norm):
        return ab_norm

    def resolve_temperature(self, temperature=None) -> float:
        return check_temperature(self.temperature if temperature is None else temperature)

    def decode(self, output, temperature=None):
        """Output (..., 3) -> normalised ab (..., 2), scaled per pixel by `confidence_gain`."""
        temperature = self.resolve_temperature(temperature)
        output = np.asarray(output, np.float32)
        if output.shape[-1] != 3:
            raise InvalidArgument(f"expected 3 output channels (ab, log-variance), got shape {output.shape}")
        ab = np.tanh(output[..., :2])
        if temperature == 1:
            return ab
        gain = confidence_gain(ab, output[..., 2], temperature).astype(np.float32)
        return np.clip(ab * gain[..., None], -1.0, 1.0)

    def uncertainty(self, output) -> np.ndarray:
        """The expected squared error of normalised ab per pixel (..., ), from the output."""
        return np.exp(np.clip(np.asarray(output, np.float32)[..., 2], -12.0, 4.0))

    def to_dict(self) -> dict:
        return {"name": self.name, "kind": "confidence", "weight": self.weight, "temperature": self.temperature}

    def from_dict(self, record: dict) -> "Confidence":
        return replace(self, **{key: float(record[key]) for key in ("weight", "temperature") if key in record})


# ====================================================================================
# Classification of ab into bins (Zhang, Isola & Efros 2016)
# ====================================================================================
@dataclass(frozen=True, eq=False)
class Classification:
    """ab classification: ab quantised into in-gamut bins of the training data, trained
    with class-rebalanced cross-entropy, decoded by the annealed mean.

    Bins: the cells of a ``grid``-unit lattice over ab (centres at multiples of ``grid``)
    in which some training pixel falls (`fit`). Target: each pixel's ab soft-encoded over
    its ``neighbours`` nearest bins with a Gaussian of ``soft_sigma`` ab units. Rebalancing:
    the empirical bin frequencies, smoothed with a Gaussian of ``smoothing`` ab units (p),
    give weights w proportional to 1 / ((1 - lambda) p + lambda / Q), scaled so that
    E_p[w] = 1; a pixel is weighted by its nearest bin's w. Decoding: softmax(logits / T),
    then the expected ab over the bin centres: T = 1 the mean (accurate, muted), small T
    towards the mode (vivid); ``temperature`` is the default T.

    Args:
        name: the registry name.
        grid, rebalance (lambda), smoothing, soft_sigma, neighbours, temperature: as above.
        bins, probabilities, weights: what `fit` learned ((Q, 2) ab centres, smoothed p, w);
            None before fitting.
    """

    name: str = "classify"
    summary: str = ""
    grid: float = 10.0
    rebalance: float = 0.5
    smoothing: float = 5.0
    soft_sigma: float = 5.0
    neighbours: int = 5
    temperature: float = 0.38  # Zhang et al.'s choice
    bins: np.ndarray | None = field(default=None, repr=False)
    probabilities: np.ndarray | None = field(default=None, repr=False)
    weights: np.ndarray | None = field(default=None, repr=False)
    uses_temperature = True

    @property
    def needs_fit(self) -> bool:
        return self.bins is None

    def _fitted(self) -> None:
        if self.bins is None:
            raise ObjectiveNotFitted(
                f"the {self.name!r} objective learns its ab bins from the training data: call "
                "fit(dataset) first (training does, and records them in the run)")

    @property
    def output_channels(self) -> int:
        """Q, the number of bins (the model's logits)."""
        self._fitted()
        return len(self.bins)

    # ---------------------------------------------------------------- fitting
    def fit(self, dataset, max_images: int = 2000) -> "Classification":
        """This objective with bins, probabilities and weights from the training split.

        Args:
            dataset: a prepared dataset (folder or open ``PreparedDataset``); its stored
                uint8 ab is read through `colorkeras.color.dequantize_ab`.
            max_images: at most this many training images, evenly spaced, are counted.
        """
        if not isinstance(dataset, PreparedDataset):
            dataset = PreparedDataset.open(dataset)
        _, ab_array = dataset.arrays("train")
        if len(ab_array) == 0:
            raise ObjectiveNotFitted(f"{dataset.root} has no training images to fit the ab bins on")
        rows = np.unique(np.linspace(0, len(ab_array) - 1, min(len(ab_array), max_images)).round().astype(int))
        # Stored ab is two uint8 codes a pixel: count the 65,536 code pairs, then bin them.
        counts = np.zeros(256 * 256, np.int64)
        for row in rows:
            codes = np.asarray(ab_array[row], np.int32).reshape(-1, 2)
            counts += np.bincount(codes[:, 0] * 256 + codes[:, 1], minlength=256 * 256)
        levels = np.asarray(color.dequantize_ab(np.arange(256, dtype=np.float64)))
        cells = np.rint(levels / self.grid).astype(np.int64)
        pairs = np.stack(np.meshgrid(cells, cells, indexing="ij"), axis=-1).reshape(-1, 2)
        occupied = counts > 0
        cell_ids, inverse = np.unique(pairs[occupied], axis=0, return_inverse=True)
        frequency = np.bincount(inverse.ravel(), weights=counts[occupied]).astype(np.float64)
        frequency /= frequency.sum()
        bins = cell_ids.astype(np.float64) * self.grid
        kernel = np.exp(-((bins[:, None, :] - bins[None, :, :]) ** 2).sum(-1) / (2 * self.smoothing**2))
        smoothed = kernel @ frequency
        smoothed /= smoothed.sum()
        weights = 1.0 / ((1 - self.rebalance) * smoothed + self.rebalance / len(bins))
        weights /= (smoothed * weights).sum()
        return replace(self, bins=bins.astype(np.float32), probabilities=smoothed.astype(np.float32),
                       weights=weights.astype(np.float32))

    # ------------------------------------------------------------- the contract
    @property
    def loss(self):
        from colorkeras.training import losses

        self._fitted()
        return losses.BinCrossEntropy(bins=self.bins, weights=self.weights, neighbours=self.neighbours,
                                      sigma=self.soft_sigma)

    def encode(self, ab_norm):
        """Normalised ab (..., 2) -> the soft target over the bins (..., Q), keras.ops."""
        from keras import ops

        from colorkeras.training import losses

        self._fitted()
        distances = losses.squared_bin_distances(ab_norm, ops.convert_to_tensor(self.bins))
        return losses.soft_encode_ops(distances, self.neighbours, self.soft_sigma)

    def resolve_temperature(self, temperature=None) -> float:
        return check_temperature(self.temperature if temperature is None else temperature)

    def decode(self, output, temperature=None):
        """Logits (..., Q) -> normalised ab (..., 2), the annealed mean at ``temperature``
        (None: this objective's default), in NumPy, a block of pixels at a time."""
        self._fitted()
        temperature = self.resolve_temperature(temperature)
        logits = np.asarray(output, np.float32)
        if logits.shape[-1] != len(self.bins):
            raise InvalidArgument(f"expected {len(self.bins)} logits a pixel, got shape {logits.shape}")
        centres = np.asarray(color.normalize_ab(self.bins), np.float32)
        flat = logits.reshape(-1, len(self.bins))
        out = np.empty((len(flat), 2), np.float32)
        block = 65_536
        for start in range(0, len(flat), block):
            scaled = flat[start : start + block] / np.float32(temperature)
            scaled -= scaled.max(axis=-1, keepdims=True)
            probabilities = np.exp(scaled)
            probabilities /= probabilities.sum(axis=-1, keepdims=True)
            out[start : start + block] = probabilities @ centres
        return out.reshape(logits.shape[:-1] + (2,))

    def to_dict(self) -> dict:
        record = {"name": self.name, "kind": "classification", "grid": self.grid, "rebalance": self.rebalance,
                  "smoothing": self.smoothing, "soft_sigma": self.soft_sigma, "neighbours": self.neighbours,
                  "temperature": self.temperature}
        if self.bins is not None:
            record.update(bins=self.bins.tolist(), probabilities=self.probabilities.tolist(),
                          weights=self.weights.tolist())
        return record

    def from_dict(self, record: dict) -> "Classification":
        """The objective a run recorded (``to_dict``), its bins and weights included."""
        settings = {key: record[key] for key in ("grid", "rebalance", "smoothing", "soft_sigma", "neighbours",
                                                  "temperature") if key in record}
        arrays = {}
        if record.get("bins") is not None:
            try:
                arrays = {key: np.asarray(record[key], np.float32) for key in ("bins", "probabilities", "weights")}
            except (KeyError, TypeError, ValueError) as error:
                raise ObjectiveNotFitted(f"the recorded {self.name!r} objective is incomplete ({error})") from error
            if arrays["bins"].ndim != 2 or arrays["bins"].shape[1] != 2 \
                    or any(len(arrays[key]) != len(arrays["bins"]) for key in ("probabilities", "weights")):
                raise ObjectiveNotFitted(f"the recorded {self.name!r} objective's bins and weights do not agree")
        return replace(self, **settings, **arrays)


OBJECTIVES: dict[str, object] = {}


def register_objective(objective) -> None:
    OBJECTIVES[objective.name] = objective


register_objective(Regression("mse", "mse", "mean squared error on normalised ab (the study)"))
register_objective(Regression("l1", "mae", "mean absolute error on normalised ab"))
register_objective(Regression("huber", "huber", "Huber loss (delta 0.1) on normalised ab"))
register_objective(ColorfulRegression(
    "colourful", "mse", "MSE plus the gap in per-image chroma mean and spread (the study's proposal)"))
register_objective(Classification(
    "classify", "ab bins of the training data, rebalanced cross-entropy, annealed-mean decoding"))
register_objective(Confidence(
    "confidence", "MSE plus a learnt per-pixel error variance; temperature shrinks unsure chroma (>1) or boosts sure chroma (<1)"))

OBJECTIVE_NAMES = tuple(OBJECTIVES)
DEFAULT_OBJECTIVE = "mse"


def get_objective(spec: str | dict | None):
    """The registered objective named ``spec`` (None: the study's MSE regression), or, for
    a dict a run recorded (``to_dict``), that objective as it was fitted."""
    record = spec if isinstance(spec, dict) else None
    name = (record.get("name") if record is not None else spec) or DEFAULT_OBJECTIVE
    if name not in OBJECTIVES:
        raise InvalidArgument(f"unknown objective {name!r}; expected one of {', '.join(OBJECTIVE_NAMES)}")
    objective = OBJECTIVES[name]
    return objective.from_dict(record) if record is not None else objective


def decode_to_numpy(objective, output, temperature=None) -> np.ndarray:
    """Decode a batch of model output into float32 normalised ab as a NumPy array
    (``temperature``: the decode temperature, for objectives that have one)."""
    return np.asarray(objective.decode(np.asarray(output, np.float32), temperature=temperature), np.float32)
