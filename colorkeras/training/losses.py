"""The Keras losses of the objectives (`colorkeras.training.objectives`), with the
keras.ops helpers of ab classification. Keras loads with this module: the objectives
import it when a loss or an encoding is first asked for, so reading them needs no Keras.
"""

from __future__ import annotations

import keras
import numpy as np
from keras import ops

from colorkeras import color


def squared_bin_distances(ab_norm, bins_ab):
    """Normalised ab (..., 2) and bin centres (Q, 2) in ab units -> squared ab distances
    (..., Q) in ab units, with keras.ops."""
    ab = color.denormalize_ab(ops.cast(ab_norm, "float32"))
    return ops.sum(ops.square(ab[..., None, :] - bins_ab), axis=-1)


def nearest_bins_ops(distances, neighbours: int, sigma: float):
    """Squared distances (..., Q) -> (indices, weights), each (..., k): the ``neighbours``
    nearest bins (ties broken by bin order) and a Gaussian over them (``sigma`` in ab
    units) summing to 1, with keras.ops."""
    neighbours = min(neighbours, int(distances.shape[-1]))
    negative, indices = ops.top_k(-distances, neighbours)
    # Relative to the nearest bin, so the kernel never underflows to an all-zero sum.
    kernel = ops.exp((negative - negative[..., :1]) / (2.0 * sigma * sigma))
    return indices, kernel / ops.sum(kernel, axis=-1, keepdims=True)


def soft_encode_ops(distances, neighbours: int, sigma: float):
    """Squared distances (..., Q) -> the soft target (..., Q): `nearest_bins_ops` spread
    over all Q bins (zero beyond the ``neighbours`` nearest)."""
    indices, weights = nearest_bins_ops(distances, neighbours, sigma)
    return ops.sum(ops.one_hot(indices, int(distances.shape[-1])) * weights[..., None], axis=-2)


# Registered under its first name, which saved configs carry.
@keras.saving.register_keras_serializable(package="colorkeras", name="ColourfulnessLoss")
class ColorfulnessLoss(keras.losses.Loss):
    """Per image: the mean squared (or absolute) ab error plus ``weight`` times the
    squared gaps between predicted and true chroma mean and chroma spread
    (`colorkeras.color.chroma_statistics_ops`, on normalised ab)."""

    def __init__(self, base="mse", weight=1.0, name="colourfulness_loss", **kwargs):
        super().__init__(name=name, **kwargs)
        self.base, self.weight = base, weight

    def call(self, y_true, y_pred):
        y_true, y_pred = ops.cast(y_true, "float32"), ops.cast(y_pred, "float32")
        error = y_pred - y_true
        error = ops.square(error) if self.base == "mse" else ops.abs(error)
        per_image = ops.mean(error, axis=(1, 2, 3))
        true_mean, true_spread = color.chroma_statistics_ops(y_true)
        pred_mean, pred_spread = color.chroma_statistics_ops(y_pred)
        gap = ops.square(pred_mean - true_mean) + ops.square(pred_spread - true_spread)
        return per_image + self.weight * gap

    def get_config(self):
        return {**super().get_config(), "base": self.base, "weight": self.weight}


@keras.saving.register_keras_serializable(package="colorkeras")
class BinCrossEntropy(keras.losses.Loss):
    """Rebalanced cross-entropy between soft-encoded ab bins and the model's logits (see
    `colorkeras.training.objectives.Classification`). y_true is normalised ab; y_pred the
    logits (B, H, W, Q)."""

    def __init__(self, bins=(), weights=(), neighbours=5, sigma=5.0, name="bin_cross_entropy", **kwargs):
        super().__init__(name=name, **kwargs)
        self.bins = [list(map(float, b)) for b in bins]
        self.class_weights = [float(w) for w in weights]
        self.neighbours, self.sigma = int(neighbours), float(sigma)

    def call(self, y_true, y_pred):
        bins = ops.convert_to_tensor(np.asarray(self.bins, np.float32))
        weights = ops.convert_to_tensor(np.asarray(self.class_weights, np.float32))
        distances = squared_bin_distances(y_true, bins)
        # The soft target is zero beyond k bins: gather k log-probabilities, never
        # build the (B, H, W, Q) target.
        indices, target = nearest_bins_ops(distances, self.neighbours, self.sigma)
        log_probs = ops.log_softmax(ops.cast(y_pred, "float32"), axis=-1)
        cross_entropy = -ops.sum(target * ops.take_along_axis(log_probs, indices, axis=-1), axis=-1)
        pixel_weight = ops.take(weights, indices[..., 0])  # the nearest bin's weight
        return ops.mean(pixel_weight * cross_entropy, axis=(1, 2))

    def get_config(self):
        return {**super().get_config(), "bins": self.bins, "weights": self.class_weights,
                "neighbours": self.neighbours, "sigma": self.sigma}


@keras.saving.register_keras_serializable(package="colorkeras")
class ConfidenceLoss(keras.losses.Loss):
    """MSE of tanh(output[..., :2]) against normalised ab, plus ``weight`` times the
    Gaussian negative log-likelihood of the squared error under the predicted
    log-variance output[..., 2]. The error is held constant in the second term
    (stop-gradient), so the ab head is fitted by MSE alone and the variance head learns
    E[error^2 | L] (see `colorkeras.training.objectives.Confidence`)."""

    def __init__(self, weight=0.1, name="confidence_loss", **kwargs):
        super().__init__(name=name, **kwargs)
        self.weight = weight

    def call(self, y_true, y_pred):
        y_true, y_pred = ops.cast(y_true, "float32"), ops.cast(y_pred, "float32")
        ab = ops.tanh(y_pred[..., :2])
        squared = ops.mean(ops.square(ab - y_true), axis=-1)
        log_variance = ops.clip(y_pred[..., 2], -12.0, 4.0)
        nll = ops.stop_gradient(squared) * ops.exp(-log_variance) + log_variance
        return ops.mean(squared, axis=(1, 2)) + self.weight * ops.mean(nll, axis=(1, 2))

    def get_config(self):
        return {**super().get_config(), "weight": self.weight}
