"""The pixels of an "extracted subject" layer: the daemon's decontaminated colours with its alpha.

The daemon answers with an RGB8 foreground frame and an alpha frame (8-bit, or 16-bit
little-endian for deep images) over the same window. GEGL takes one interleaved R'G'B'A buffer
and converts it to the new layer's precision in C, so this module only interleaves: with slice
assignment, never a Python loop per pixel, and without numpy (GIMP's Python may not have it).
16-bit colour is the 8-bit value times 257, which is the value repeated in both bytes.
"""
from __future__ import annotations


def rgba_from_matte(rgb: bytes, alpha: bytes, width: int, height: int, depth: int) -> tuple[str, bytes]:
    """The babl format and bytes of the window as non-linear RGBA at the alpha's depth (8 or 16)."""
    if depth not in (8, 16):
        raise ValueError(f"alpha depth must be 8 or 16, got {depth!r}")
    if width < 0 or height < 0:
        raise ValueError(f"negative window size {width}x{height}")
    count = width * height
    sample = depth // 8
    if len(alpha) != count * sample:
        raise ValueError(f"alpha is {len(alpha)} bytes; a {width}x{height} {depth}-bit window needs {count * sample}")
    if len(rgb) != 3 * count:
        raise ValueError(f"foreground is {len(rgb)} bytes; a {width}x{height} RGB8 window needs {3 * count}")
    pixel = 4 * sample
    out = bytearray(pixel * count)
    for channel in range(3):
        values = rgb[channel::3]
        for byte in range(sample):
            out[channel * sample + byte::pixel] = values
    for byte in range(sample):
        out[3 * sample + byte::pixel] = alpha[byte::sample]
    return f"R'G'B'A u{depth}", bytes(out)
