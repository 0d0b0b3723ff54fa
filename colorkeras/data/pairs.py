"""Self-supervised training pairs for the exemplar family: a reference for each target.

The exemplar family (``colorkeras.models.exemplar``) learns to take colour from a reference
photo; no one has to supply references, because a prepared dataset holds its own. For
each target (a row of a split, as the readers crop it) the reference is, in a stated mix:

* with probability ``same_fraction`` (default 0.5), **the same photo under strong
  geometric change** (``random_view``): a random resized crop of 0.3 to 1 of its area,
  aspect 3:4 to 4:3, mirrored left-right half of the time, rotated by up to +-10 degrees
  (borders mirrored), resized to the training size: the colours are the truth's, in other
  places, so the model must find them;
* otherwise **another photo of the same class** (the prepared dataset's class labels, say
  ``camvid-street:street``), whole, mirrored half of the time: colours of the same kind
  of scene, as a retrieved reference gives them at inference. A class with one photo
  falls back to the same photo under change.

Everything is NumPy and scikit-image on the stored uint8 arrays, and seeded: each row's
reference comes from its own generator, seeded by (seed, row) and, in training, by its
place in the batch and the batch's first rows too (a new reference each time the row is
drawn in a new order); with
``fixed`` (validation) by (seed, row) alone, so every validation image keeps one
reference across epochs and runs.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from colorkeras import color
from colorkeras.errors import InvalidArgument

SAME_FRACTION = 0.5
SCALE_RANGE = (0.3, 1.0)  # area of the crop, as a fraction of the photo's
ASPECT_RANGE = (3 / 4, 4 / 3)
MAX_ROTATION = 10.0  # degrees, either way


def random_view(l_stored: np.ndarray, ab_stored: np.ndarray, size: int, rng: np.random.Generator,
                scale=SCALE_RANGE, aspect=ASPECT_RANGE, max_rotation: float = MAX_ROTATION,
                flip: bool = True) -> np.ndarray:
    """One stored photo (L (H, W), ab (H, W, 2), uint8) seen anew: (size, size, 3) float32
    in stored units (L then ab), by one affine warp (bilinear, borders mirrored).

    The view is a box of ``scale`` (drawn uniformly) of the photo's area and ``aspect``
    (drawn log-uniformly) at a random place where it fits, mirrored with probability 0.5
    where ``flip``, turned by an angle drawn uniformly in +-``max_rotation`` degrees about
    its centre, and resized to ``size``. ``scale=(1, 1), aspect=(1, 1), max_rotation=0``
    is the whole photo."""
    from skimage.transform import AffineTransform, warp

    height, width = l_stored.shape
    area = rng.uniform(*scale) * height * width
    ratio = math.exp(rng.uniform(math.log(aspect[0]), math.log(aspect[1])))
    box_w, box_h = min(width, math.sqrt(area * ratio)), min(height, math.sqrt(area / ratio))
    centre_x = rng.uniform(box_w / 2, width - box_w / 2)
    centre_y = rng.uniform(box_h / 2, height - box_h / 2)
    mirror = -1.0 if flip and rng.random() < 0.5 else 1.0
    angle = math.radians(rng.uniform(-max_rotation, max_rotation))
    half = (size - 1) / 2
    cos, sin = math.cos(angle), math.sin(angle)
    # Output pixel (col, row) -> input (col, row): centre on the output, scale to the box
    # (mirrored), turn, move to the box's centre (pixel centres at +0.5).
    to_box = np.array([[mirror * box_w / size, 0, 0], [0, box_h / size, 0], [0, 0, 1]])
    turn = np.array([[cos, -sin, 0], [sin, cos, 0], [0, 0, 1]])
    matrix = (np.array([[1, 0, centre_x - 0.5], [0, 1, centre_y - 0.5], [0, 0, 1]]) @ turn @ to_box
              @ np.array([[1, 0, -half], [0, 1, -half], [0, 0, 1]]))
    stacked = np.concatenate([l_stored[..., None], ab_stored], axis=-1).astype(np.float32)
    return warp(stacked, AffineTransform(matrix=matrix), output_shape=(size, size), order=1, mode="symmetric",
                preserve_range=True).astype(np.float32)


@dataclass
class ReferencePool:
    """The photos references are drawn from: one split's stored arrays and class labels.

    Args:
        l_array: stored L (N, H, W) uint8.
        ab_array: stored ab (N, H, W, 2) uint8.
        labels: the class of each row (N names).
    """

    l_array: np.ndarray
    ab_array: np.ndarray
    labels: list

    def __post_init__(self):
        if not len(self.l_array) == len(self.ab_array) == len(self.labels):
            raise InvalidArgument(f"a reference pool needs one class label per photo: {len(self.l_array)} L, "
                                  f"{len(self.ab_array)} ab, {len(self.labels)} labels")
        names, codes = np.unique(np.asarray(self.labels, dtype=object).astype(str), return_inverse=True)
        self._rows_of_class = [np.flatnonzero(codes == code) for code in range(len(names))]
        self._class_of_row = codes

    @classmethod
    def from_dataset(cls, dataset, split: str) -> "ReferencePool":
        """A prepared dataset's split (``colorkeras.data.pipeline.PreparedDataset``)."""
        l_array, ab_array = dataset.arrays(split)
        return cls(l_array, ab_array, dataset.labels(split))

    def same_class(self, row: int, rng: np.random.Generator) -> int | None:
        """Another row of ``row``'s class, drawn uniformly; None where it is alone."""
        rows = self._rows_of_class[self._class_of_row[row]]
        if len(rows) < 2:
            return None
        pick = int(rng.integers(len(rows) - 1))
        return int(rows[pick + (rows[pick] >= row)])  # every row of the class but ``row`` itself

    def reference(self, row: int, size: int, rng: np.random.Generator,
                  same_fraction: float = SAME_FRACTION) -> tuple[np.ndarray, bool]:
        """(size, size, 3) stored-unit view of ``row``'s reference, and whether it is the
        same photo (see the module docstring for the mix)."""
        other = None if rng.random() < same_fraction else self.same_class(row, rng)
        if other is None:
            return random_view(self.l_array[row], self.ab_array[row], size, rng), True
        whole = {"scale": (1.0, 1.0), "aspect": (1.0, 1.0), "max_rotation": 0.0}
        return random_view(self.l_array[other], self.ab_array[other], size, rng, **whole), False


def reference_batch(pool: ReferencePool, rows, size: int, seed: int, fixed: bool = False,
                    same_fraction: float = SAME_FRACTION) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The references of a batch of targets (rows of the pool's split), normalised as the
    exemplar family takes them: reference L (B, size, size, 1) and ab (B, size, size, 2)
    float32, and whether each is the same photo (B,) bool.

    Args:
        rows: the targets' rows, in batch order.
        seed: the run's seed.
        fixed: one reference per row whatever the batch (validation); else a new one each
            time the row comes in a new batch order (training).
        same_fraction: the share of same-photo references (0 to 1).
    """
    if not 0.0 <= same_fraction <= 1.0:
        raise InvalidArgument(f"same_fraction must lie in [0, 1], got {same_fraction!r}")
    rows = np.asarray(rows, np.int64)
    batch_key = [] if fixed else [len(rows), *rows[:4].tolist()]
    views, same = [], []
    for position, row in enumerate(rows.tolist()):
        key = [seed, 19, row] if fixed else [seed, 19, row, position, *batch_key]
        view, is_same = pool.reference(row, size, np.random.default_rng(key), same_fraction)
        views.append(view)
        same.append(is_same)
    stacked = np.stack(views) if views else np.zeros((0, size, size, 3), np.float32)
    l_norm, ab_norm = color.stored_to_normalized(stacked[..., :1], stacked[..., 1:])
    return l_norm, ab_norm, np.asarray(same, bool)
