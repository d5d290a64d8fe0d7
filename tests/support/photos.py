"""Real photos from ../shared/data cut to what a fast test needs."""
from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from mam_engine.evaluation import coarse_masks
from support.missing_parts import skip_or_fail

DATA = Path(__file__).resolve().parents[2].parent / "shared" / "data"


def gt05_edge_crop() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(image, grid coarse mask, ground truth) of a 200×200 crop of GT05 across its subject's boundary; the coarse
    mask is made on the full image, as SAM's would be."""
    root = DATA / "alphamatting-lowres"
    if not root.is_dir():
        skip_or_fail(f"shared test data not found at {root}")
    gt = cv2.imread(str(root / "gt" / "GT05.png"), cv2.IMREAD_GRAYSCALE).astype(np.float32) / 255.0
    image = cv2.cvtColor(cv2.imread(str(root / "input" / "GT05.png")), cv2.COLOR_BGR2RGB)
    mask = coarse_masks.coarse_mask(gt, "grid")
    ys, xs = np.nonzero((gt > 0.05) & (gt < 0.95))
    cy, cx = int(np.median(ys)), int(np.median(xs))
    y0, x0 = max(0, cy - 100), max(0, cx - 100)
    crop = (slice(y0, y0 + 200), slice(x0, x0 + 200))
    return image[crop].copy(), mask[crop].copy(), gt[crop].copy()
