"""A descriptor of a photo's L alone, to find similar photos for a grey one.

Used to pick a reference photo for each input (`colorkeras.inference.reference.ReferenceIndex`)
and, in training, to draw another photo's colours from among a photo's nearest
neighbours (`colorkeras.data.pairs`).
"""

from __future__ import annotations

import numpy as np

from colorkeras import color
from colorkeras.errors import InvalidArgument

TINY_SIDE = 16  # px, the descriptor's tiny image of L
HOG_SIDE = 64  # px, the L image the descriptor's HOG is computed on


def _unit(vector: np.ndarray) -> np.ndarray:
    norm = float(np.linalg.norm(vector))
    return vector / norm if norm > 1e-12 else vector


def l_descriptor(lightness) -> np.ndarray:
    """A unit-length descriptor of a photo's L alone (so a grey photo has one): the L image
    reduced to 16 x 16 (antialiased bilinear, stretched: layout, not aspect), made zero-mean
    and unit-norm, beside scikit-image's HOG of L at 64 x 64 (9 orientations, 16 px cells,
    2 x 2 cells per block: 324 values), unit-norm; the two halves weigh alike. A flat L has
    the zero descriptor (similarity 0 to everything)."""
    from skimage.feature import hog

    lightness = np.asarray(lightness, np.float32)
    if lightness.ndim != 2 or min(lightness.shape) < 1 or not np.all(np.isfinite(lightness)):
        raise InvalidArgument(f"a descriptor needs a finite 2-D L image, got shape {lightness.shape}")
    lightness = lightness[..., None]
    tiny = color.resize_ab(lightness, TINY_SIDE, TINY_SIDE)[..., 0].ravel().astype(np.float64)
    tiny = _unit(tiny - tiny.mean())
    square = color.resize_ab(lightness, HOG_SIDE, HOG_SIDE)[..., 0].astype(np.float64)
    gradients = hog(square, orientations=9, pixels_per_cell=(16, 16), cells_per_block=(2, 2),
                    feature_vector=True)
    return (np.concatenate([tiny, _unit(gradients)]) / np.sqrt(2.0)).astype(np.float32)


def nearest_rows(descriptors: np.ndarray, groups, count: int) -> np.ndarray:
    """For each row, the ``count`` most similar other rows of its own group (cosine of the
    descriptors; (N, count) int64, most similar first). A row whose group has fewer other
    rows repeats the ones there are; a row alone in its group gets itself."""
    descriptors = np.asarray(descriptors, np.float32)
    groups = np.asarray(groups, dtype=object).astype(str)
    nearest = np.repeat(np.arange(len(descriptors))[:, None], count, axis=1)
    for group in np.unique(groups):
        rows = np.flatnonzero(groups == group)
        if len(rows) < 2:
            continue
        similarity = descriptors[rows] @ descriptors[rows].T
        np.fill_diagonal(similarity, -np.inf)
        order = np.argsort(-similarity, axis=1, kind="stable")[:, : len(rows) - 1]
        picks = order[:, np.arange(count) % order.shape[1]]
        nearest[rows] = rows[picks]
    return nearest
