"""The `preview` option: an alpha frame shrunk by a whole factor so its long side fits a bound.

A preview is for showing the subject while the artist clicks: fewer bytes to send and to draw. It is made from the
very samples a plain matte sends (after quantisation and crop), so it says nothing the committed matte does not.
Each preview sample is the mean of a `scale`×`scale` block of those samples (blocks on the right and bottom edges
may be smaller), rounded half up.
"""
from __future__ import annotations

import numpy as np


def preview_scale(width: int, height: int, max_side: int) -> int:
    """The smallest whole factor that brings the long side of a width×height frame to at most `max_side`."""
    return max(1, -(-max(width, height) // max_side))


def shrink(samples: np.ndarray, scale: int) -> np.ndarray:
    """Block means of `samples` (H×W u8 or u16) over `scale`×`scale` blocks, rounded half up, same dtype."""
    if scale == 1 or samples.size == 0:
        return samples
    h, w = samples.shape
    rows, cols = np.arange(0, h, scale), np.arange(0, w, scale)
    sums = np.add.reduceat(np.add.reduceat(samples.astype(np.uint64), rows, axis=0), cols, axis=1)
    counts = np.outer(np.diff(np.append(rows, h)), np.diff(np.append(cols, w))).astype(np.uint64)
    return np.ascontiguousarray((2 * sums + counts) // (2 * counts)).astype(samples.dtype)
