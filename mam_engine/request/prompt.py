"""Prompt rules (box, points, mask) in image pixels, the same for the CLI, the daemon and the engine.

Coordinates are continuous pixel positions: x runs from 0 (left edge) to width (right edge) inclusive.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Iterable, Sequence

import numpy as np

from mam_engine.request.errors import RequestError, echo
from mam_engine.request.limits import Limits

Box = tuple[float, float, float, float]
Point = tuple[float, float, int]


@dataclass(frozen=True)
class Prompt:
    box: Box | None
    points: tuple[Point, ...]
    mask: np.ndarray | None  # H×W bool

    @property
    def effective_box(self) -> Box | None:
        """A mask with neither box nor points is prompted with its own bounding box as well (SAM needs a location)."""
        if self.box is not None or self.points or self.mask is None:
            return self.box
        ys, xs = np.nonzero(self.mask)
        return (float(xs.min()), float(ys.min()), float(xs.max() + 1), float(ys.max() + 1))


def _number(value: Any, field: str) -> float:
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise RequestError(field, f"must be a number, got {echo(value)}")
    if not math.isfinite(value):
        raise RequestError(field, f"must be finite, got {echo(value)}")
    return float(value)


def _sequence(value: Any, field: str, what: str) -> Sequence[Any] | np.ndarray:
    if isinstance(value, (str, bytes, dict)) or not isinstance(value, (Sequence, np.ndarray)):
        raise RequestError(field, f"must be {what}, got {echo(value)}")
    return value


def check_box(box: Any, width: int, height: int) -> Box:
    values = _sequence(box, "box", "[x0, y0, x1, y1]")
    if len(values) != 4:
        raise RequestError("box", f"must be 4 numbers [x0, y0, x1, y1], got {echo(box)}")
    x0, y0, x1, y1 = (_number(v, f"box[{i}]") for i, v in enumerate(values))
    if not (0 <= x0 < x1 <= width and 0 <= y0 < y1 <= height):
        raise RequestError("box", f"{echo([x0, y0, x1, y1])} must satisfy 0 <= x0 < x1 <= {width} and "
                                  f"0 <= y0 < y1 <= {height}")
    return x0, y0, x1, y1


def check_points(points: Any, width: int, height: int, limits: Limits) -> tuple[Point, ...]:
    items = _sequence(points, "points", "a list of [x, y, label]")
    if len(items) > limits.max_points:
        raise RequestError("points", f"{len(items)} points; max_points is {limits.max_points}", "too_many_points")
    parsed = []
    for i, p in enumerate(items):
        field = f"points[{i}]"
        p = _sequence(p, field, "[x, y] or [x, y, label]")
        if len(p) not in (2, 3):
            raise RequestError(field, f"must be [x, y] or [x, y, label], got {echo(p)}")
        x, y = _number(p[0], f"{field}.x"), _number(p[1], f"{field}.y")
        label = 1 if len(p) == 2 else p[2]
        if isinstance(label, (bool, np.bool_)) or label not in (0, 1) or not float(label).is_integer():
            raise RequestError(f"{field}.label", f"must be 1 (foreground) or 0 (background), got {echo(label)}")
        if not (0 <= x <= width and 0 <= y <= height):
            raise RequestError(field, f"({x}, {y}) lies outside the {width}×{height} image "
                                      f"(0 <= x <= {width}, 0 <= y <= {height})")
        parsed.append((x, y, int(label)))
    return tuple(parsed)


def check_mask(mask: Any, width: int, height: int) -> np.ndarray:
    if not isinstance(mask, np.ndarray):
        raise RequestError("mask", f"must be an H×W array, got {type(mask).__name__}")
    if mask.shape != (height, width):
        raise RequestError("mask", f"must be {height}×{width} like the image, got shape {mask.shape}")
    return mask.astype(bool)


def check_prompt(
    width: int,
    height: int,
    box: Any = None,
    points: Iterable[Any] | None = None,
    mask: Any = None,
    limits: Limits | None = None,
    needs_prompt: bool = True,
) -> Prompt:
    """`needs_prompt` False: nothing marked is fine (a text prompt marks the subject itself)."""
    limits = limits or Limits()
    parsed_box = None if box is None else check_box(box, width, height)
    parsed_points = () if points is None else check_points(points, width, height, limits)
    parsed_mask = None if mask is None else check_mask(mask, width, height)
    if needs_prompt and parsed_box is None and not parsed_points:
        if parsed_mask is None:
            raise RequestError("prompt", "needs a box, at least one point, or a mask")
        if not parsed_mask.any():
            raise RequestError("mask", "is empty and there is no box or point: nothing marks the subject")
    return Prompt(parsed_box, parsed_points, parsed_mask)
