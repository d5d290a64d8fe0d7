"""The residual decoder block of M2M (MAM_SPEC §4)."""
from __future__ import annotations

import torch
from torch import nn

from .spectral import sn_conv1x1, sn_conv3x3, sn_upconv4x4

LEAKY_SLOPE = 0.2


def leaky() -> nn.LeakyReLU:
    return nn.LeakyReLU(LEAKY_SLOPE, inplace=True)


class ResBlock(nn.Module):
    """conv1-bn1-act-conv2-bn2 plus shortcut, then act; the first block of a stage upsamples ×2."""

    def __init__(self, inplanes: int, planes: int, upsample: bool) -> None:
        super().__init__()
        if upsample:
            self.conv1 = sn_upconv4x4(inplanes)
            self.bn1 = nn.BatchNorm2d(inplanes)
            self.conv2 = sn_conv3x3(inplanes, planes)
            self.upsample: nn.Sequential | None = nn.Sequential(
                nn.Upsample(scale_factor=2, mode="nearest"),
                sn_conv1x1(inplanes, planes),
                nn.BatchNorm2d(planes),
            )
        else:
            self.conv1 = sn_conv3x3(planes, planes)
            self.bn1 = nn.BatchNorm2d(planes)
            self.conv2 = sn_conv3x3(planes, planes)
            self.upsample = None
        self.bn2 = nn.BatchNorm2d(planes)
        self.act = leaky()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        identity = x if self.upsample is None else self.upsample(x)
        out = self.act(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return self.act(out + identity)


def stage(inplanes: int, planes: int, blocks: int) -> nn.Sequential:
    rest = (ResBlock(planes, planes, False) for _ in range(blocks - 1))
    return nn.Sequential(ResBlock(inplanes, planes, upsample=True), *rest)


def refine_head(channels: int) -> nn.Sequential:
    """conv3x3 → BN → act → conv3x3 (with bias) to one logit channel; keys 0, 1, 3."""
    return nn.Sequential(
        nn.Conv2d(channels, 32, 3, padding=1, bias=False),
        nn.BatchNorm2d(32),
        leaky(),
        nn.Conv2d(32, 1, 3, padding=1, bias=True),
    )
