"""Alpha-matte quality metrics with the reference's scaling (MAM_SPEC §9).

These are the standard matting-benchmark error measures (Rhemann et al. 2009; the Adobe/DIM evaluation): SAD and
Grad and Conn are sums divided by 1000, MSE is a mean that tables report ×10³. All take alphas in [0, 1] (float) or
uint8 0–255, and an optional boolean `region` (e.g. a trimap's unknown area); without it the whole image counts, as
in MAM's own evaluation, which has no trimap.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage

GRAD_SIGMA = 1.4
CONN_STEP = 0.1
CONN_THETA = 0.15


def _as_unit(alpha: np.ndarray, name: str) -> np.ndarray:
    """Float64 alpha in [0, 1]: uint8 is divided by 255, floats must already be in range."""
    a = np.asarray(alpha)
    if a.ndim != 2:
        raise ValueError(f"{name} must be a 2-D H×W alpha, got shape {a.shape}")
    if a.dtype == np.uint8:
        return a.astype(np.float64) / 255.0
    if a.dtype == np.bool_:
        return a.astype(np.float64)
    a = a.astype(np.float64)
    if not np.all(np.isfinite(a)) or a.min(initial=0.0) < 0.0 or a.max(initial=0.0) > 1.0:
        raise ValueError(f"{name} must hold values in [0, 1] (or be uint8 0–255)")
    return a


def _prepare(pred: np.ndarray, gt: np.ndarray, region: np.ndarray | None):
    p = _as_unit(pred, "pred")
    g = _as_unit(gt, "gt")
    if p.shape != g.shape:
        raise ValueError(f"pred shape {p.shape} differs from gt shape {g.shape}")
    if region is None:
        r = np.ones(p.shape, dtype=bool)
    else:
        r = np.asarray(region, dtype=bool)
        if r.shape != p.shape:
            raise ValueError(f"region shape {r.shape} differs from alpha shape {p.shape}")
    return p, g, r


def sad(pred: np.ndarray, gt: np.ndarray, region: np.ndarray | None = None) -> float:
    """Sum of absolute differences / 1000."""
    p, g, r = _prepare(pred, gt, region)
    return float(np.abs(p - g)[r].sum() / 1000.0)


def mse(pred: np.ndarray, gt: np.ndarray, region: np.ndarray | None = None) -> float:
    """Mean squared error over the region, ×10³ (the unit the tables print)."""
    p, g, r = _prepare(pred, gt, region)
    n = int(r.sum())
    return float(((p - g) ** 2)[r].sum() / max(n, 1) * 1000.0)


def mad(pred: np.ndarray, gt: np.ndarray, region: np.ndarray | None = None) -> float:
    """Mean absolute difference over the region, ×10³."""
    p, g, r = _prepare(pred, gt, region)
    n = int(r.sum())
    return float(np.abs(p - g)[r].sum() / max(n, 1) * 1000.0)


def gaussian_derivative_kernel(sigma: float = GRAD_SIGMA) -> np.ndarray:
    """2-D kernel G(y)·G'(x), L2-normalised, truncated where the Gaussian falls below 1 % of its peak density.

    The half-size rule and the normalisation are those of the benchmark's gradient filter, so Grad values are
    comparable with published tables.
    """
    eps = 1e-2
    half = int(np.ceil(sigma * np.sqrt(-2.0 * np.log(np.sqrt(2.0 * np.pi) * sigma * eps))))
    u = np.arange(-half, half + 1, dtype=np.float64)
    g = np.exp(-(u**2) / (2.0 * sigma**2)) / (sigma * np.sqrt(2.0 * np.pi))
    dg = -u * g / sigma**2
    k = np.outer(g, dg)
    return k / np.sqrt(np.sum(k * k))


def gradient_magnitude(alpha: np.ndarray, sigma: float = GRAD_SIGMA) -> np.ndarray:
    """|∇α| from first-order Gaussian derivative filters (replicated borders)."""
    kx = gaussian_derivative_kernel(sigma)
    gx = ndimage.convolve(alpha, kx, mode="nearest")
    gy = ndimage.convolve(alpha, kx.T, mode="nearest")
    return np.sqrt(gx * gx + gy * gy)


def gradient_error(pred: np.ndarray, gt: np.ndarray, region: np.ndarray | None = None) -> float:
    """Σ (|∇pred| − |∇gt|)² / 1000, derivatives of Gaussian σ = 1.4."""
    p, g, r = _prepare(pred, gt, region)
    d = gradient_magnitude(p) - gradient_magnitude(g)
    return float((d * d)[r].sum() / 1000.0)


def _largest_component(binary: np.ndarray) -> np.ndarray:
    """The largest 4-connected component (ties: the first in raster order)."""
    labels, n = ndimage.label(binary)
    if n == 0:
        return np.zeros(binary.shape, dtype=bool)
    sizes = np.bincount(labels.ravel())
    sizes[0] = 0
    return labels == int(np.argmax(sizes))


def connectivity_error(
    pred: np.ndarray,
    gt: np.ndarray,
    region: np.ndarray | None = None,
    step: float = CONN_STEP,
    theta: float = CONN_THETA,
) -> float:
    """Σ |φ(pred) − φ(gt)| / 1000 with the benchmark's connectivity degree φ.

    For each threshold t, pixels that leave the largest component of (pred ≥ t) ∧ (gt ≥ t) get the level l = the
    previous threshold; φ = 1 − d·[d ≥ θ] with d = α − l.
    """
    p, g, r = _prepare(pred, gt, region)
    n_steps = int(round(1.0 / step))
    thresholds = np.linspace(0.0, 1.0, n_steps + 1)
    level = np.full(p.shape, -1.0)
    for i in range(1, len(thresholds)):
        omega = _largest_component((p >= thresholds[i]) & (g >= thresholds[i]))
        level[(level == -1.0) & ~omega] = thresholds[i - 1]
    level[level == -1.0] = 1.0
    dp = p - level
    dg = g - level
    phi_p = 1.0 - dp * (dp >= theta)
    phi_g = 1.0 - dg * (dg >= theta)
    return float(np.abs(phi_p - phi_g)[r].sum() / 1000.0)


def all_metrics(pred: np.ndarray, gt: np.ndarray, region: np.ndarray | None = None) -> dict[str, float]:
    """The four table metrics in one dict: SAD, MSE (×10³), Grad, Conn."""
    return {
        "SAD": sad(pred, gt, region),
        "MSE": mse(pred, gt, region),
        "Grad": gradient_error(pred, gt, region),
        "Conn": connectivity_error(pred, gt, region),
    }


def iou(a: np.ndarray, b: np.ndarray) -> float:
    """Intersection over union of two boolean masks (1.0 when both are empty)."""
    a = np.asarray(a, dtype=bool)
    b = np.asarray(b, dtype=bool)
    if a.shape != b.shape:
        raise ValueError(f"mask shapes differ: {a.shape} vs {b.shape}")
    union = int(np.logical_or(a, b).sum())
    return 1.0 if union == 0 else float(np.logical_and(a, b).sum() / union)
