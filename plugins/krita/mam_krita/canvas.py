"""Read the pixels to matte from Krita: the active layer or the merged image, in its native format.

Bytes go to the daemon exactly as Krita returns them (see pixel_formats), so nothing is converted
or looped over in Python.
"""
from __future__ import annotations

from typing import NamedTuple

from .pixel_formats import expected_size, wire_format_for
from .prompts import is_points_layer


class Canvas(NamedTuple):
    width: int
    height: int
    fmt: str
    stride: int
    pixels: bytes


def source_layer(node):
    """The layer a request works on: the active node, or its layer when a mask is active."""
    if node is not None and node.type().endswith("mask"):
        return node.parentNode()
    return node


def effective_source(source: str, layer_name: str, layer_type: str) -> tuple[str, str]:
    """The pixel source to use and a note: a point layer holds prompts, not the picture, so a
    request made while it is active reads the merged image instead."""
    if source == "layer" and layer_type == "vectorlayer" and is_points_layer(layer_name):
        return "merged", f"\"{layer_name}\" holds the points, so the merged image was sent."
    return source, ""


def read_canvas(doc, node, source: str) -> Canvas:
    """The whole image area of `node` ("layer") or of the projection ("merged")."""
    width, height = doc.width(), doc.height()
    doc.waitForDone()
    if source == "merged" or node is None:
        fmt = wire_format_for(doc.colorModel(), doc.colorDepth())
        data = doc.pixelData(0, 0, width, height)
    else:
        fmt = wire_format_for(node.colorModel(), node.colorDepth())
        # A paint layer's own pixels (its masks, e.g. an earlier matte, left out); other layer
        # kinds (groups, vector, fill) only have pixels as a rendered projection.
        if node.type() == "paintlayer":
            data = node.pixelData(0, 0, width, height)
        else:
            data = node.projectionPixelData(0, 0, width, height)
    pixels = bytes(data)
    if len(pixels) != expected_size(fmt, width, height):
        raise ValueError(f"Krita returned {len(pixels)} bytes for a {width}x{height} {fmt.name} canvas "
                         f"(expected {expected_size(fmt, width, height)})")
    return Canvas(width, height, fmt.name, width * fmt.bytes_per_pixel, pixels)
