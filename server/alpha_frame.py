"""Engine alpha (float32 in [0, 1]) → the wire's raw alpha frame: u8 or little-endian u16, optionally cropped;
and the foreground colours cut to the same window."""
from __future__ import annotations

import numpy as np

from mam_engine.image_io import alpha_to_uint


def encode_alpha(alpha: np.ndarray, depth: int, crop: bool) -> tuple[np.ndarray, int, int]:
    """Return (C-contiguous samples, x, y); with `crop`, only the bounding box of non-zero samples.

    Quantise first, then crop, so the box is exactly where the sent samples are non-zero.
    An all-zero alpha cropped is an empty 0×0 frame at (0, 0).
    """
    samples = alpha_to_uint(alpha, depth)  # the CLI's quantisation too: one function, byte-identical samples
    if not crop:
        return samples, 0, 0
    rows = np.flatnonzero(samples.any(axis=1))
    if rows.size == 0:
        return np.zeros((0, 0), dtype=samples.dtype), 0, 0
    cols = np.flatnonzero(samples.any(axis=0))
    y0, y1, x0, x1 = rows[0], rows[-1] + 1, cols[0], cols[-1] + 1
    return np.ascontiguousarray(samples[y0:y1, x0:x1]), int(x0), int(y0)


def encode_foreground(foreground: np.ndarray, x: int, y: int, width: int, height: int) -> np.ndarray:
    """The RGB8 foreground frame for the alpha's window (x, y, width, height), so `crop` applies to both."""
    if foreground.dtype != np.uint8 or foreground.ndim != 3 or foreground.shape[2] != 3:
        raise ValueError(f"engine foreground must be H×W×3 uint8, got {foreground.shape} {foreground.dtype}")
    return np.ascontiguousarray(foreground[y:y + height, x:x + width])
