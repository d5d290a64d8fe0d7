"""MAM's progressive fusion of the three M2M alphas with SAM's mask (MAM_SPEC §6), at full resolution."""
from __future__ import annotations

from typing import Callable

import cv2
import numpy as np

GUIDANCES = ("alpha", "mask")
_LOW = 1.0 / 255.0
_HIGH = 1.0 - 1.0 / 255.0


def _kernel(width: int) -> np.ndarray:
    size = width // 2
    return cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (size, size))


def unknown_from_pred(alpha: np.ndarray, width: int) -> np.ndarray:
    """U_pred: where alpha is not clearly background, grown by the kernel, minus the clearly-opaque pixels."""
    u = cv2.dilate((alpha >= _LOW).view(np.uint8), _kernel(width))
    np.copyto(u, 0, where=alpha > _HIGH)
    return u.view(bool)


def unknown_from_mask(mask: np.ndarray, width: int) -> np.ndarray:
    """U_mask: a thin band just outside the mask (1 everywhere except the mask and the eroded background)."""
    m = mask.astype(np.uint8)
    eroded_bg = cv2.erode(1 - m, _kernel(width))
    return (m == 0) & (eroded_bg == 0)


def outside_box(mask: np.ndarray) -> np.ndarray:
    """Box(M): True everywhere except inside M's tight box, whose max row/column are exclusive (as in the reference)."""
    out = np.ones(mask.shape, dtype=bool)
    # Rows and columns that hold a mask pixel, not np.nonzero's two int64 index arrays (192 MB on a full 12-MP mask).
    ys = np.flatnonzero(mask.any(axis=1))
    if ys.size:
        xs = np.flatnonzero(mask.any(axis=0))
        out[ys[0] : ys[-1], xs[0] : xs[-1]] = False
    return out


def fuse(
    alpha_os8: np.ndarray, alpha_os4: np.ndarray, alpha_os1: np.ndarray, post_mask: np.ndarray, guidance: str = "alpha"
) -> np.ndarray:
    """The final H×W float32 alpha from the three full-size alphas and SAM's full-size binary mask."""
    alphas = (alpha_os8, alpha_os4, alpha_os1)
    return fuse_from(lambda index, rows, cols: alphas[index][rows, cols], post_mask, guidance)


def fuse_from(read: Callable[[int, slice, slice], np.ndarray], post_mask: np.ndarray,
              guidance: str = "alpha") -> np.ndarray:
    """`fuse`, reading each M2M alpha (0: os8, 1: os4, 2: os1) only over the bounding box of the pixels it is
    copied to: `read(index, rows, cols)` returns that block. The caller upsamples one alpha at a time, and none
    beyond the box fusion reads (os8 outside M's box is never read). The same numbers as `fuse` on full arrays,
    whatever `read` computes outside the boxes."""
    if guidance not in GUIDANCES:
        raise ValueError(f"unknown guidance {guidance!r}; choose one of {', '.join(GUIDANCES)}")
    alpha = post_mask.astype(np.float32)
    if guidance == "alpha":
        # os8 inside M's tight box (max row/column exclusive, as in the reference), the mask outside it.
        inside = ~outside_box(post_mask)
    else:
        inside = unknown_from_mask(post_mask, 10)
    _paste(alpha, inside, read, 0)
    # copyto(where=) writes the same values as boolean indexing without gathering them into temporaries first.
    _paste(alpha, unknown_from_pred(alpha, 20), read, 1)
    _paste(alpha, unknown_from_pred(alpha, 10), read, 2)
    return alpha


def _paste(alpha: np.ndarray, region: np.ndarray, read: Callable[[int, slice, slice], np.ndarray], index: int) -> None:
    """alpha[region] = alpha number `index`, read over the region's bounding box only. (Reading it in 256-px blocks
    that hold region pixels was measured too: 3–6 s instead of 0.3–0.6 s on a 12-MP window when other processes
    share the cores, hundreds of small torch calls each paying the thread pool's hand-offs: docs/BENCHMARKS.md.)"""
    ys = np.flatnonzero(region.any(axis=1))
    if ys.size == 0:
        return
    xs = np.flatnonzero(region.any(axis=0))
    rows, cols = slice(int(ys[0]), int(ys[-1]) + 1), slice(int(xs[0]), int(xs[-1]) + 1)
    np.copyto(alpha[rows, cols], read(index, rows, cols), where=region[rows, cols])
