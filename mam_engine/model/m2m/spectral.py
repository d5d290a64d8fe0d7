"""Convolutions stored the way MAM's checkpoints store spectrally normalised weights.

The checkpoint keeps the raw weight (`weight_bar`) and the power-iteration vectors `u`, `v`; at inference the
effective weight is weight_bar / sigma with sigma = u . (weight_bar.view(dim0, -1) @ v), no further iteration.
"""
from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F


class _SNWeights(nn.Module):
    def __init__(self, weight_shape: tuple[int, ...]) -> None:
        super().__init__()
        dim0 = weight_shape[0]
        rest = 1
        for n in weight_shape[1:]:
            rest *= n
        self.weight_bar = nn.Parameter(torch.empty(weight_shape))
        nn.init.kaiming_uniform_(self.weight_bar, a=5**0.5)
        u, v = _power_iteration(self.weight_bar.detach().reshape(dim0, rest))
        self.weight_u = nn.Parameter(u, requires_grad=False)
        self.weight_v = nn.Parameter(v, requires_grad=False)


def _power_iteration(w: torch.Tensor, steps: int = 20) -> tuple[torch.Tensor, torch.Tensor]:
    """Converged singular vectors, as a trained checkpoint holds them; random u, v would make sigma tiny."""
    v = F.normalize(torch.randn(w.shape[1]), dim=0)
    for _ in range(steps):
        u = F.normalize(w @ v, dim=0)
        v = F.normalize(w.t() @ u, dim=0)
    return u, v


class SpectralConv(nn.Module):
    """A bias-free Conv2d or ConvTranspose2d whose weight is held in spectral-norm form under `module.`."""

    def __init__(
        self, in_ch: int, out_ch: int, kernel: int, stride: int = 1, padding: int = 0, transposed: bool = False
    ) -> None:
        super().__init__()
        shape = (in_ch, out_ch, kernel, kernel) if transposed else (out_ch, in_ch, kernel, kernel)
        self.module = _SNWeights(shape)
        self.stride = stride
        self.padding = padding
        self.transposed = transposed

    def effective_weight(self) -> torch.Tensor:
        w = self.module.weight_bar
        sigma = torch.dot(self.module.weight_u, w.reshape(w.shape[0], -1) @ self.module.weight_v)
        return w / sigma

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        w = self.effective_weight()
        if self.transposed:
            return F.conv_transpose2d(x, w, stride=self.stride, padding=self.padding)
        return F.conv2d(x, w, stride=self.stride, padding=self.padding)


def sn_conv3x3(in_ch: int, out_ch: int) -> SpectralConv:
    return SpectralConv(in_ch, out_ch, 3, padding=1)


def sn_conv1x1(in_ch: int, out_ch: int) -> SpectralConv:
    return SpectralConv(in_ch, out_ch, 1)


def sn_upconv4x4(channels: int) -> SpectralConv:
    """Doubles the resolution: ConvTranspose2d(k4, s2, p1)."""
    return SpectralConv(channels, channels, 4, stride=2, padding=1, transposed=True)
