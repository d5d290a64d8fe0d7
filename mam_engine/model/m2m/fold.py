"""An inference copy of M2M with spectral norm and BatchNorm folded into plain convolutions.

Same function (up to float rounding), fewer passes over the activations: each conv+BN pair becomes one conv with bias,
and the spectral-norm division happens once instead of on every call.
"""
from __future__ import annotations

import copy

import torch
from torch import nn

from .blocks import ResBlock
from .network import M2M
from .spectral import SpectralConv


def _plain(conv: SpectralConv) -> nn.Module:
    w = conv.effective_weight().detach()
    if conv.transposed:
        plain = nn.ConvTranspose2d(w.shape[0], w.shape[1], w.shape[2], conv.stride, conv.padding, bias=True)
    else:
        plain = nn.Conv2d(w.shape[1], w.shape[0], w.shape[2], conv.stride, conv.padding, bias=True)
    plain.weight.data.copy_(w)
    plain.bias.data.zero_()
    return plain


def _fold_bn(conv: nn.Module, bn: nn.BatchNorm2d) -> nn.Module:
    """conv then eval-mode BN == conv with per-output-channel scaled weight and shifted bias."""
    if isinstance(conv, SpectralConv):
        conv = _plain(conv)
    scale = bn.weight / torch.sqrt(bn.running_var + bn.eps)
    out_dim = 1 if isinstance(conv, nn.ConvTranspose2d) else 0
    shape = [1] * conv.weight.dim()
    shape[out_dim] = -1
    conv.weight.data.mul_(scale.view(shape))
    bias = conv.bias.data if conv.bias is not None else torch.zeros_like(bn.running_mean)
    conv.bias = nn.Parameter((bias - bn.running_mean) * scale + bn.bias)
    return conv


def fold_for_inference(model: M2M) -> M2M:
    folded = copy.deepcopy(model).eval()
    with torch.no_grad():
        for block in folded.modules():
            if isinstance(block, ResBlock):
                block.conv1, block.bn1 = _fold_bn(block.conv1, block.bn1), nn.Identity()
                block.conv2, block.bn2 = _fold_bn(block.conv2, block.bn2), nn.Identity()
                if block.upsample is not None:
                    block.upsample[1] = _fold_bn(block.upsample[1], block.upsample[2])
                    block.upsample[2] = nn.Identity()
        folded.conv1, folded.bn1 = _fold_bn(folded.conv1, folded.bn1), nn.Identity()
        for head in (folded.refine_OS8, folded.refine_OS4, folded.refine_OS1):
            head[0], head[1] = _fold_bn(head[0], head[1]), nn.Identity()
    return folded
