"""Model-size ab onto a full-resolution photo: plain resize, or a guided filter steered by L.

A colorizer predicts ab at its own size (256 x 256 for the study's models); a photo may
be 6000 x 4000. Resizing the ab field bilinearly (``method="resize"``,
`colorkeras.color.resize_ab`) lets colour bleed a few photo pixels across every object
edge, the more the larger the photo. ``method="guided"`` is the fast guided filter
(He & Sun, arXiv:1505.00996; the guided filter of He, Sun & Tang, ECCV 2010) with the
photo's own L as guide:

1. the guide L is reduced (area average) to the ab grid;
2. on that grid, in every (2r+1)^2 window, ab is fitted as a linear function of L:
   ``ab ~ a * L + b`` (a ridge fit, ``eps`` keeping ``a`` small where L is flat), and the
   coefficients are averaged over the windows that cover each pixel;
3. the coefficient maps ``a`` and ``b`` are resized bilinearly to the photo and applied to
   its full-resolution L: ``ab = a * L + b``;
4. one back-projection step: the result, reduced back to the grid (area average), is
   compared with the given ab and the difference is added to ``b`` before step 3 runs
   again. Where L is flat the window fit only averages ab; this puts the field's own
   detail back, so the output reduced to the grid stays the field it came from.

Where one low-resolution pixel straddles an edge its ab is a blend of the two sides and so
is its L; the fit recovers both sides, and the full-resolution L puts the boundary back
where the photo has it. Step 3 runs one output row at a time, so beyond the output ab
field the memory it takes is what the grid holds (tens of megabytes for a 6000 px wide
photo); its time grows linearly with the photo.
"""

from __future__ import annotations

import numpy as np

from colorkeras import color
from colorkeras.errors import InvalidArgument

METHODS = ("auto", "guided", "resize")

# "auto" chooses guided for photos at least this many times the ab grid on their long
# side, and a plain resize below. Measured in bench/README.md: guided cut the edge-band
# error by 57-63 % on toy-city photos 4-8x the grid, but was 8 % worse on camvid-street
# photos 1.9x the grid, whose own colour (JPEG, half resolution) has soft edges.
AUTO_GUIDED_FACTOR = 3.0

# The full-resolution step doubles L (one value per ab channel) for blocks of about this
# many pixels at a time (8 bytes a pixel: 0.5 MB).
_PIXELS_PER_BLOCK = 65_536

# Chosen on validation photos (toy-city scenes of seed 1 at 1024 px and 40 photos of
# camvid-street/train, ab from each photo resized to 256 px; bench/bench_upsample.py
# --tune), not on the measurement sets.
DEFAULT_RADIUS = 1  # window radius, in pixels of the ab grid (3 x 3 windows)
DEFAULT_EPS = 1e-3  # ridge term, in (L / 100)^2: an L step of about 3 units counts as an edge


def check_method(method) -> str:
    """``method`` if it is one of `METHODS`; else InvalidArgument."""
    if method not in METHODS:
        raise InvalidArgument(f"chroma upsampling must be one of {', '.join(METHODS)}; got {method!r}")
    return method


def resolve_auto(grid_shape, photo_shape) -> str:
    """What ``"auto"`` does for a photo of ``photo_shape`` (H, W) and ab of ``grid_shape``."""
    factor = max(photo_shape[:2]) / max(1, max(grid_shape[:2]))
    return "guided" if factor >= AUTO_GUIDED_FACTOR else "resize"


def upsample_ab(ab_small, lightness, method: str = "guided", *, radius: int = DEFAULT_RADIUS,
                eps: float = DEFAULT_EPS) -> np.ndarray:
    """An (h, w, 2) ab field -> (H, W, 2) float32 ab at the size of the (H, W) L channel.

    Args:
        ab_small: un-normalised ab at the model's size (any h x w; a field larger than
            L is first resized down to it).
        lightness: the photo's own L, (H, W) in [0, 100].
        method: ``"guided"`` (edges follow L; see the module), ``"resize"`` (bilinear,
            exactly `colorkeras.color.resize_ab`) or ``"auto"`` (`resolve_auto`).
        radius: guided only: window radius in pixels of the ab grid (>= 1).
        eps: guided only: ridge term in (L / 100)^2 (> 0); larger is closer to a resize.

    Raises:
        InvalidArgument: an unknown method, bad radius or eps, or arrays of the wrong shape.
    """
    check_method(method)
    ab = np.asarray(ab_small, dtype=np.float32)
    lum = np.asarray(lightness, dtype=np.float32)
    if method == "auto":
        method = resolve_auto(ab.shape[:2], lum.shape)
    if ab.ndim != 3 or ab.shape[-1] != 2 or 0 in ab.shape:
        raise InvalidArgument(f"expected an ab field of shape (h, w, 2), got {ab.shape}")
    if lum.ndim != 2 or 0 in lum.shape:
        raise InvalidArgument(f"expected a 2-D L channel, got shape {lum.shape}")
    height, width = lum.shape
    if method == "resize":
        return color.resize_ab(ab, height, width)
    if isinstance(radius, bool) or not isinstance(radius, (int, np.integer)) or radius < 1:
        raise InvalidArgument(f"radius must be an integer >= 1, got {radius!r}")
    if not eps > 0:
        raise InvalidArgument(f"eps must be > 0, got {eps!r}")
    import cv2

    coefficients = _guided_coefficients(ab, lum, int(radius), float(eps))
    out = _apply(coefficients, lum, np.empty((height, width, 2), dtype=np.float32))
    grid_h, grid_w = coefficients.shape[:2]
    if (grid_h, grid_w) != ab.shape[:2]:
        ab = color.resize_ab(ab, grid_h, grid_w)
    # Back-projection (step 4): what the grid lost in the fit goes back into b.
    coefficients[..., 2:] += ab - cv2.resize(out, (grid_w, grid_h), interpolation=cv2.INTER_AREA)
    return _apply(coefficients, lum, out)


def _guided_coefficients(ab: np.ndarray, lum: np.ndarray, radius: int, eps: float) -> np.ndarray:
    """(gh, gw, 4) float32 maps (a_a, a_b, b_a, b_b) with ab = a * L + b, on the ab grid.

    The grid is the ab field's, capped at L's size in each direction.
    """
    import cv2

    height, width = lum.shape
    grid_h, grid_w = min(ab.shape[0], height), min(ab.shape[1], width)
    if ab.shape[:2] != (grid_h, grid_w):
        ab = color.resize_ab(ab, grid_h, grid_w)
    guide = lum if (grid_h, grid_w) == (height, width) else \
        cv2.resize(lum, (grid_w, grid_h), interpolation=cv2.INTER_AREA)
    # Centred values keep the variances free of cancellation in float32.
    guide_mean = np.float32(guide.mean())
    ab_mean = ab.reshape(-1, 2).mean(axis=0, dtype=np.float64).astype(np.float32)
    guide = (guide - guide_mean) / np.float32(100.0)
    target = ab - ab_mean

    def box(values):
        return cv2.boxFilter(values, -1, (2 * radius + 1, 2 * radius + 1), normalize=True,
                             borderType=cv2.BORDER_REFLECT)

    mean_i = box(guide)
    var_i = box(guide * guide) - mean_i * mean_i
    mean_p = box(target)
    cov_ip = box(guide[..., None] * target) - mean_i[..., None] * mean_p
    a = cov_ip / (np.maximum(var_i, 0.0) + np.float32(eps))[..., None]
    b = mean_p - a * mean_i[..., None]
    a, b = box(a), box(b)
    # Back from centred, normalised guide to L in [0, 100]: ab = a/100 * L + (b - a*mean/100).
    slope = a / np.float32(100.0)
    offset = b - slope * guide_mean + ab_mean
    return np.ascontiguousarray(np.concatenate([slope, offset], axis=-1), dtype=np.float32)


def _linear_taps(source: int, target: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Bilinear taps (i0, i1, weight of i1) from ``source`` samples to ``target``, pixel centres aligned."""
    position = (np.arange(target, dtype=np.float64) + 0.5) * (source / target) - 0.5
    position = np.clip(position, 0.0, source - 1)
    lower = np.floor(position).astype(np.intp)
    upper = np.minimum(lower + 1, source - 1)
    return lower, upper, (position - lower).astype(np.float32)


def _along_x(maps: np.ndarray, x0: np.ndarray, x1: np.ndarray, wx: np.ndarray) -> np.ndarray:
    """(gh, gw, 2) maps -> (gh, W, 2), bilinear along x, with one temporary."""
    out = maps[:, x0]
    out *= 1.0 - wx
    upper = maps[:, x1]
    upper *= wx
    out += upper
    return out


def _apply(coefficients: np.ndarray, lum: np.ndarray, out: np.ndarray) -> np.ndarray:
    """``out`` (H, W, 2) := a * L + b at L's size, a and b resized bilinearly, a row at a time.

    Rows are laid out channel-interleaved (a_a, a_b, a_a, ...) like the output, so every
    step is one OpenCV pass over a contiguous row that stays in the cache.
    """
    import cv2

    height, width = lum.shape
    grid_h, grid_w = coefficients.shape[:2]
    x0, x1, wx = _linear_taps(grid_w, width)
    wx = wx[None, :, None]
    # Along x once for all grid rows: (gh, W * 2) for a and for b, small next to the photo.
    slopes, offsets = (_along_x(coefficients[..., pair], x0, x1, wx).reshape(grid_h, 2 * width)
                       for pair in (slice(0, 2), slice(2, 4)))
    y0, y1, wy = _linear_taps(grid_h, height)
    flat = out.reshape(height, 2 * width)
    step = max(1, _PIXELS_PER_BLOCK // width)
    lum_twice = np.empty((step, width, 2), np.float32)
    slope, offset = np.empty(2 * width, np.float32), np.empty(2 * width, np.float32)
    for top in range(0, height, step):
        n = min(step, height - top)
        lum_twice[:n] = lum[top : top + n, :, None]
        doubled = lum_twice.reshape(step, 2 * width)
        for i, y in enumerate(range(top, top + n)):
            weight = float(wy[y])
            cv2.addWeighted(slopes[y0[y]], 1.0 - weight, slopes[y1[y]], weight, 0.0, dst=slope)
            cv2.addWeighted(offsets[y0[y]], 1.0 - weight, offsets[y1[y]], weight, 0.0, dst=offset)
            row = flat[y]
            np.multiply(slope, doubled[i], out=row)
            row += offset
    return out
