"""SAM-like coarse binary masks derived from a ground-truth alpha, for measuring refinement without model weights.

SAM's mask comes from 256×256 low-resolution logits upsampled to the image, so its edge is quantised to that grid
and carries no transparency. Real masks are also a few pixels too tight or too loose and can have small holes; the
variants below reproduce those failure modes so a refinement method is scored on each.
"""

from __future__ import annotations

import cv2
import numpy as np

SAM_GRID = 256
VARIANTS = ("grid", "eroded", "dilated", "holes")
# Edge offset of the eroded/dilated variants and radius of the holes, as fractions of the long side (6 px / 4 px at
# 800 px).
OFFSET_FRACTION = 0.0075
HOLE_FRACTION = 0.005
HOLES = 6


def grid_mask(gt_alpha: np.ndarray) -> np.ndarray:
    """Threshold at 0.5, area-downsample so the long side is SAM's 256-px grid, bilinear back, threshold at 0.5."""
    h, w = gt_alpha.shape
    scale = SAM_GRID / max(h, w)
    small_size = (max(1, round(w * scale)), max(1, round(h * scale)))
    fg = (gt_alpha > 0.5).astype(np.float32)
    small = cv2.resize(fg, small_size, interpolation=cv2.INTER_AREA)
    return cv2.resize(small, (w, h), interpolation=cv2.INTER_LINEAR) > 0.5


def _disk(radius: int) -> np.ndarray:
    return cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * radius + 1, 2 * radius + 1))


def coarse_mask(gt_alpha: np.ndarray, variant: str, seed: int = 0) -> np.ndarray:
    """One variant of the coarse mask (see VARIANTS); `seed` places the holes."""
    if variant not in VARIANTS:
        raise ValueError(f"unknown mask variant {variant!r}; choose one of {', '.join(VARIANTS)}")
    base = grid_mask(gt_alpha)
    long_side = max(gt_alpha.shape)
    offset = max(1, round(OFFSET_FRACTION * long_side))
    m = base.astype(np.uint8)
    if variant == "eroded":
        return cv2.erode(m, _disk(offset), borderValue=1).astype(bool)
    if variant == "dilated":
        return cv2.dilate(m, _disk(offset)).astype(bool)
    if variant == "holes":
        radius = max(1, round(HOLE_FRACTION * long_side))
        # Holes sit well inside the mask so they are not just a bumpy edge.
        inside = np.argwhere(cv2.erode(m, _disk(3 * radius), borderValue=1).astype(bool))
        if len(inside):
            rng = np.random.default_rng(seed)
            for y, x in inside[rng.choice(len(inside), size=min(HOLES, len(inside)), replace=False)]:
                cv2.circle(m, (int(x), int(y)), radius, 0, thickness=-1)
        return m.astype(bool)
    return base
