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
    u = cv2.dilate((alpha >= _LOW).astype(np.uint8), _kernel(width))
    u[alpha > _HIGH] = 0
    return u.astype(bool)


def unknown_from_mask(mask: np.ndarray, width: int) -> np.ndarray:
    """U_mask: a thin band just outside the mask (1 everywhere except the mask and the eroded background)."""
    m = mask.astype(np.uint8)
    eroded_bg = cv2.erode(1 - m, _kernel(width))
    return (m == 0) & (eroded_bg == 0)


def outside_box(mask: np.ndarray) -> np.ndarray:
    """Box(M): True everywhere except inside M's tight box, whose max row/column are exclusive (as in the reference)."""
    out = np.ones(mask.shape, dtype=bool)
    ys, xs = np.nonzero(mask)
    if ys.size:
        out[ys.min() : ys.max(), xs.min() : xs.max()] = False
    return out


def fuse(
    alpha_os8: np.ndarray, alpha_os4: np.ndarray, alpha_os1: np.ndarray, post_mask: np.ndarray, guidance: str = "alpha"
) -> np.ndarray:
    """The final H×W float32 alpha from the three full-size alphas and SAM's full-size binary mask."""
    post = post_mask.astype(np.float32)
    if guidance == "alpha":
        alpha = alpha_os8.astype(np.float32, copy=True)
        region = outside_box(post_mask)
        np.copyto(alpha, post, where=region)
    elif guidance == "mask":
        alpha = post.copy()
        region = unknown_from_mask(post_mask, 10)
        np.copyto(alpha, alpha_os8, where=region)
    else:
        raise ValueError(f"unknown guidance {guidance!r}; choose one of {', '.join(GUIDANCES)}")
    # copyto(where=) writes the same values as boolean indexing without gathering them into temporaries first.
    np.copyto(alpha, alpha_os4, where=unknown_from_pred(alpha, 20))
    np.copyto(alpha, alpha_os1, where=unknown_from_pred(alpha, 10))
    return alpha
