"""Image-quality metrics of a colorization, each defined once (README, "Metrics").

The definitions are fixed so that our numbers compare with the study's table:

* ``psnr`` and ``ssim`` on sRGB floats in [0, 1], computed after the predicted ab has been
  put on the *true* L (``color.predicted_ab_to_rgb``), so both images share their lightness;
* ``mse_ab`` on normalised ab (``ab / 127.5``), the study's MSE column;
* LPIPS v0.1 with the AlexNet trunk (the ``lpips`` package) on RGB scaled to [-1, 1],
  through ``LpipsScorer``, an optional dependency that says why it is unavailable;
* ``colorfulness`` (Hasler & Suesstrunk 2003) on 0-255 RGB, of prediction and truth.

``image_metrics`` / ``batch_metrics`` compute all of them from model-space tensors.
"""

from __future__ import annotations

import contextlib
import importlib.util
import io
import math
import sys
import warnings
from pathlib import Path

import numpy as np

from colorkeras import color

METRIC_NAMES = (
    "psnr",
    "ssim",
    "lpips",
    "mse",
    "colorfulness_pred",
    "colorfulness_true",
    "colorfulness_gap",
)


def _check_pair(pred: np.ndarray, true: np.ndarray, what: str) -> tuple[np.ndarray, np.ndarray]:
    pred = np.asarray(pred, dtype=np.float64)
    true = np.asarray(true, dtype=np.float64)
    if pred.shape != true.shape:
        raise ValueError(f"{what}: prediction {pred.shape} and truth {true.shape} differ in shape")
    return pred, true


def _check_unit_rgb_pair(pred_rgb, true_rgb, what: str) -> tuple[np.ndarray, np.ndarray]:
    pred, true = _check_pair(pred_rgb, true_rgb, what)
    if pred.ndim != 3 or pred.shape[-1] != 3:
        raise ValueError(f"{what}: expected one (H, W, 3) sRGB image, got shape {pred.shape}")
    return pred, true


def psnr(pred_rgb: np.ndarray, true_rgb: np.ndarray) -> float:
    """Peak signal-to-noise ratio in dB of two sRGB images, float in [0, 1], shape (H, W, 3).

    scikit-image's ``peak_signal_noise_ratio`` with ``data_range=1``, i.e.
    ``10 * log10(1 / mean((pred - true)^2))``; ``inf`` for identical images.
    """
    from skimage.metrics import peak_signal_noise_ratio

    pred, true = _check_unit_rgb_pair(pred_rgb, true_rgb, "psnr")
    if np.array_equal(pred, true):
        return math.inf  # skimage would divide by zero (and warn) to get the same answer
    return float(peak_signal_noise_ratio(true, pred, data_range=1.0))


def ssim(pred_rgb: np.ndarray, true_rgb: np.ndarray) -> float:
    """Structural similarity of two sRGB images, float in [0, 1], shape (H, W, 3).

    scikit-image's ``structural_similarity`` with ``channel_axis=-1, data_range=1`` (its
    defaults otherwise: 7x7 uniform window), the mean over the three channels. Images
    must be at least 7x7.
    """
    from skimage.metrics import structural_similarity

    pred, true = _check_unit_rgb_pair(pred_rgb, true_rgb, "ssim")
    return float(structural_similarity(true, pred, channel_axis=-1, data_range=1.0))


def mse_ab(pred_ab_norm: np.ndarray, true_ab_norm: np.ndarray) -> float:
    """Mean squared error of normalised ab (``ab / 127.5``, about [-1, 1]), any equal shapes.

    The study's MSE column (its training loss). Predicting ab = 0 (the grey floor) scores
    ``mean(true_ab_norm ** 2)``.
    """
    pred, true = _check_pair(pred_ab_norm, true_ab_norm, "mse_ab")
    return float(np.mean((pred - true) ** 2))


def colorfulness(rgb: np.ndarray) -> float:
    """Hasler & Suesstrunk (2003) colourfulness of one sRGB image, shape (H, W, 3).

    Computed on the 0-255 scale: uint8 input is used as is, float input must lie in
    [0, 1] and is multiplied by 255. With ``rg = R - G`` and ``yb = (R + G) / 2 - B``:
    ``sqrt(std_rg^2 + std_yb^2) + 0.3 * sqrt(mean_rg^2 + mean_yb^2)`` (population
    standard deviations). 0 for any grey image; roughly 15 "slightly", 33 "moderately",
    45 "quite" and 59 "highly" colourful in the paper's scale.
    """
    rgb = np.asarray(rgb)
    if rgb.ndim != 3 or rgb.shape[-1] != 3:
        raise ValueError(f"colorfulness: expected one (H, W, 3) RGB image, got shape {rgb.shape}")
    if rgb.dtype == np.uint8:
        values = rgb.astype(np.float64)
    elif np.issubdtype(rgb.dtype, np.floating):
        # A small tolerance: sRGB from lab2rgb can overshoot by rounding only.
        if rgb.size and (np.nanmin(rgb) < -1e-6 or np.nanmax(rgb) > 1.0 + 1e-6):
            raise ValueError(
                "colorfulness: float RGB must lie in [0, 1] "
                f"(got [{np.nanmin(rgb):.4g}, {np.nanmax(rgb):.4g}]); pass uint8 for 0-255 values"
            )
        values = rgb.astype(np.float64) * 255.0
    else:
        raise ValueError(f"colorfulness: expected uint8 or float RGB, got dtype {rgb.dtype}")
    red, green, blue = values[..., 0], values[..., 1], values[..., 2]
    rg = red - green
    yb = 0.5 * (red + green) - blue
    spread = math.sqrt(float(np.std(rg)) ** 2 + float(np.std(yb)) ** 2)
    mean = math.sqrt(float(np.mean(rg)) ** 2 + float(np.mean(yb)) ** 2)
    return spread + 0.3 * mean


# ------------------------------------------------------------------------------------
# LPIPS (optional: needs the lpips package, torch and torchvision)
# ------------------------------------------------------------------------------------
_ALEXNET_FILE = "alexnet-owt-7be5be79.pth"
# AlexNet's strides and pools leave no feature map below this side (found by trial).
LPIPS_MIN_SIZE = 31


def _keep_triton_out_after_tensorflow() -> None:
    """Make ``import triton`` fail cleanly instead of crashing once TensorFlow is loaded.

    TensorFlow >= 2.20 loads its statically linked LLVM into the global symbol table, and
    triton's libtriton, loaded afterwards, binds to it and crashes the interpreter
    (tensorflow/tensorflow#124205). torch and torchvision import triton only to offer it
    to ``torch.compile`` and treat an ImportError as "no triton"; LPIPS on the CPU never
    needs it. So where TensorFlow is resident and triton is not, triton is marked as
    unimportable for this process (an ImportError is better than a segfault).
    """
    if (
        "tensorflow" in sys.modules
        and "triton" not in sys.modules
        and importlib.util.find_spec("triton") is not None
    ):
        sys.modules["triton"] = None


class LpipsScorer:
    """LPIPS v0.1 with the AlexNet trunk (the ``lpips`` package), batched on the CPU.

    Scores pairs of sRGB images (float in [0, 1], (H, W, 3) or (N, H, W, 3), at least
    ``LPIPS_MIN_SIZE`` pixels on each side); they are scaled to [-1, 1] and passed as NCHW
    tensors without gradients. Lower is better.

    LPIPS is optional. When ``lpips``/``torch`` cannot be imported, or the AlexNet
    ImageNet weights (which torchvision downloads on first use) cannot be loaded, the
    scorer has ``available = False``, ``reason`` says why in one sentence, and calling it
    returns NaN - never a substitute number.

    Args:
        pretrained: True for the real metric (the package's calibrated linear layers on an
            ImageNet AlexNet). False builds the package's random-weight mode
            (``pretrained=False, pnet_rand=True``; no download), seeded, for tests only:
            its numbers are deterministic but mean nothing (random linear layers can
            even make them negative).
        batch_size: images per forward pass.
        hub_dir: folder torch keeps downloaded weights in (``checkpoints/`` inside it);
            None for torch's own (``$TORCH_HOME/hub``, by default ``~/.cache/torch/hub``).
            Put ``alexnet-owt-7be5be79.pth`` into ``<hub_dir>/checkpoints/`` on an
            offline machine.
        seed: torch seed of the random-weight mode (the global torch RNG is left as it was).
    """

    def __init__(self, pretrained: bool = True, batch_size: int = 16,
                 hub_dir: str | Path | None = None, seed: int = 0):
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        self.pretrained = bool(pretrained)
        self.batch_size = int(batch_size)
        self.available = False
        self.reason: str | None = None
        self._net = None
        if self.pretrained:
            self.description = "LPIPS v0.1, AlexNet (lpips package)"
        else:
            self.description = "LPIPS with random weights (test mode; not a real LPIPS value)"
        _keep_triton_out_after_tensorflow()
        try:
            import lpips
            import torch
        except Exception as error:  # noqa: BLE001 - any import failure means "not available"
            self.reason = (
                "LPIPS needs the optional packages lpips, torch and torchvision "
                f"(pip install 'colorkeras[lpips]'); importing them failed: {error}"
            )
            return
        self._torch = torch
        try:
            self._net = self._build(lpips, torch, hub_dir, seed)
        except Exception as error:  # noqa: BLE001 - a download or file error, told to the user
            where = Path(hub_dir) if hub_dir is not None else Path(torch.hub.get_dir())
            self.reason = (
                "LPIPS needs torchvision's ImageNet AlexNet weights, which could not be loaded "
                f"({type(error).__name__}: {error}); download "
                f"https://download.pytorch.org/models/{_ALEXNET_FILE} into "
                f"{where / 'checkpoints'} and evaluate again"
            )
            return
        self.available = True

    def _build(self, lpips, torch, hub_dir, seed):
        previous_hub_dir = getattr(torch.hub, "_hub_dir", None)
        if hub_dir is not None:
            torch.hub.set_dir(str(hub_dir))
        sink = io.StringIO()
        try:
            # lpips prints its set-up; torch.hub reports downloads on stderr; torchvision
            # warns that lpips uses its deprecated `pretrained=` argument. None of it
            # concerns the user of a metric.
            with contextlib.redirect_stdout(sink), contextlib.redirect_stderr(sink), \
                    warnings.catch_warnings(), torch.random.fork_rng(devices=[]):
                warnings.simplefilter("ignore")
                torch.manual_seed(seed)
                if self.pretrained:
                    net = lpips.LPIPS(net="alex", version="0.1", verbose=False)
                else:
                    net = lpips.LPIPS(net="alex", version="0.1", pretrained=False,
                                      pnet_rand=True, verbose=False)
        finally:
            if hub_dir is not None:
                torch.hub._hub_dir = previous_hub_dir
        return net.eval()

    def __call__(self, pred_rgb: np.ndarray, true_rgb: np.ndarray):
        """LPIPS distance of each pair: a float for (H, W, 3), an (N,) array for a batch."""
        pred, true = _check_pair(pred_rgb, true_rgb, "lpips")
        single = pred.ndim == 3
        if single:
            pred, true = pred[None], true[None]
        if pred.ndim != 4 or pred.shape[-1] != 3:
            raise ValueError(f"lpips: expected (H, W, 3) or (N, H, W, 3) sRGB, got shape {pred.shape}")
        if min(pred.shape[1:3]) < LPIPS_MIN_SIZE:
            raise ValueError(
                f"lpips: AlexNet needs images of at least {LPIPS_MIN_SIZE}x{LPIPS_MIN_SIZE} pixels, "
                f"got {pred.shape[1]}x{pred.shape[2]}"
            )
        if not self.available:
            out = np.full(len(pred), np.nan)
        else:
            torch = self._torch
            out = np.empty(len(pred))
            with torch.no_grad():
                for start in range(0, len(pred), self.batch_size):
                    stop = start + self.batch_size
                    a = torch.from_numpy(_to_lpips_input(pred[start:stop]))
                    b = torch.from_numpy(_to_lpips_input(true[start:stop]))
                    out[start:stop] = self._net(a, b).reshape(-1).numpy()
        return float(out[0]) if single else out


def _to_lpips_input(rgb: np.ndarray) -> np.ndarray:
    """(N, H, W, 3) sRGB in [0, 1] -> (N, 3, H, W) float32 in [-1, 1], as LPIPS expects."""
    return np.ascontiguousarray(np.transpose(rgb * 2.0 - 1.0, (0, 3, 1, 2)), dtype=np.float32)


# ------------------------------------------------------------------------------------
# All metrics of a prediction, from model-space tensors
# ------------------------------------------------------------------------------------
def batch_metrics(l_norm: np.ndarray, pred_ab_norm: np.ndarray, true_ab_norm: np.ndarray,
                  lpips_scorer: LpipsScorer | None = None) -> dict[str, np.ndarray]:
    """Every metric of METRIC_NAMES for a batch, one value per image.

    Args:
        l_norm: (N, H, W) or (N, H, W, 1) normalised L (``L / 50 - 1``), the true lightness.
        pred_ab_norm: (N, H, W, 2) predicted normalised ab (``ab / 127.5``).
        true_ab_norm: (N, H, W, 2) true normalised ab.
        lpips_scorer: an ``LpipsScorer``; without one (or an unavailable one) LPIPS is NaN.

    Returns:
        name -> (N,) float64 array. The prediction's RGB is its ab on the true L.
    """
    pred_ab, true_ab = _check_pair(pred_ab_norm, true_ab_norm, "batch_metrics")
    if pred_ab.ndim != 4 or pred_ab.shape[-1] != 2:
        raise ValueError(f"batch_metrics: expected ab of shape (N, H, W, 2), got {pred_ab.shape}")
    pred_rgb = color.predicted_ab_to_rgb(l_norm, pred_ab)
    true_rgb = color.predicted_ab_to_rgb(l_norm, true_ab)
    count = len(pred_ab)
    out = {name: np.empty(count) for name in METRIC_NAMES}
    for i in range(count):
        out["psnr"][i] = psnr(pred_rgb[i], true_rgb[i])
        out["ssim"][i] = ssim(pred_rgb[i], true_rgb[i])
        out["mse"][i] = mse_ab(pred_ab[i], true_ab[i])
        out["colorfulness_pred"][i] = colorfulness(pred_rgb[i])
        out["colorfulness_true"][i] = colorfulness(true_rgb[i])
    out["colorfulness_gap"] = out["colorfulness_pred"] - out["colorfulness_true"]
    if lpips_scorer is None:
        out["lpips"][:] = np.nan
    else:
        out["lpips"][:] = lpips_scorer(pred_rgb, true_rgb)
    return out


def image_metrics(l_norm: np.ndarray, pred_ab_norm: np.ndarray, true_ab_norm: np.ndarray,
                  lpips_scorer: LpipsScorer | None = None) -> dict[str, float]:
    """Every metric of METRIC_NAMES for one image: (H, W) L_norm, (H, W, 2) ab_norm pair.

    Same definitions as ``batch_metrics``; ``colorfulness_gap`` is prediction minus truth.
    """
    l_norm = np.asarray(l_norm)
    values = batch_metrics(l_norm[None], np.asarray(pred_ab_norm)[None],
                           np.asarray(true_ab_norm)[None], lpips_scorer)
    return {name: float(value[0]) for name, value in values.items()}
