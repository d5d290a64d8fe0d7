"""Where the M2M alphas are actually read, so per-click work scales with the subject, not the canvas.

MAM's fusion reads the M2M alphas only inside the tight box of SAM's mask grown by the reach of its two dilations
(MAM_SPEC §6); everywhere else the final alpha is the mask itself. M2M is fully convolutional, so running it on a
crop of the model frame that covers that area plus its receptive field gives the same numbers as the full frame.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from mam_engine.model.preprocess import TARGET, Frame

# Fusion reads M2M values up to 1 (exclusive box edge) + 5 (10×10 kernel) + 2 (5×5 kernel) pixels outside the box.
FUSION_REACH = 10
# M2M's receptive field is about 100 model-frame pixels (conv stacks at 1/8, 1/4, 1/2 and full scale); beyond it a
# crop's zero padding cannot reach the pixels we keep. Multiple of 16 so every scale of the network stays aligned.
M2M_MARGIN = 128
ALIGN = 16


@dataclass(frozen=True)
class Window:
    """Rows [y0, y1) and columns [x0, x1)."""

    y0: int
    y1: int
    x0: int
    x1: int

    def slices(self) -> tuple[slice, slice]:
        return slice(self.y0, self.y1), slice(self.x0, self.x1)

    def scaled(self, divisor: int) -> Window:
        return Window(self.y0 // divisor, self.y1 // divisor, self.x0 // divisor, self.x1 // divisor)


def fusion_window(mask: np.ndarray) -> Window | None:
    """The full-resolution area the fusion can change; None when the mask is empty (then alpha = 0 everywhere)."""
    ys = np.flatnonzero(mask.any(axis=1))
    if ys.size == 0:
        return None
    xs = np.flatnonzero(mask.any(axis=0))
    h, w = mask.shape
    return Window(max(int(ys[0]) - FUSION_REACH, 0), min(int(ys[-1]) + 1 + FUSION_REACH, h),
                  max(int(xs[0]) - FUSION_REACH, 0), min(int(xs[-1]) + 1 + FUSION_REACH, w))


def _source_index(out_size: int, in_size: int, dst: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """PyTorch's bilinear (align_corners=False) indices and weights on one axis: float32 scale, double index maths."""
    scale = np.float32(in_size) / np.float32(out_size)
    src = np.maximum(np.float64(scale) * (dst + 0.5) - 0.5, 0.0).astype(np.float32)
    i0 = src.astype(np.int64)
    i1 = np.minimum(i0 + 1, in_size - 1)
    lam = (src - i0.astype(np.float32)).astype(np.float32)
    return i0, i1, lam


def model_window(full: Window, frame: Frame) -> Window:
    """The model-frame crop M2M must see to produce `full` exactly: bilinear sources plus the receptive field."""
    (h, w), (newh, neww) = frame.original, frame.resized
    r0, _, _ = _source_index(h, newh, np.array([full.y0]))
    _, r1, _ = _source_index(h, newh, np.array([full.y1 - 1]))
    c0, _, _ = _source_index(w, neww, np.array([full.x0]))
    _, c1, _ = _source_index(w, neww, np.array([full.x1 - 1]))

    def grow(lo: int, hi: int) -> tuple[int, int]:
        lo = max((lo - M2M_MARGIN) // ALIGN * ALIGN, 0)
        hi = min(-(-(hi + 1 + M2M_MARGIN) // ALIGN) * ALIGN, TARGET)
        return lo, hi

    y0, y1 = grow(int(r0[0]), int(r1[0]))
    x0, x1 = grow(int(c0[0]), int(c1[0]))
    return Window(y0, y1, x0, x1)


def resize_window(src: torch.Tensor, src_window: Window, resized: tuple[int, int], original: tuple[int, int],
                  out: Window) -> torch.Tensor:
    """Rows/cols `out` of F.interpolate(frame[:newh, :neww], original, bilinear), computed from a crop of the frame.

    `src` (C×h×w) holds the model-frame pixels of `src_window`; the result is C×(out rows)×(out cols).
    """
    (newh, neww), (h, w) = resized, original
    y0, y1, ly = _source_index(h, newh, np.arange(out.y0, out.y1))
    x0, x1, lx = _source_index(w, neww, np.arange(out.x0, out.x1))
    dev = src.device
    ry0, ry1 = torch.from_numpy(y0 - src_window.y0).to(dev), torch.from_numpy(y1 - src_window.y0).to(dev)
    rx0, rx1 = torch.from_numpy(x0 - src_window.x0).to(dev), torch.from_numpy(x1 - src_window.x0).to(dev)
    wy = torch.from_numpy(ly).to(dev).view(1, -1, 1)
    wx = torch.from_numpy(lx).to(dev).view(1, 1, -1)
    # Columns first, on the source rows only (a few hundred at most), then rows: the same products and sums as
    # interpolating each output pixel from its four sources (so the same float32 numbers), without gathering
    # four full-resolution copies of the window on a large canvas.
    rows_used = torch.unique(torch.cat((ry0, ry1)))
    across = src[:, rows_used]
    across = across[:, :, rx0] * (1 - wx) + across[:, :, rx1] * wx
    position = torch.searchsorted(rows_used, torch.stack((ry0, ry1)))
    # In place: the same elementwise products and sum (so the same float32 numbers) with two full-size buffers
    # instead of five; on a 12-MP window each fresh buffer is 144 MB of page faults.
    top, bottom = across[:, position[0]], across[:, position[1]]
    top.mul_(1 - wy)
    bottom.mul_(wy)
    return top.add_(bottom)
