"""The Mask-to-Matte module: SAM features + image + coarse mask → alphas at three scales."""
from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

from .blocks import leaky, refine_head, stage
from .spectral import sn_upconv4x4


def _resize(x: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    if tuple(x.shape[-2:]) == size:
        return x
    return F.interpolate(x, size=size, mode="bilinear", align_corners=False)


def _to_alpha(logits: torch.Tensor) -> torch.Tensor:
    return (torch.tanh(logits) + 1.0) / 2.0


class M2M(nn.Module):
    def __init__(self, embed_channels: int = 256) -> None:
        super().__init__()
        self.layer2 = stage(embed_channels + 4, 128, 3)
        self.layer3 = stage(128 + 4, 64, 3)
        self.layer4 = stage(64 + 4, 32, 2)
        self.conv1 = sn_upconv4x4(32)
        self.bn1 = nn.BatchNorm2d(32)
        self.act = leaky()
        self.refine_OS8 = refine_head(128)
        self.refine_OS4 = refine_head(64)
        self.refine_OS1 = refine_head(32)

    def forward(
        self, x_os16: torch.Tensor, image: torch.Tensor, mask: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Returns (alpha_os1, alpha_os4, alpha_os8), each at the resolution of `image`.

        The network is fully convolutional: `image` is normally the padded 1024² frame, `x_os16` its 1/16 features
        and `mask` the 1/4 guide, but any consistent crop of the three works.
        """
        h, w = x_os16.shape[-2:]
        x = torch.cat((x_os16, _resize(image, (h, w)), _resize(mask, (h, w))), dim=1)
        x = self.layer2(x)
        logit_os8 = self.refine_OS8(x)
        x = torch.cat((x, _resize(image, (2 * h, 2 * w)), _resize(mask, (2 * h, 2 * w))), dim=1)
        x = self.layer3(x)
        logit_os4 = self.refine_OS4(x)
        x = torch.cat((x, _resize(image, (4 * h, 4 * w)), _resize(mask, (4 * h, 4 * w))), dim=1)
        x = self.layer4(x)
        x = self.act(self.bn1(self.conv1(x)))
        logit_os1 = self.refine_OS1(x)
        full = (16 * h, 16 * w)
        alpha_os8 = _to_alpha(_resize(logit_os8, full))
        alpha_os4 = _to_alpha(_resize(logit_os4, full))
        return _to_alpha(logit_os1), alpha_os4, alpha_os8
