"""MAM's progressive fusion of the three M2M alphas with SAM's mask (MAM_SPEC §6), at full resolution."""
from __future__ import annotations

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
    if guidance == "alpha":
        alpha = alpha_os8.astype(np.float32, copy=True)
        np.copyto(alpha, post_mask, where=outside_box(post_mask))  # bool → 0.0 / 1.0, without a float copy
    elif guidance == "mask":
        alpha = post_mask.astype(np.float32)
        region = unknown_from_mask(post_mask, 10)
        np.copyto(alpha, alpha_os8, where=region)
    else:
        raise ValueError(f"unknown guidance {guidance!r}; choose one of {', '.join(GUIDANCES)}")
    # copyto(where=) writes the same values as boolean indexing without gathering them into temporaries first.
    np.copyto(alpha, alpha_os4, where=unknown_from_pred(alpha, 20))
    np.copyto(alpha, alpha_os1, where=unknown_from_pred(alpha, 10))
    return alpha
