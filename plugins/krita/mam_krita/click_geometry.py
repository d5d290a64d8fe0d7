"""Canvas-widget pixels <-> image pixels for Click to select, without Qt (unit-tested on its own).

Krita 5.2's View offers two transforms (libkis View.cpp):
- `flakeToCanvasTransform()`: flake (document points scaled by the zoom) -> the canvas widget's pixels, with the
  view's pan, zoom, rotation and mirroring in it (KisCoordinatesConverter::flakeToWidgetTransform);
- `flakeToImageTransform()`: flake -> image pixels (the zoom and the resolution taken out).
So widget -> image is `flakeToImage ∘ flakeToCanvas⁻¹`, and image -> widget its inverse. The plugin copies
each QTransform into an `Affine` (m11, m12, m21, m22, dx, dy: QTransform's row-vector convention
x' = m11·x + m21·y + dx, y' = m12·x + m22·y + dy) and does the rest here.

When `flakeToImageTransform` is missing (it is in 5.2), `flakeToDocumentTransform()` (flake -> document points,
1/72 inch) followed by a scale of resolution/72 gives the same.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Optional

DRAG_THRESHOLD_PX = 5.0     # a press and release farther apart than this (widget pixels) is a box drag


@dataclass(frozen=True)
class Affine:
    """A 2D affine map in QTransform's convention (see the module docstring)."""

    m11: float = 1.0
    m12: float = 0.0
    m21: float = 0.0
    m22: float = 1.0
    dx: float = 0.0
    dy: float = 0.0

    def map(self, x: float, y: float) -> tuple[float, float]:
        return (self.m11 * x + self.m21 * y + self.dx, self.m12 * x + self.m22 * y + self.dy)

    def then(self, other: Affine) -> Affine:
        """The map that applies self first, then `other` (QTransform's `self * other`)."""
        return Affine(self.m11 * other.m11 + self.m12 * other.m21, self.m11 * other.m12 + self.m12 * other.m22,
                      self.m21 * other.m11 + self.m22 * other.m21, self.m21 * other.m12 + self.m22 * other.m22,
                      self.dx * other.m11 + self.dy * other.m21 + other.dx,
                      self.dx * other.m12 + self.dy * other.m22 + other.dy)

    def determinant(self) -> float:
        return self.m11 * self.m22 - self.m12 * self.m21

    def inverted(self) -> Affine:
        det = self.determinant()
        if not math.isfinite(det) or abs(det) < 1e-12:
            raise ValueError(f"the view transform cannot be inverted (determinant {det})")
        m11, m12, m21, m22 = self.m22 / det, -self.m12 / det, -self.m21 / det, self.m11 / det
        return Affine(m11, m12, m21, m22, -(self.dx * m11 + self.dy * m21), -(self.dx * m12 + self.dy * m22))

    def as_tuple(self) -> tuple[float, ...]:
        return (self.m11, self.m12, self.m21, self.m22, self.dx, self.dy)

    @staticmethod
    def scaling(sx: float, sy: float) -> Affine:
        return Affine(sx, 0.0, 0.0, sy, 0.0, 0.0)

    @staticmethod
    def translation(tx: float, ty: float) -> Affine:
        return Affine(1.0, 0.0, 0.0, 1.0, tx, ty)

    @staticmethod
    def rotation(degrees: float) -> Affine:
        """Clockwise on screen (y down), as QTransform.rotate."""
        r = math.radians(degrees)
        c, s = math.cos(r), math.sin(r)
        return Affine(c, s, -s, c, 0.0, 0.0)


def affine_from_qtransform(t) -> Affine:
    """Copy a QTransform (anything with m11()…m32()); a perspective one is refused."""
    if abs(t.m13()) > 1e-9 or abs(t.m23()) > 1e-9 or abs(t.m33() - 1.0) > 1e-9:
        raise ValueError("the view transform has a perspective part")
    return Affine(t.m11(), t.m12(), t.m21(), t.m22(), t.m31(), t.m32())


def widget_to_image(flake_to_widget: Affine, flake_to_image: Affine) -> Affine:
    """The map from canvas-widget pixels to image pixels."""
    return flake_to_widget.inverted().then(flake_to_image)


def flake_to_image_from_document(flake_to_document: Affine, x_res: float, y_res: float) -> Affine:
    """flake -> image through document points (1/72 inch) and the image resolution in dots per inch."""
    if x_res <= 0 or y_res <= 0:
        raise ValueError(f"resolution {x_res}x{y_res} dpi is not positive")
    return flake_to_document.then(Affine.scaling(x_res / 72.0, y_res / 72.0))


def clamp_point(x: float, y: float, width: int, height: int) -> Optional[tuple[float, float]]:
    """An image point rounded to 1/100 pixel, or None when it lies outside the image (a click beside it)."""
    if not (0.0 <= x <= width and 0.0 <= y <= height):
        return None
    return (round(x, 2), round(y, 2))


def box_from_corners(a: tuple[float, float], b: tuple[float, float], width: int,
                     height: int) -> Optional[tuple[int, int, int, int]]:
    """The whole-pixel box (x0, y0, x1, y1), x1/y1 exclusive, spanned by two image points and cut to the image;
    None when nothing of it is inside the image (or it is thinner than a pixel)."""
    x0, x1 = sorted((a[0], b[0]))
    y0, y1 = sorted((a[1], b[1]))
    bx0, by0 = max(0, math.floor(x0)), max(0, math.floor(y0))
    bx1, by1 = min(width, math.ceil(x1)), min(height, math.ceil(y1))
    if bx1 - bx0 < 1 or by1 - by0 < 1:
        return None
    return (bx0, by0, bx1, by1)


def image_corners_in_widget(image_to_widget: Affine, box: tuple[float, float, float, float]) -> list[tuple[float,
                                                                                                           float]]:
    """The four corners of an image-space rectangle in widget pixels (a rotated view makes it a parallelogram)."""
    x0, y0, x1, y1 = box
    return [image_to_widget.map(x, y) for x, y in ((x0, y0), (x1, y0), (x1, y1), (x0, y1))]


def is_drag(press: tuple[float, float], release: tuple[float, float], threshold: float = DRAG_THRESHOLD_PX) -> bool:
    """Whether the pointer moved far enough between press and release to be a box rather than a click."""
    return math.hypot(release[0] - press[0], release[1] - press[1]) > threshold
