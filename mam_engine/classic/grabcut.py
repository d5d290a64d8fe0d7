"""Selection without model weights: OpenCV GrabCut initialised from the prompt.

Used by `backend="classic"` so the daemon, CLI and plugins work on a machine that has no checkpoints yet. The box
bounds the subject (outside it is background for sure), positive/negative points are hard constraints, and an
existing selection seeds the probable foreground. GrabCut runs at a working size of at most WORK_SIDE px on the long
side (its cost grows with the pixel count and the matte refinement restores the full-resolution edge afterwards).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Iterable, Sequence

import cv2
import numpy as np

WORK_SIDE = 640
ITERATIONS = 5
# Radius of a point's hard constraint and the padding around positive points when there is no box, as fractions of
# the long side.
POINT_RADIUS_FRACTION = 0.01
POINTS_PAD_FRACTION = 0.15
# A click also constrains the connected region of nearly the same colour (per-channel difference, 0–255).
POINT_COLOUR_TOLERANCE = 12


@dataclass
class Segmented:
    mask: np.ndarray  # H×W bool
    notes: list[str] = field(default_factory=list)


def _init_labels(
    image: np.ndarray,
    box: Sequence[float] | None,
    points: list[tuple[float, float, int]],
    mask: np.ndarray | None,
) -> np.ndarray:
    """GrabCut's label image at working size: certain/probable background and foreground."""
    h, w = image.shape[:2]
    labels = np.full((h, w), cv2.GC_BGD, dtype=np.uint8)
    if box is None and mask is None:
        pos = np.array([(x, y) for x, y, lab in points if lab == 1] or [(x, y) for x, y, _ in points])
        pad = POINTS_PAD_FRACTION * max(h, w)
        box = (pos[:, 0].min() - pad, pos[:, 1].min() - pad, pos[:, 0].max() + pad, pos[:, 1].max() + pad)
    if box is not None:
        x0, y0 = max(0, int(np.floor(box[0]))), max(0, int(np.floor(box[1])))
        x1, y1 = min(w, int(np.ceil(box[2]))), min(h, int(np.ceil(box[3])))
        inside = np.zeros((h, w), dtype=bool)
        inside[y0:y1, x0:x1] = True
        if mask is not None:
            labels[inside] = cv2.GC_PR_BGD
            labels[inside & mask] = cv2.GC_PR_FGD
        else:
            labels[inside] = cv2.GC_PR_FGD
    else:
        labels[:] = cv2.GC_PR_BGD
        labels[mask] = cv2.GC_PR_FGD
    if not np.isin(labels, (cv2.GC_BGD, cv2.GC_PR_BGD)).any():
        # The prompt covers the whole canvas: GrabCut needs background samples, so the outer frame provides them.
        labels[[0, -1], :] = cv2.GC_PR_BGD
        labels[:, [0, -1]] = cv2.GC_PR_BGD
    radius = max(1, round(POINT_RADIUS_FRACTION * max(h, w)))
    for x, y, lab in points:
        cx, cy = min(w - 1, max(0, int(round(x)))), min(h - 1, max(0, int(round(y))))
        value = cv2.GC_FGD if lab == 1 else cv2.GC_BGD
        labels[_same_colour_region(image, cx, cy)] = value
        cv2.circle(labels, (cx, cy), radius, value, -1)
    return labels


def _same_colour_region(image: np.ndarray, x: int, y: int) -> np.ndarray:
    """The connected region of colours within POINT_COLOUR_TOLERANCE of the clicked pixel.

    A click means "this thing", not "this pixel": a few pixels of hard constraint barely move GrabCut's colour
    models, a region of the clicked colour does.
    """
    h, w = image.shape[:2]
    flood = np.zeros((h + 2, w + 2), np.uint8)
    tol = (POINT_COLOUR_TOLERANCE,) * 3
    cv2.floodFill(image.copy(), flood, (x, y), 0, tol, tol,
                  4 | cv2.FLOODFILL_FIXED_RANGE | cv2.FLOODFILL_MASK_ONLY | (1 << 8))
    return flood[1:-1, 1:-1].astype(bool)


GRABCUT_SEED = 0x4D414D


def _run(image_bgr: np.ndarray, labels: np.ndarray, iterations: int, notes: list[str]) -> np.ndarray:
    """GrabCut in place on `labels`; the foreground it leaves. A failure keeps the initial labels with a note."""
    bgd, fgd = np.zeros((1, 65), np.float64), np.zeros((1, 65), np.float64)
    # GrabCut seeds its colour models from OpenCV's per-thread RNG: fix it so one request gives one answer.
    cv2.setRNGSeed(GRABCUT_SEED)
    try:
        cv2.grabCut(image_bgr, labels, None, bgd, fgd, iterations, cv2.GC_INIT_WITH_MASK)  # type: ignore[call-overload]
    except cv2.error as exc:
        notes.append(f"GrabCut could not run ({str(exc).strip().splitlines()[-1]}); kept the prompt's region")
    return np.isin(labels, (cv2.GC_FGD, cv2.GC_PR_FGD))


def _centre_seed(region: np.ndarray) -> np.ndarray:
    """An ellipse a sixth of the region's bounding box in size, at its centre, clipped to the region."""
    ys, xs = np.nonzero(region)
    seed = np.zeros(region.shape, np.uint8)
    centre = (int((xs.min() + xs.max()) / 2), int((ys.min() + ys.max()) / 2))
    axes = (max(1, int((xs.max() - xs.min()) / 6)), max(1, int((ys.max() - ys.min()) / 6)))
    cv2.ellipse(seed, centre, axes, 0, 0, 360, 1, -1)
    return seed.astype(bool) & region


def grabcut(
    image: np.ndarray,
    box: Sequence[float] | None = None,
    points: Iterable[Sequence[float]] | None = None,
    mask: np.ndarray | None = None,
    iterations: int = ITERATIONS,
) -> Segmented:
    """Binary selection of the prompted subject. At least one of box, points, mask is required.

    Coordinates are image pixels (box x0, y0, x1, y1; points x, y, label with 1 = foreground, 0 = background). If
    GrabCut cannot run (degenerate colour models), the initial region is returned with a note.
    """
    h, w = image.shape[:2]
    pts = [(float(p[0]), float(p[1]), int(p[2])) for p in (points or [])]
    if box is None and not pts and mask is None:
        raise ValueError("the classic backend needs a box, points or a mask")
    if mask is not None and (mask.shape != (h, w)):
        raise ValueError(f"mask shape {mask.shape} differs from image size {(h, w)}")
    if iterations < 1:
        raise ValueError(f"iterations must be at least 1, got {iterations}")
    scale = min(1.0, WORK_SIDE / max(h, w))
    ws = (max(1, round(w * scale)), max(1, round(h * scale)))
    small = cv2.resize(image, ws, interpolation=cv2.INTER_AREA) if scale < 1 else image
    small_mask = None
    if mask is not None:
        small_mask = cv2.resize(mask.astype(np.uint8), ws, interpolation=cv2.INTER_NEAREST).astype(bool)
    small_box = None if box is None else [c * scale for c in box]
    small_pts = [(x * scale, y * scale, lab) for x, y, lab in pts]
    labels = _init_labels(small, small_box, small_pts, small_mask)
    notes: list[str] = []
    bgd_image = cv2.cvtColor(small, cv2.COLOR_RGB2BGR)
    initial = labels.copy()
    fg = _run(bgd_image, labels, iterations, notes)
    if not fg.any() and (initial == cv2.GC_PR_FGD).any() and not (initial == cv2.GC_FGD).any():
        # GrabCut can explain the whole prompt as background (a thin subject in similar colours). The prompt still
        # says something is there: retry with the centre of the probable region as certain foreground.
        labels = initial
        labels[_centre_seed(initial == cv2.GC_PR_FGD)] = cv2.GC_FGD
        fg = _run(bgd_image, labels, iterations, notes)
        notes.append("GrabCut found no foreground at first; retried with the prompt's centre as foreground")
    fg = fg.astype(np.float32)
    if scale < 1:
        fg = cv2.resize(fg, (w, h), interpolation=cv2.INTER_LINEAR)
    out = fg > 0.5
    if not out.any():
        notes.append("GrabCut found no foreground in the prompt")
    return Segmented(mask=out, notes=notes)
