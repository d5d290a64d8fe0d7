"""The bytes of an "extracted subject" layer: the daemon's decontaminated colours with its alpha.

The daemon answers with an RGB8 foreground frame and an 8-bit alpha frame over the same window.
Krita wants one interleaved buffer in the layer's own layout: integer RGBA as B, G, R, A and float
RGBA as R, G, B, A (see pixel_formats). Channels are interleaved with slice assignment, and deeper
samples come from a 256-entry table, so no Python loop runs per pixel and no numpy is needed.
Deeper layers get value / 255 (float) or value * 257 (16-bit): the exact inverse of how the
plugin's canvas of that depth reached the daemon, so the colours land where they were read.
"""
from __future__ import annotations

import struct

from .pixel_formats import UnsupportedColorSpace

# Krita colorDepth() -> (channel order of the layer, bytes of each 8-bit value at that depth;
# None: 8-bit, the value itself)
_LAYOUTS = {
    "U8": ("BGRA", None),
    "U16": ("BGRA", [bytes((v, v)) for v in range(256)]),          # v * 257, little-endian
    "F16": ("RGBA", [struct.pack("<e", v / 255.0) for v in range(256)]),
    "F32": ("RGBA", [struct.pack("<f", v / 255.0) for v in range(256)]),
}


def interleave(rgb: bytes, alpha: bytes, width: int, height: int, order: str) -> bytes:
    """Four 8-bit channels per pixel in `order` (a permutation of "RGBA") from RGB8 + GRAY8 frames."""
    if width < 0 or height < 0:
        raise ValueError(f"negative window size {width}x{height}")
    count = width * height
    if len(alpha) != count:
        raise ValueError(f"alpha is {len(alpha)} bytes; a {width}x{height} 8-bit window needs {count}")
    if len(rgb) != 3 * count:
        raise ValueError(f"foreground is {len(rgb)} bytes; a {width}x{height} RGB8 window needs {3 * count}")
    if sorted(order) != sorted("RGBA"):
        raise ValueError(f"channel order {order!r} is not a permutation of RGBA")
    channels = {"R": rgb[0::3], "G": rgb[1::3], "B": rgb[2::3], "A": bytes(alpha)}
    out = bytearray(4 * count)
    for index, name in enumerate(order):
        out[index::4] = channels[name]
    return bytes(out)


def layer_pixels(rgb: bytes, alpha: bytes, width: int, height: int, color_model: str, color_depth: str) -> bytes:
    """The window's pixels as Node.setPixelData expects them for a layer of the given colour space."""
    if color_model != "RGBA" or color_depth not in _LAYOUTS:
        supported = ", ".join(f"RGBA/{d}" for d in _LAYOUTS)
        raise UnsupportedColorSpace(
            f"cannot write the subject into a {color_model}/{color_depth} layer (supported: {supported}); "
            "convert the image with Image > Convert Image Color Space")
    order, samples = _LAYOUTS[color_depth]
    pixels = interleave(rgb, alpha, width, height, order)
    if samples is None:
        return pixels
    return b"".join(map(samples.__getitem__, pixels))
