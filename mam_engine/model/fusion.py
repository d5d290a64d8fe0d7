"""MAM's progressive fusion of the three M2M alphas with SAM's mask (MAM_SPEC §6), at full resolution."""
from __future__ import annotations

from typing import Callable

import cv2
import numpy as np

GUIDANCES = ("alpha", "mask")
_LOW = 1.0 / 255.0
_HIGH = 1.0 - 1.0 / 255.0
# fuse_from reads the M2M alphas in blocks of this side that hold pixels fusion copies.
READ_BLOCK = 256


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
    copied to: `read(index, rows, cols)` returns that block. On a large canvas with a trained M2M the os4 and os1
    regions are bands around the edge, so the caller upsamples a fraction of the window. The same numbers as
    `fuse` on full arrays, whatever `read` computes outside the boxes."""
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
    """alpha[region] = alpha number `index`, read in READ_BLOCK² blocks that hold region pixels, each cut to the
    region's box inside it (a ring's bounding box is the whole subject; its blocks are not)."""
    h, w = region.shape
    for y in range(0, h, READ_BLOCK):
        for x in range(0, w, READ_BLOCK):
            block = region[y : y + READ_BLOCK, x : x + READ_BLOCK]
            ys = np.flatnonzero(block.any(axis=1))
            if ys.size == 0:
                continue
            xs = np.flatnonzero(block.any(axis=0))
            rows = slice(y + int(ys[0]), y + int(ys[-1]) + 1)
            cols = slice(x + int(xs[0]), x + int(xs[-1]) + 1)
            np.copyto(alpha[rows, cols], read(index, rows, cols), where=region[rows, cols])
