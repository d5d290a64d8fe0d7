"""Krita colour space -> protocol pixel format, so canvases travel exactly as Krita returns them.

Krita stores integer RGBA as B, G, R, A (KoBgrU8/U16 traits) and float RGBA as R, G, B, A
(KoRgbF16/F32 traits); the daemon accepts those layouts natively, so the plugin never
reorders pixels in Python.
"""
from __future__ import annotations

from typing import NamedTuple


class WireFormat(NamedTuple):
    """How a Krita canvas travels: the protocol's pixel format name and its bytes per pixel."""

    name: str             # the protocol's format name
    bytes_per_pixel: int


class UnsupportedColorSpace(ValueError):
    """The layer or document uses a colour model the daemon cannot read."""


_FORMATS = {
    ("RGBA", "U8"): WireFormat("BGRA8", 4),
    ("RGBA", "U16"): WireFormat("BGRA16", 8),
    ("RGBA", "F16"): WireFormat("RGBAF16", 8),
    ("RGBA", "F32"): WireFormat("RGBAF32", 16),
}


def wire_format_for(color_model: str, color_depth: str) -> WireFormat:
    """Map Krita's colorModel()/colorDepth() ids to the wire format of the same bytes."""
    try:
        return _FORMATS[(color_model, color_depth)]
    except KeyError:
        supported = ", ".join(f"{m}/{d}" for m, d in _FORMATS)
        raise UnsupportedColorSpace(
            f"colour space {color_model}/{color_depth} is not supported (supported: {supported}); "
            "convert the image or layer with Image > Convert Image Color Space"
        ) from None


def expected_size(fmt: WireFormat, width: int, height: int) -> int:
    """Byte count of a tightly packed width x height buffer, to catch short reads early."""
    return fmt.bytes_per_pixel * width * height
