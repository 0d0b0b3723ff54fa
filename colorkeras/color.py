"""The one place for colour maths: sRGB <-> CIE-LAB (D65), normalisation, storage, merging.

Forms that agree:

* a NumPy form used for data preparation, metrics, colorize and video. ``rgb_to_lab`` is
  scikit-image (float64 inside); the per-frame hot paths are float32 NumPy:
  ``rgb_to_l`` of uint8 RGB through a 256-entry table of linearised sRGB, and
  ``lab_to_rgb`` / ``merge_l_ab``. They agree with scikit-image to |dL| < 0.01 and
  |dRGB| < 1e-4 (uint8: at most one level), which tests/test_color.py checks over the
  whole 8-bit cube and random and out-of-gamut LAB;
* a ``keras.ops`` form (``rgb_to_lab_ops`` / ``lab_to_rgb_ops``) usable inside models,
  losses and metrics on any Keras backend.

The float32 NumPy form and the keras.ops form are one piece of maths written once
against an array namespace (``numpy`` or ``keras.ops``: both have where, power,
maximum, matmul, stack and clip).

The study's normalisation is kept exactly: ``L / 50 - 1`` and ``ab / 127.5``.
"""

from __future__ import annotations

import functools

import numpy as np

# --- The study's normalisation (reference/seed_results.md) ---------------------------
L_SCALE = 50.0  # L in [0, 100] -> L / 50 - 1 in [-1, 1]
AB_SCALE = 127.5  # ab in about [-128, 127] -> ab / 127.5 in about [-1, 1]

# --- Storage precision of prepared datasets ------------------------------------------
# Prepared L and ab are stored as uint8. L uses the full [0, 100] range: step 100/255,
# worst rounding error 0.196. The sRGB gamut's ab lies inside a in [-86.2, 98.3] and
# b in [-107.9, 94.5], so [-108, 99] covers it: step 207/255, worst error 0.406 < 0.5.
# uint8 keeps a 256x256 image at 192 KiB (SUN397 urban-32: about 2.4 GiB), half of
# float16, and is read straight into the pipeline.
AB_STORAGE_MIN = -108.0
AB_STORAGE_MAX = 99.0
_L_STEP = 100.0 / 255.0
_AB_STEP = (AB_STORAGE_MAX - AB_STORAGE_MIN) / 255.0

# --- CIE constants, identical to scikit-image's so both forms agree ---------------------
D65_WHITE = np.array([0.95047, 1.0, 1.08883], dtype=np.float64)
XYZ_FROM_RGB = np.array(
    [
        [0.412453, 0.357580, 0.180423],
        [0.212671, 0.715160, 0.072169],
        [0.019334, 0.119193, 0.950227],
    ],
    dtype=np.float64,
)
RGB_FROM_XYZ = np.linalg.inv(XYZ_FROM_RGB)
_EPSILON = 0.008856  # (6/29)^3, where the cube root meets the linear segment
_KAPPA = 7.787


# ====================================================================================
# NumPy / scikit-image form
# ====================================================================================
def _as_unit_rgb(rgb: np.ndarray) -> np.ndarray:
    rgb = np.asarray(rgb)
    if rgb.ndim < 3 or rgb.shape[-1] != 3:
        raise ValueError(f"Expected RGB with a last axis of 3, got shape {rgb.shape}")
    if rgb.dtype == np.uint8:
        return rgb.astype(np.float32) / 255.0
    return rgb.astype(np.float32)


def rgb_to_lab(rgb: np.ndarray) -> np.ndarray:
    """sRGB (uint8, or float in [0, 1]) of shape (..., 3) -> CIE-LAB float32 (D65)."""
    from skimage.color import rgb2lab

    return rgb2lab(_as_unit_rgb(rgb), illuminant="D65").astype(np.float32)


def lab_to_rgb(lab: np.ndarray) -> np.ndarray:
    """CIE-LAB (..., 3) -> sRGB float32 in [0, 1] (out-of-gamut colours are clipped).

    float32 NumPy (`_lab_to_srgb`); agrees with scikit-image's ``lab2rgb`` (clipped) to
    1e-4, including its clipping of negative Z.
    """
    lab = np.asarray(lab, dtype=np.float32)
    if lab.shape[-1:] != (3,):
        raise ValueError(f"Expected LAB with a last axis of 3, got shape {lab.shape}")
    return _lab_to_srgb(lab[..., 0], lab[..., 1], lab[..., 2], np)


@functools.cache
def _y_tables() -> np.ndarray:
    """(3, 256) float32: each 8-bit level's linearised sRGB times its channel's share of
    Y (the white's Y is 1)."""
    linear = _srgb_to_linear(np.arange(256, dtype=np.float64) / 255.0, np)
    return (XYZ_FROM_RGB[1][:, None] * linear[None, :]).astype(np.float32)


def rgb_to_l(rgb: np.ndarray) -> np.ndarray:
    """sRGB -> the L channel (..., H, W) in [0, 100]; a grey photo keeps its lightness.

    uint8 input: float32 through a table of linearised sRGB (|dL| < 0.01 against
    scikit-image); float input: scikit-image.
    """
    rgb = np.asarray(rgb)
    if rgb.dtype != np.uint8:
        return rgb_to_lab(rgb)[..., 0]
    if rgb.ndim < 3 or rgb.shape[-1] != 3:
        raise ValueError(f"Expected RGB with a last axis of 3, got shape {rgb.shape}")
    tables = _y_tables()
    y = tables[0][rgb[..., 0]]
    y += tables[1][rgb[..., 1]]
    y += tables[2][rgb[..., 2]]
    return 116.0 * _lab_f(y, np) - 16.0


def normalize_l(lightness):
    """L in [0, 100] -> model input in [-1, 1]. Works on NumPy arrays and tensors."""
    return lightness / L_SCALE - 1.0


def denormalize_l(l_norm):
    return (l_norm + 1.0) * L_SCALE


def normalize_ab(ab):
    """ab in about [-128, 127] -> the model's target range, about [-1, 1]."""
    return ab / AB_SCALE


def denormalize_ab(ab_norm):
    return ab_norm * AB_SCALE


def quantize_l(lightness: np.ndarray) -> np.ndarray:
    """L in [0, 100] -> uint8 for storage (worst error 0.196)."""
    return np.clip(np.rint(np.asarray(lightness) / _L_STEP), 0, 255).astype(np.uint8)


def quantize_ab(ab: np.ndarray) -> np.ndarray:
    """ab -> uint8 for storage over [AB_STORAGE_MIN, AB_STORAGE_MAX] (worst error 0.406)."""
    scaled = (np.asarray(ab) - AB_STORAGE_MIN) / _AB_STEP
    return np.clip(np.rint(scaled), 0, 255).astype(np.uint8)


def dequantize_l(l_uint8):
    """Stored uint8 L -> L in [0, 100]; takes a float array or tensor."""
    return l_uint8 * _L_STEP


def dequantize_ab(ab_uint8):
    """Stored uint8 ab -> ab; takes a float array or tensor."""
    return ab_uint8 * _AB_STEP + AB_STORAGE_MIN


def _stored_affine(normalize, dequantize) -> tuple[float, float]:
    """(scale, offset) of stored uint8 -> normalised value: the composition is affine."""
    offset = normalize(dequantize(0.0))
    return normalize(dequantize(1.0)) - offset, offset


# One multiply-add per value instead of dequantising and normalising in two passes.
STORED_L_AFFINE = _stored_affine(normalize_l, dequantize_l)
STORED_AB_AFFINE = _stored_affine(normalize_ab, dequantize_ab)


def stored_to_normalized(l_stored, ab_stored):
    """Stored L and ab -> normalised model input and target, as float32.

    NumPy arrays may stay uint8 (they are converted on the fly); tensors (tf.data, any
    Keras backend) must already be float.
    """
    return _apply_affine(l_stored, STORED_L_AFFINE), _apply_affine(ab_stored, STORED_AB_AFFINE)


def stored_to_normalized_ops(stored, affine):
    """Stored values (a uint8 tensor of any Keras backend) -> normalised float32, with
    keras.ops: the same multiply-add as ``stored_to_normalized``, run inside a compiled
    step. ``affine`` is ``STORED_L_AFFINE`` or ``STORED_AB_AFFINE``."""
    from keras import ops

    return _apply_affine(ops.cast(stored, "float32"), affine)


def _apply_affine(values, affine):
    scale, offset = affine
    if isinstance(values, np.ndarray):
        out = np.multiply(values, np.float32(scale), dtype=np.float32)
        out += np.float32(offset)
        return out
    return values * scale + offset


def resize_ab(ab: np.ndarray, height: int, width: int) -> np.ndarray:
    """Bilinear resize of an (h, w, 2) ab field to (height, width, 2), float32."""
    ab = np.asarray(ab, dtype=np.float32)
    if ab.shape[:2] == (height, width):
        return ab
    if height >= ab.shape[0] and width >= ab.shape[1]:
        import cv2

        # Enlarging: OpenCV's bilinear is Pillow's (same pixel centres, the edge held)
        # to 1e-3 ab, and several times faster on a video frame.
        return cv2.resize(ab, (width, height), interpolation=cv2.INTER_LINEAR).reshape(height, width, -1)
    from PIL import Image

    # Pillow's float ("F") resize is exact bilinear with antialiasing and far lighter on
    # memory than scikit-image for 24 MP photos.
    channels = [
        np.asarray(Image.fromarray(ab[..., c]).resize((width, height), Image.BILINEAR))
        for c in range(ab.shape[-1])
    ]
    return np.stack(channels, axis=-1).astype(np.float32)


def merge_l_ab(lightness: np.ndarray, ab: np.ndarray, rows_per_chunk: int = 512) -> np.ndarray:
    """Put an ab field (any size) on a full-resolution L channel and return sRGB uint8.

    Args:
        lightness: (H, W) L channel in [0, 100] at the photo's own resolution.
        ab: (h, w, 2) un-normalised ab; resized to (H, W) bilinearly.
        rows_per_chunk: LAB->RGB runs over row blocks so memory stays bounded for
            very large photos.
    """
    lightness = np.asarray(lightness, dtype=np.float32)
    if lightness.ndim != 2:
        raise ValueError(f"Expected a 2-D L channel, got shape {lightness.shape}")
    height, width = lightness.shape
    ab_full = resize_ab(ab, height, width)
    out = np.empty((height, width, 3), dtype=np.uint8)
    for top in range(0, height, rows_per_chunk):
        rows = slice(top, top + rows_per_chunk)
        rgb = _lab_to_srgb(lightness[rows], ab_full[rows, :, 0], ab_full[rows, :, 1], np)
        out[rows] = np.rint(rgb * 255.0)
    return out


def predicted_ab_to_rgb(l_norm: np.ndarray, ab_norm: np.ndarray) -> np.ndarray:
    """Model-space tensors -> sRGB float32 in [0, 1], batched.

    Args:
        l_norm: (..., H, W) or (..., H, W, 1) normalised L (the model input).
        ab_norm: (..., H, W, 2) normalised ab (the model output or the target).
    """
    l_norm = np.asarray(l_norm, dtype=np.float32)
    if l_norm.ndim == np.ndim(ab_norm):
        l_norm = l_norm[..., 0]
    lab = np.concatenate(
        [denormalize_l(l_norm)[..., None], denormalize_ab(np.asarray(ab_norm, np.float32))],
        axis=-1,
    )
    return lab_to_rgb(lab)


# ====================================================================================
# keras.ops form: the same maths for use inside models and metrics, on any backend
# ====================================================================================
def _float32(values, xp):
    if xp is np:
        return np.asarray(values, dtype=np.float32)
    return xp.convert_to_tensor(values, dtype="float32")


def _srgb_to_linear(rgb, xp):
    # The safe maximum keeps the unused branch finite so gradients stay NaN-free.
    return xp.where(rgb > 0.04045, xp.power(xp.maximum((rgb + 0.055) / 1.055, 1e-12), 2.4), rgb / 12.92)


def _linear_to_srgb(linear, xp):
    return xp.where(linear > 0.0031308,
                    1.055 * xp.power(xp.maximum(linear, 1e-12), 1.0 / 2.4) - 0.055,
                    12.92 * linear)


def _lab_f(t, xp):
    """XYZ / white -> the cube-root-like f of CIE-LAB."""
    return xp.where(t > _EPSILON, xp.power(xp.maximum(t, _EPSILON), 1.0 / 3.0), _KAPPA * t + 16.0 / 116.0)


def _lab_f_inverse(f, xp):
    return xp.where(f > _EPSILON ** (1.0 / 3.0), f * f * f, (f - 16.0 / 116.0) / _KAPPA)


def _lab_to_srgb(lightness, a, b, xp):
    """L, a, b (same shapes, float32) -> sRGB (..., 3) in [0, 1], clipped."""
    fy = (lightness + 16.0) / 116.0
    fx = fy + a / 500.0
    fz = xp.maximum(fy - b / 200.0, 0.0)  # as scikit-image: no negative Z
    xyz = _lab_f_inverse(xp.stack([fx, fy, fz], axis=-1), xp)
    matrix = _float32((RGB_FROM_XYZ * D65_WHITE[None, :]).T, xp)
    return xp.clip(_linear_to_srgb(xp.matmul(xyz, matrix), xp), 0.0, 1.0)


def rgb_to_lab_ops(rgb):
    """sRGB float in [0, 1], shape (..., 3) -> CIE-LAB (D65), with keras.ops."""
    from keras import ops

    linear = _srgb_to_linear(ops.convert_to_tensor(rgb, dtype="float32"), ops)
    matrix = _float32((XYZ_FROM_RGB / D65_WHITE[:, None]).T, ops)
    f = _lab_f(ops.matmul(linear, matrix), ops)  # xyz already divided by the reference white
    fx, fy, fz = f[..., 0], f[..., 1], f[..., 2]
    lightness = 116.0 * fy - 16.0
    return ops.stack([lightness, 500.0 * (fx - fy), 200.0 * (fy - fz)], axis=-1)


def lab_to_rgb_ops(lab):
    """CIE-LAB (..., 3) -> sRGB float in [0, 1] (clipped), with keras.ops."""
    from keras import ops

    lab = ops.convert_to_tensor(lab, dtype="float32")
    return _lab_to_srgb(lab[..., 0], lab[..., 1], lab[..., 2], ops)


def chroma_statistics_ops(ab, epsilon: float = 1e-6):
    """Per-image mean and standard deviation of the chroma sqrt(a^2 + b^2), with keras.ops.

    ``ab`` is (B, H, W, 2) in any consistent unit (normalised ab gives normalised chroma);
    returns two (B,) tensors. ``epsilon`` under the square root keeps the gradient finite
    at grey pixels (it adds at most sqrt(epsilon) to a chroma).
    """
    from keras import ops

    ab = ops.cast(ab, "float32")
    chroma = ops.sqrt(ops.sum(ops.square(ab), axis=-1) + epsilon)
    mean = ops.mean(chroma, axis=(1, 2))
    spread = ops.sqrt(ops.mean(ops.square(chroma - mean[:, None, None]), axis=(1, 2)) + epsilon)
    return mean, spread
