"""Turn what Krita already has into a matting prompt: selection -> box and mask, vector shapes -> points.

Point convention (documented in the README):
- shapes on a vector layer named "MAM points" are foreground clicks, except shapes filled red
  (red channel >= 128 and at least twice green and blue), which are background clicks;
- every shape on a vector layer named "MAM background" is a background click.
A shape's click position is the centre of its bounding box, so a small ellipse marks a point.
Pure Python on bytes: the Krita side only feeds pixelData() / shape geometry in.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Iterable, Optional

Box = tuple[int, int, int, int]
Point = tuple[float, float, int]

FOREGROUND_LAYER = "mam points"
BACKGROUND_LAYER = "mam background"
FOREGROUND, BACKGROUND = 1, 0


class PromptError(ValueError):
    """The selection or shapes cannot become a prompt (wrong sizes, nothing usable)."""


def _check_size(data: bytes, width: int, height: int, what: str) -> None:
    if width <= 0 or height <= 0:
        raise PromptError(f"{what}: empty size {width}x{height}")
    if len(data) != width * height:
        raise PromptError(f"{what}: {len(data)} bytes for {width}x{height} (expected {width * height})")


def bounding_box(mask: bytes, width: int, height: int, threshold: int = 1) -> Optional[Box]:
    """Tight (x0, y0, x1, y1) box, x1/y1 exclusive, of bytes >= threshold; None when nothing is set.

    Rows are scanned with bytes.translate/strip (C speed), never pixel by pixel in Python.
    """
    _check_size(mask, width, height, "selection")
    if not 1 <= threshold <= 255:
        raise PromptError(f"threshold {threshold} outside 1..255")
    binarise = bytes(0 if v < threshold else 1 for v in range(256))
    flat = bytes(mask).translate(binarise)
    x0, x1, rows = width, 0, []
    for y in range(height):
        row = flat[y * width:(y + 1) * width]
        left = len(row) - len(row.lstrip(b"\x00"))
        if left == width:
            continue
        rows.append(y)
        x0 = min(x0, left)
        x1 = max(x1, len(row.rstrip(b"\x00")))
    if not rows:
        return None
    return (x0, rows[0], x1, rows[-1] + 1)


def mask_from_selection(selection: bytes, width: int, height: int) -> bytes:
    """The selection as the protocol's GRAY8 mask frame (>= 128 inside), checked for size."""
    _check_size(selection, width, height, "selection")
    return bytes(selection)


def is_points_layer(name: str) -> bool:
    """Whether a layer name is one of the two point-layer names (case and spacing ignored)."""
    return _normalise(name) in (FOREGROUND_LAYER, BACKGROUND_LAYER)


def _normalise(name: str) -> str:
    return " ".join(name.split()).lower()


_HEX_FILL = re.compile(r"fill\s*[:=]\s*\"?\s*#([0-9a-fA-F]{6}|[0-9a-fA-F]{3})\b")
_RGB_FILL = re.compile(r"fill\s*[:=]\s*\"?\s*rgb\(\s*(\d+)\s*,\s*(\d+)\s*,\s*(\d+)\s*\)")


def fill_rgb(svg: str) -> Optional[tuple[int, int, int]]:
    """The first fill colour in a shape's SVG (hex or rgb()), or None when unfilled."""
    m = _HEX_FILL.search(svg)
    if m:
        h = m.group(1)
        if len(h) == 3:
            h = "".join(c * 2 for c in h)
        return (int(h[0:2], 16), int(h[2:4], 16), int(h[4:6], 16))
    m = _RGB_FILL.search(svg)
    if m:
        return tuple(min(255, int(g)) for g in m.groups())  # type: ignore[return-value]
    return None


def is_red(rgb: Optional[tuple[int, int, int]]) -> bool:
    """The README's "red": red >= 128 and at least twice both green and blue."""
    if rgb is None:
        return False
    r, g, b = rgb
    return r >= 128 and r >= 2 * g and r >= 2 * b


@dataclass(frozen=True)
class ShapeInfo:
    """What the plugin needs of one Krita vector shape: its layer, bounds in points (1/72 in), SVG."""
    layer_name: str
    left: float
    top: float
    right: float
    bottom: float
    svg: str = ""


def shape_label(shape: ShapeInfo) -> Optional[int]:
    """FOREGROUND/BACKGROUND for a shape on a point layer, None for shapes on other layers."""
    layer = _normalise(shape.layer_name)
    if layer == BACKGROUND_LAYER:
        return BACKGROUND
    if layer == FOREGROUND_LAYER:
        return BACKGROUND if is_red(fill_rgb(shape.svg)) else FOREGROUND
    return None


def points_from_shapes(shapes: Iterable[ShapeInfo], dpi_x: float, dpi_y: float,
                       width: int, height: int) -> tuple[list[Point], int]:
    """Click points (x, y, label) in image pixels, and how many shapes fell outside the image.

    Vector shapes live in points (1/72 inch); pixels = points * dpi / 72.
    """
    if dpi_x <= 0 or dpi_y <= 0:
        raise PromptError(f"document resolution {dpi_x}x{dpi_y} dpi is not positive")
    points: list[Point] = []
    outside = 0
    for shape in shapes:
        label = shape_label(shape)
        if label is None:
            continue
        x = (shape.left + shape.right) / 2 * dpi_x / 72.0
        y = (shape.top + shape.bottom) / 2 * dpi_y / 72.0
        if 0 <= x < width and 0 <= y < height:
            points.append((x, y, label))
        else:
            outside += 1
    return points, outside


@dataclass(frozen=True)
class CanvasPrompt:
    """What the canvas (selection, point shapes) asks for in one matte request, in image pixels.

    Not mam_engine's Prompt (the validated request the model runs on): this is the plugin's side."""
    box: Optional[Box]
    points: list[Point]
    mask: Optional[bytes]
    notes: list[str]
    text: Optional[str] = None     # find the subject by name (the daemon's `text` feature); box/points narrow it


def build_prompt(selection: Optional[bytes], shapes: Iterable[ShapeInfo], width: int, height: int,
                 dpi_x: float, dpi_y: float, refine_selection: bool, text: Optional[str] = None) -> CanvasPrompt:
    """Combine selection, point shapes and a text into one prompt; PromptError when there is nothing to go on.

    The selection's bounding box is the box; with `refine_selection` the selection itself goes along
    as the mask prompt to refine. Points come from the point layers (see the module docstring).
    A text (already cleaned: None when empty) is a prompt on its own; a box and points then narrow what it
    finds. The daemon does not combine a mask with a text, so the selection is not sent as one then.
    """
    box = bounding_box(selection, width, height) if selection is not None else None
    points, outside = points_from_shapes(shapes, dpi_x, dpi_y, width, height)
    notes = [f"{outside} point shape(s) outside the image were ignored"] if outside else []
    if box is None and not points and text is None:
        raise PromptError("Nothing to matte: make a selection around the subject, draw points on a vector "
                          "layer named \"MAM points\" (red-filled or on \"MAM background\" = background), or "
                          "type what to select in the docker.")
    mask = mask_from_selection(selection, width, height) if refine_selection and box is not None else None
    if mask is not None and text is not None:
        mask = None
        notes.append("\"Refine the selection\" is not used with a text prompt; the selection's box limits where "
                     "to look.")
    return CanvasPrompt(box, points, mask, notes, text)
