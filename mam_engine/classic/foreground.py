"""Foreground colour estimation (decontamination) for cut-outs.

In a semi-transparent pixel the photo holds α·F + (1 − α)·B: a naive cut-out keeps the old background's colour in
hair and soft edges, which shows as a halo on the new background. pymatting's multi-level estimator (Germer et al.
2020) recovers F from the image and the alpha. Only tiles that contain soft pixels are estimated, with a margin,
so memory stays bounded on large canvases; opaque and fully transparent pixels keep the photo's colours.
"""

from __future__ import annotations

import numpy as np

TILE = 1024
MARGIN = 64
# Alpha this close to 0 or 1 counts as opaque / transparent: nothing to decontaminate there.
SOFT_EPS = 1.0 / 255.0


def estimate_foreground(image: np.ndarray, alpha: np.ndarray) -> np.ndarray:
    """H×W×3 uint8 foreground colours for `image` (H×W×3 uint8) under `alpha` (H×W, floats in [0, 1])."""
    image = np.asarray(image)
    if image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
        raise ValueError(f"image must be an H×W×3 uint8 array, got {image.dtype} {image.shape}")
    a = np.asarray(alpha, dtype=np.float32)
    if a.shape != image.shape[:2]:
        raise ValueError(f"alpha shape {a.shape} differs from image size {image.shape[:2]}")
    if not np.all(np.isfinite(a)) or a.min(initial=0) < 0 or a.max(initial=0) > 1:
        raise ValueError("alpha must hold values in [0, 1]")
    from pymatting import estimate_foreground_ml

    out = image.copy()
    if a.size < 2:  # the estimator's pyramid needs at least two pixels; one pixel has no neighbours to learn from
        return out
    soft = (a > SOFT_EPS) & (a < 1.0 - SOFT_EPS)
    h, w = a.shape
    for y0 in range(0, h, TILE):
        for x0 in range(0, w, TILE):
            y1, x1 = min(h, y0 + TILE), min(w, x0 + TILE)
            sel = soft[y0:y1, x0:x1]
            if not sel.any():
                continue
            cy0, cy1, cx0, cx1 = max(0, y0 - MARGIN), min(h, y1 + MARGIN), max(0, x0 - MARGIN), min(w, x1 + MARGIN)
            crop = image[cy0:cy1, cx0:cx1].astype(np.float32) / 255.0
            fg = estimate_foreground_ml(crop, a[cy0:cy1, cx0:cx1])
            core = fg[y0 - cy0 : y1 - cy0, x0 - cx0 : x1 - cx0]
            rgb = np.clip(np.rint(core * 255.0), 0, 255).astype(np.uint8)
            out[y0:y1, x0:x1][sel] = rgb[sel]
    return out
