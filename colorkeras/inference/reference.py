"""Colour from a reference photo without weights: reading a reference, two classical
transfers (the floor the learnt exemplar family must beat) and reference retrieval.

Every function here is NumPy, SciPy and scikit-image; none needs Keras or a model.

* ``read_reference`` / ``reference_lab``: a colour photo of any size -> CIE-LAB float32
  (``reference_inputs`` turns it into the exemplar family's normalised inputs),
  reduced to at most ``REFERENCE_MAX_SIDE`` px on its long side (a reference lends colour,
  which is low-frequency: 1024 px is plenty and keeps a 12 MP photo cheap). A reference
  with no colour is refused (``check_not_grey``): the 99th percentile of its chroma
  sqrt(a^2 + b^2) below ``GREY_CHROMA`` (3 LAB units; a JPEG of a grey photo stays near 1).
* ``global_transfer``: Reinhard-style global transfer for a grey target (below).
* ``welsh_transfer``: Welsh, Ashikhmin & Mueller 2002, "Transferring color to greyscale
  images" (global matching, no swatches), computed at ``WELSH_WORK_SIDE`` px at most.
* ``ReferenceIndex``: for each grey input, the most similar photo of a folder, by a
  descriptor of L only (``l_descriptor``), with cosine similarity.

Both transfers take the target's L (H, W) in [0, 100], at any size, and the reference's
LAB (h, w, 3), of its own size, and return the target's ab (H, W, 2), float32, LAB units.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from colorkeras import color
from colorkeras.data.descriptors import l_descriptor
from colorkeras.errors import ColorkerasError, InvalidArgument
from colorkeras.images import read_rgb, scan_images

GREY_CHROMA = 3.0  # LAB units: a reference whose chroma stays below this is grey
GREY_PERCENTILE = 99.0
REFERENCE_MAX_SIDE = 1024  # px, long side of a reference as it is used
WELSH_WORK_SIDE = 256  # px, long side at which welsh_transfer matches
WELSH_SAMPLES = 200  # jittered-grid samples of the reference (Welsh et al.: about 200)
WELSH_WINDOW = 5  # px, side of the neighbourhood whose standard deviation of L is a feature
GLOBAL_BINS = 32  # L bins of global_transfer (100 / 32 = 3.1 L units each)
GLOBAL_SMOOTHING = 1.0  # bins, sigma of the Gaussian across bins
LOOKUP_STEPS = 1000  # global_transfer looks ab up in steps of 0.1 L
INDEX_MAX_SIDE = 256  # px, long side at which photos are read into a ReferenceIndex


# ------------------------------------------------------------------------------------
# Reading and checking a reference
# ------------------------------------------------------------------------------------
def chroma_percentile(ab: np.ndarray, percentile: float = GREY_PERCENTILE) -> float:
    """The ``percentile``-th percentile of chroma sqrt(a^2 + b^2) of an (..., 2) ab field."""
    ab = np.asarray(ab, np.float32)
    return float(np.percentile(np.hypot(ab[..., 0], ab[..., 1]), percentile))


def check_not_grey(lab: np.ndarray, name: str = "the reference") -> np.ndarray:
    """``lab`` as it is, or InvalidArgument where it has no colour to lend (see the module
    docstring for the rule)."""
    chroma = chroma_percentile(np.asarray(lab)[..., 1:])
    if chroma < GREY_CHROMA:
        raise InvalidArgument(f"{name} is grey (its chroma stays below {GREY_CHROMA:g}: 99th percentile "
                              f"{chroma:.2f}); a reference must be a colour photo")
    return lab


def _shrink_rgb(rgb: np.ndarray, max_side: int | None) -> np.ndarray:
    """uint8 RGB reduced (Pillow bilinear, antialiased) so its long side is <= max_side."""
    height, width = rgb.shape[:2]
    if max_side is None or max(height, width) <= max_side:
        return rgb
    from PIL import Image

    scale = max_side / max(height, width)
    size = (max(1, round(width * scale)), max(1, round(height * scale)))
    return np.asarray(Image.fromarray(rgb).resize(size, Image.BILINEAR))


def reference_lab(rgb: np.ndarray, name: str = "the reference",
                  max_side: int | None = REFERENCE_MAX_SIDE) -> np.ndarray:
    """A colour photo (uint8 RGB, or float RGB in [0, 1]; any size) -> its LAB (h, w, 3)
    float32, reduced to at most ``max_side`` px on the long side (None: kept).

    Raises:
        InvalidArgument: not an (H, W, 3) image, or grey (``check_not_grey``).
    """
    rgb = np.asarray(rgb)
    if rgb.ndim != 3 or rgb.shape[-1] != 3 or min(rgb.shape[:2]) < 1:
        raise InvalidArgument(f"{name} must be an RGB image of shape (height, width, 3), got {rgb.shape}")
    if rgb.dtype != np.uint8:
        rgb = np.rint(np.clip(np.nan_to_num(rgb.astype(np.float32)), 0, 1) * 255).astype(np.uint8)
    return check_not_grey(color.rgb_to_lab(_shrink_rgb(rgb, max_side)), name)


def read_reference(path, max_side: int | None = REFERENCE_MAX_SIDE) -> np.ndarray:
    """The LAB (h, w, 3) float32 of a reference photo file (``reference_lab``).

    Raises:
        colorkeras.images.ImageReadError: the file cannot be read as an image.
        InvalidArgument: the photo is grey.
    """
    return reference_lab(read_rgb(path), name=f"the reference {os.fsdecode(path)}", max_side=max_side)


def reference_inputs(lab_reference, size: int) -> tuple[np.ndarray, np.ndarray]:
    """A reference's LAB (any size) as the exemplar family takes it: stretched to
    ``size`` x ``size`` (antialiased bilinear, as photos are squared for a model) and
    normalised: L (1, size, size, 1) and ab (1, size, size, 2) float32."""
    lab = _check_reference(lab_reference)
    square = color.resize_ab(lab, size, size)
    return color.normalize_l(square[None, ..., :1]), color.normalize_ab(square[None, ..., 1:])


# ------------------------------------------------------------------------------------
# Classical transfers
# ------------------------------------------------------------------------------------
def _check_target(lightness) -> np.ndarray:
    lightness = np.asarray(lightness, np.float32)
    if lightness.ndim != 2 or min(lightness.shape) < 1:
        raise InvalidArgument(f"the target's L must be a 2-D array (height, width), got shape {lightness.shape}")
    if not np.all(np.isfinite(lightness)):
        raise InvalidArgument("the target's L holds values that are not finite")
    return lightness


def _check_reference(lab) -> np.ndarray:
    lab = np.asarray(lab, np.float32)
    if lab.ndim != 3 or lab.shape[-1] != 3 or min(lab.shape[:2]) < 1:
        raise InvalidArgument(f"the reference must be LAB of shape (height, width, 3), got {lab.shape}")
    if not np.all(np.isfinite(lab)):
        raise InvalidArgument("the reference's LAB holds values that are not finite")
    return lab


def match_luminance(reference_l: np.ndarray, target_l: np.ndarray) -> np.ndarray:
    """The reference's L moved to the target's mean and standard deviation (Reinhard et al.
    2001; Welsh et al.'s luminance remapping), so that equal L means alike in both."""
    spread = float(reference_l.std())
    scale = float(target_l.std()) / spread if spread > 1e-6 else 0.0
    return (reference_l - float(reference_l.mean())) * scale + float(target_l.mean())


def _shrink(values: np.ndarray, max_side: int) -> np.ndarray:
    """(H, W, C) float reduced (antialiased bilinear) so its long side is <= max_side."""
    height, width = values.shape[:2]
    if max(height, width) <= max_side:
        return values
    scale = max_side / max(height, width)
    return color.resize_ab(values, max(1, round(height * scale)), max(1, round(width * scale)))


def global_transfer(l_target, lab_reference, bins: int = GLOBAL_BINS,
                    smoothing: float = GLOBAL_SMOOTHING) -> np.ndarray:
    """Reinhard-style global colour transfer in LAB to a grey target: ab (H, W, 2) float32.

    Exactly: (1) the reference's L is moved to the target's mean and standard deviation
    (``match_luminance``) and clipped to [0, 100]; (2) [0, 100] is cut into ``bins`` equal
    bins, and per bin the reference's pixel count and sums of a and b are taken; (3) counts
    and sums are smoothed across bins by a Gaussian of ``smoothing`` bins (edges held), and
    each bin's mean ab is sum / count; bins that hold (almost) no reference pixel take their
    ab by linear interpolation between the nearest filled bins (held constant beyond the
    first and last); (4) each target pixel gets the ab of its L, linearly interpolated
    between bin centres (read from a table in steps of 0.1 L). So dark target pixels take the colours of the reference's shadows
    and bright ones those of its highlights; a target with one L value gets the mean ab of
    the reference pixels of that L after remapping. Cost: O(reference + target pixels).
    """
    from scipy.ndimage import gaussian_filter1d

    lightness, lab = _check_target(l_target), _check_reference(lab_reference)
    if not isinstance(bins, int) or bins < 2:
        raise InvalidArgument(f"bins must be a whole number >= 2, got {bins!r}")
    remapped = np.clip(match_luminance(lab[..., 0], lightness), 0.0, 100.0).ravel()
    index = np.minimum((remapped * (bins / 100.0)).astype(np.int64), bins - 1)
    counts = np.bincount(index, minlength=bins).astype(np.float64)
    sums = [np.bincount(index, weights=lab[..., c].ravel().astype(np.float64), minlength=bins) for c in (1, 2)]
    if smoothing > 0:
        counts = gaussian_filter1d(counts, smoothing, mode="nearest")
        sums = [gaussian_filter1d(total, smoothing, mode="nearest") for total in sums]
    centres = (np.arange(bins) + 0.5) * (100.0 / bins)
    filled = counts > 1e-3 * max(1.0, counts.max())
    means = [np.interp(centres, centres[filled], total[filled] / counts[filled]) for total in sums]
    # Step (4) through a table of 0.1 L steps: one gather per pixel (0.1 s for 12 MP).
    levels = np.linspace(0.0, 100.0, LOOKUP_STEPS + 1)
    table = np.stack([np.interp(levels, centres, mean) for mean in means], axis=-1).astype(np.float32)
    return table[np.rint(np.clip(lightness, 0.0, 100.0) * (LOOKUP_STEPS / 100.0)).astype(np.int32)]


def _texture_features(lightness: np.ndarray, window: int) -> np.ndarray:
    """(H, W, 2): L and the standard deviation of L over a ``window`` x ``window``
    neighbourhood (mirrored at the borders)."""
    from scipy.ndimage import uniform_filter

    mean = uniform_filter(lightness, window, mode="reflect")
    mean_square = uniform_filter(lightness * lightness, window, mode="reflect")
    deviation = np.sqrt(np.maximum(mean_square - mean * mean, 0.0))
    return np.stack([lightness, deviation], axis=-1)


def jittered_grid(height: int, width: int, samples: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """About ``samples`` pixel positions (rows, cols): one at random in each cell of a grid
    of rows x cols cells (as square as the image allows, rows x cols ~ samples)."""
    rows = int(np.clip(round(np.sqrt(samples * height / width)), 1, height))
    cols = int(np.clip(round(samples / rows), 1, width))
    row_edges = np.linspace(0, height, rows + 1).astype(np.int64)
    col_edges = np.linspace(0, width, cols + 1).astype(np.int64)
    picked_rows = rng.integers(row_edges[:-1], np.maximum(row_edges[1:], row_edges[:-1] + 1))
    picked_cols = rng.integers(col_edges[:-1], np.maximum(col_edges[1:], col_edges[:-1] + 1))
    grid_rows, grid_cols = np.meshgrid(picked_rows, picked_cols, indexing="ij")
    return grid_rows.ravel(), grid_cols.ravel()


def welsh_transfer(l_target, lab_reference, samples: int = WELSH_SAMPLES, window: int = WELSH_WINDOW,
                   work_side: int = WELSH_WORK_SIDE, seed: int = 0) -> np.ndarray:
    """Welsh et al. 2002's global transfer to a grey target: ab (H, W, 2) float32.

    Exactly: the target's L and the reference's LAB are reduced (antialiased bilinear) to
    at most ``work_side`` px on their long sides (the bound: a 12 MP photo is matched at
    256 x 192); the reference's L is moved to the target's mean and standard deviation
    (``match_luminance``); every pixel of both gets the feature (L, standard deviation of L
    over ``window`` x ``window``), the two weighted 50/50 (plain Euclidean distance, as the
    paper); about ``samples`` reference pixels are drawn on a jittered grid (seeded by
    ``seed``); each target pixel takes the ab of the sample with the nearest feature
    (``scipy.spatial.cKDTree``); that ab field is brought to the target's size by a plain
    bilinear resize (the target keeps its own L: only ab is resized).
    """
    from scipy.spatial import cKDTree

    lightness, lab = _check_target(l_target), _check_reference(lab_reference)
    for name, value, least in (("samples", samples, 1), ("window", window, 1), ("work_side", work_side, 8)):
        if not isinstance(value, int) or isinstance(value, bool) or value < least:
            raise InvalidArgument(f"{name} must be a whole number >= {least}, got {value!r}")
    small = _shrink(lightness[..., None], work_side)[..., 0]
    reference = _shrink(lab, work_side)
    reference_l = match_luminance(reference[..., 0], small)
    rows, cols = jittered_grid(*reference.shape[:2], samples, np.random.default_rng(seed))
    sample_features = _texture_features(reference_l, window)[rows, cols]
    _, nearest = cKDTree(sample_features).query(_texture_features(small, window).reshape(-1, 2))
    ab_small = reference[rows, cols, 1:][nearest].reshape(*small.shape, 2)
    return color.resize_ab(ab_small, *lightness.shape)


# ------------------------------------------------------------------------------------
# Retrieval
# ------------------------------------------------------------------------------------
class ReferenceIndex:
    """Colour photos to choose a reference from, each kept as its name and ``l_descriptor``.

    ``best(l)`` names the photo most similar to a grey input by cosine similarity of the
    descriptors (in [-1, 1]); the photo's colours are read again when used
    (``read_reference``), so an index of thousands of photos holds only their descriptors.

    Args:
        names: the photos (paths, or any name for ``from_lightness``).
        descriptors: (N, D) unit-length descriptors, one row per name.
        skipped: (name, reason) for each photo left out (grey, unreadable, not an image).

    Raises:
        InvalidArgument: no photo is left (the message gives the count and a reason).
    """

    def __init__(self, names: list, descriptors: np.ndarray, skipped: list | None = None):
        self.names = list(names)
        self.skipped = list(skipped or [])
        if not self.names:
            first = f" (first: {self.skipped[0][0]}: {self.skipped[0][1]})" if self.skipped else ""
            raise InvalidArgument(f"no colour photo to take a reference from: {len(self.skipped)} skipped{first}")
        self.descriptors = np.asarray(descriptors, np.float32).reshape(len(self.names), -1)

    def __len__(self) -> int:
        return len(self.names)

    @classmethod
    def from_paths(cls, paths, left_out=()) -> "ReferenceIndex":
        """Read each photo (at most ``INDEX_MAX_SIDE`` px); a grey or unreadable one is
        listed in ``skipped`` with its reason, not fatal. ``left_out``: (path, reason)
        pairs already set aside (as ``scan_images`` reports them)."""
        names, descriptors, skipped = [], [], list(left_out)
        for path in paths:
            try:
                lab = reference_lab(read_rgb(path), name="the photo", max_side=INDEX_MAX_SIDE)
            except ColorkerasError as error:
                skipped.append((Path(path), getattr(error, "reason", None) or str(error)))
                continue
            names.append(Path(path))
            descriptors.append(l_descriptor(lab[..., 0]))
        return cls(names, np.stack(descriptors) if descriptors else np.zeros((0, 1)), skipped)

    @classmethod
    def from_folder(cls, folder) -> "ReferenceIndex":
        """Every image under ``folder`` (``colorkeras.images.scan_images``)."""
        try:
            found, left_out = scan_images(folder)
        except (FileNotFoundError, NotADirectoryError) as error:
            raise InvalidArgument(f"reference folder: {error}") from error
        return cls.from_paths(found, left_out)

    @classmethod
    def open(cls, photo_or_folder) -> "ReferenceIndex":
        """A folder's index (``from_folder``), or a one-photo index whose photo must be
        usable: there a grey or unreadable file is the error itself, not a skip."""
        path = Path(photo_or_folder)
        if path.is_dir():
            return cls.from_folder(path)
        lab = read_reference(path, max_side=INDEX_MAX_SIDE)
        return cls([path], l_descriptor(lab[..., 0])[None])

    @classmethod
    def from_lightness(cls, names, lightness_images) -> "ReferenceIndex":
        """An index of photos given as L images (a prepared dataset's split, say), named by
        ``names``; the caller vouches that they are colour photos."""
        images = list(lightness_images)
        descriptors = [l_descriptor(image) for image in images]
        return cls(list(names), np.stack(descriptors) if descriptors else np.zeros((0, 1)))

    def scores(self, lightness) -> np.ndarray:
        """Cosine similarity (N,) of every photo of the index to ``lightness``."""
        return self.descriptors @ l_descriptor(lightness)

    def best(self, lightness, exclude=None) -> tuple:
        """(name, score) of the most similar photo; ``exclude``: a name never chosen (the
        input itself, when it is in the index); ties go to the first in order."""
        scores = self.scores(lightness)
        if exclude is not None:
            scores = np.where([name == exclude for name in self.names], -np.inf, scores)
            if not np.isfinite(scores).any():
                raise InvalidArgument(f"the index holds no photo but {exclude}")
        row = int(np.argmax(scores))
        return self.names[row], float(scores[row])

    def best_batch(self, lightness_images, exclude=None) -> list[tuple]:
        """``best`` of each L image; ``exclude``: None, or one name (or None) per image."""
        images = list(lightness_images)
        excluded = [None] * len(images) if exclude is None else list(exclude)
        if len(excluded) != len(images):
            raise InvalidArgument(f"exclude names {len(excluded)} photos for {len(images)} images")
        return [self.best(image, skip) for image, skip in zip(images, excluded)]


# ------------------------------------------------------------------------------------
# The classical transfers as colorizers, and a reference for each input
# ------------------------------------------------------------------------------------
TRANSFER_SIZE = 256  # px: the classical colorizers work on L squared to this, as a model would


class TransferColorizer:
    """A classical transfer behind the `Predictor`, in the place of a model: it takes what
    the exemplar family takes (the target's L, the reference's L and ab, normalised, at
    ``image_size``) and returns normalised ab, so photos, films and evaluation run it
    through the same full-resolution path (chroma upsampling onto the photo's own L).

    Args:
        name: ``"global"`` (`global_transfer`) or ``"welsh"`` (`welsh_transfer`).
        image_size: the side it works at.
    """

    takes_reference = True
    output_channels = 2
    family = "transfer"

    def __init__(self, name: str, image_size: int = TRANSFER_SIZE):
        if name not in TRANSFERS:
            raise InvalidArgument(f"unknown transfer {name!r}; expected one of {', '.join(TRANSFERS)}")
        self.name = name
        self.image_size = int(image_size)
        self.transfer = TRANSFERS[name]

    def predict_on_batch(self, inputs) -> np.ndarray:
        """[L (N, S, S, 1), reference L (N, S, S, 1), reference ab (N, S, S, 2)], all
        normalised -> normalised ab (N, S, S, 2)."""
        target_l, reference_l, reference_ab = (np.asarray(array, np.float32) for array in inputs)
        out = []
        for lightness, ref_l, ref_ab in zip(target_l, reference_l, reference_ab):
            lab = np.concatenate([color.denormalize_l(ref_l), color.denormalize_ab(ref_ab)], axis=-1)
            out.append(color.normalize_ab(self.transfer(color.denormalize_l(lightness[..., 0]), lab)))
        return np.stack(out).astype(np.float32)


TRANSFERS = {"global": global_transfer, "welsh": welsh_transfer}


def is_transfer_name(name) -> bool:
    """Whether ``name`` (a command-line item, say) names a classical transfer: "global" or
    "welsh", and no file or folder of that name is there."""
    return isinstance(name, str) and name in TRANSFERS and not Path(name).exists()


class ReferenceChooser:
    """The reference photo for each input: the one photo given, or the most similar photo
    of a folder (``ReferenceIndex``), read once and kept by name.

    Args:
        photo_or_folder: a colour photo, or a folder of them (grey or unreadable photos in
            it are left out and listed in ``skipped``).

    Raises:
        InvalidArgument: a grey photo, or a folder without a usable one.
        colorkeras.images.ImageReadError: a photo that cannot be read.
    """

    def __init__(self, photo_or_folder):
        self.source = Path(photo_or_folder)
        self.index = ReferenceIndex.open(self.source)
        self.skipped = self.index.skipped
        self.cache: dict = {}

    @property
    def retrieves(self) -> bool:
        """Whether a choice depends on the input (a folder of several photos)."""
        return len(self.index) > 1

    def choose(self, lightness=None) -> tuple[Path, float, np.ndarray]:
        """(reference path, similarity, its LAB) for an input of L ``lightness`` (H, W);
        with one photo, that photo (``lightness`` is not needed)."""
        name, score = self.index.best(lightness) if self.retrieves else (self.index.names[0], 1.0)
        if name not in self.cache:
            self.cache = {name: read_reference(name)}  # one reference in memory at a time
        return name, score, self.cache[name]


def open_reference(reference):
    """What a caller may give as a reference, ready to use: None as is, a LAB array as
    is, a `ReferenceChooser` as is, a photo or folder path as its `ReferenceChooser`."""
    if reference is None or isinstance(reference, (np.ndarray, ReferenceChooser)):
        return reference
    return ReferenceChooser(reference)
