"""Validated prompts: a box, points with labels and/or a mask, in image pixels."""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Iterable, Sequence

import numpy as np


@dataclass(frozen=True)
class Prompt:
    box: tuple[float, float, float, float] | None
    points: tuple[tuple[float, float, int], ...]
    mask: np.ndarray | None  # H×W bool

    @property
    def effective_box(self) -> tuple[float, float, float, float] | None:
        """A mask with neither box nor points is prompted with its own bounding box as well (SAM needs a location)."""
        if self.box is not None or self.points or self.mask is None:
            return self.box
        ys, xs = np.nonzero(self.mask)
        return (float(xs.min()), float(ys.min()), float(xs.max() + 1), float(ys.max() + 1))


def _number(value: object, what: str) -> float:
    try:
        f = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        raise ValueError(f"{what} must be a number, got {value!r}") from None
    if not math.isfinite(f):
        raise ValueError(f"{what} must be finite, got {value!r}")
    return f


def make_prompt(
    image_shape: tuple[int, ...],
    box: Sequence[float] | None = None,
    points: Iterable[Sequence[float]] | None = None,
    mask: np.ndarray | None = None,
) -> Prompt:
    """Checks everything a user can get wrong, with messages that name the field."""
    h, w = image_shape[:2]
    parsed_box = None
    if box is not None:
        if len(box) != 4:
            raise ValueError(f"box must be (x0, y0, x1, y1), got {len(box)} values")
        x0, y0, x1, y1 = (_number(v, f"box[{i}]") for i, v in enumerate(box))
        if not (x1 > x0 and y1 > y0):
            raise ValueError(f"box must have x1 > x0 and y1 > y0, got {(x0, y0, x1, y1)}")
        if x1 <= 0 or y1 <= 0 or x0 >= w or y0 >= h:
            raise ValueError(f"box {(x0, y0, x1, y1)} lies outside the {w}×{h} image")
        parsed_box = (x0, y0, x1, y1)
    parsed_points = []
    for i, p in enumerate(points or ()):
        if len(p) not in (2, 3):
            raise ValueError(f"point {i} must be (x, y) or (x, y, label), got {tuple(p)!r}")
        x, y = _number(p[0], f"point {i} x"), _number(p[1], f"point {i} y")
        label = 1 if len(p) == 2 else p[2]
        if label not in (0, 1) or isinstance(label, float) and not label.is_integer():
            raise ValueError(f"point {i} label must be 1 (foreground) or 0 (background), got {label!r}")
        if not (0 <= x < w and 0 <= y < h):
            raise ValueError(f"point {i} ({x}, {y}) lies outside the {w}×{h} image")
        parsed_points.append((x, y, int(label)))
    parsed_mask = None
    if mask is not None:
        mask = np.asarray(mask)
        if mask.shape != (h, w):
            raise ValueError(f"mask must be {h}×{w} like the image, got shape {mask.shape}")
        parsed_mask = mask.astype(bool)
        if not parsed_mask.any() and parsed_box is None and not parsed_points:
            raise ValueError("mask is empty and there is no box or point: nothing marks the subject")
    if parsed_box is None and not parsed_points and parsed_mask is None:
        raise ValueError("a prompt needs a box, at least one point, or a mask")
    return Prompt(parsed_box, tuple(parsed_points), parsed_mask)
