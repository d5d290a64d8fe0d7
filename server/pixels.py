"""Editor pixel layouts → the H×W×3 uint8 RGB array the engine takes, with numpy only.

The source alpha channel is ignored: SAM and M2M were trained on opaque RGB photos, and the colour
channels of a straight-alpha layer are the colours the artist painted, so they are what the model sees.
(Where alpha is 0 the colour is whatever the editor stored, often black; that is the editor's choice.)
"""
from __future__ import annotations

import numpy as np

from .protocol import PIXEL_FORMATS, ImageSpec, ProtocolError

# Which sample of each pixel holds red, green, blue (GRAY8 repeats its one sample).
_RGB_ORDER = {"RGBA8": (0, 1, 2), "BGRA8": (2, 1, 0), "RGB8": (0, 1, 2), "GRAY8": (0, 0, 0),
              "RGBA16": (0, 1, 2), "BGRA16": (2, 1, 0), "RGBAF16": (0, 1, 2), "RGBAF32": (0, 1, 2)}


def to_rgb8(frame: memoryview | bytes, spec: ImageSpec) -> np.ndarray:
    """Convert one pixel frame (height rows of `stride` bytes) to a new contiguous H×W×3 uint8 array."""
    if len(frame) != spec.frame_bytes:
        raise ProtocolError("bad_request", f"pixel frame is {len(frame)} bytes; {spec.height} rows x stride "
                                           f"{spec.stride} = {spec.frame_bytes} expected")
    bpp, dtype = PIXEL_FORMATS[spec.format]
    rows = np.frombuffer(frame, dtype=np.uint8).reshape(spec.height, spec.stride)[:, : spec.width * bpp]
    channels = bpp // np.dtype(dtype).itemsize
    samples = rows.view(np.dtype(dtype)).reshape(spec.height, spec.width, channels)
    # A C-ordered copy: the engine needs contiguous pixels and the receive buffer is never written.
    rgb = np.empty((spec.height, spec.width, 3), dtype=samples.dtype)
    for out_channel, in_channel in enumerate(_RGB_ORDER[spec.format]):
        rgb[:, :, out_channel] = samples[:, :, in_channel]
    if dtype == "u1":
        return rgb
    if dtype == "<u2":
        # Exact rounding of v*255/65535 in integers (u32 is wide enough: 65535*255 + 32767 < 2**32).
        return ((rgb.astype(np.uint32) * 255 + 32767) // 65535).astype(np.uint8)
    scaled = np.nan_to_num(rgb.astype(np.float32), nan=0.0, posinf=1.0, neginf=0.0)
    np.clip(scaled, 0.0, 1.0, out=scaled)
    scaled *= 255.0
    scaled += 0.5
    return scaled.astype(np.uint8)
