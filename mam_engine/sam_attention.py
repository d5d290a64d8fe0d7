"""A faster, numerically equivalent attention for SAM's image encoder.

SAM adds decomposed relative-position terms to the attention logits, which forces it to materialise the full
(tokens × tokens) matrix per head — 4096² in the global blocks. Those terms are dot products of the query with a
table indexed by the key's row and column, so they fold into the dot product itself: append the two tables'
projections to each query and one-hot row/column codes to each key. The logits are then exactly
scale·q·k + rel_h + rel_w, and torch's fused scaled-dot-product attention can run without the big matrix.
"""
from __future__ import annotations

import types

import torch
from torch import nn
from torch.nn import functional as F


def _rel_table(size: int, rel_pos: torch.Tensor) -> torch.Tensor:
    """(q index, k index, C) relative-position embeddings for query and key grids of equal `size` (SAM's case)."""
    coords = torch.arange(size, device=rel_pos.device)
    return rel_pos[(coords[:, None] - coords[None, :]) + (size - 1)]


def _fast_forward(self: nn.Module, x: torch.Tensor) -> torch.Tensor:
    b, h, w, _ = x.shape
    heads = self.num_heads
    qkv = self.qkv(x).reshape(b, h * w, 3, heads, -1).permute(2, 0, 3, 1, 4)
    q, k, v = qkv.unbind(0)  # b, heads, h*w, c
    if self.rel_pos_h.shape[0] != 2 * h - 1 or self.rel_pos_w.shape[0] != 2 * w - 1:
        raise ValueError("relative-position tables do not match the token grid")
    grid_q = q.reshape(b, heads, h, w, -1)
    rel_h = torch.einsum("bnhwc,hkc->bnhwk", grid_q, _rel_table(h, self.rel_pos_h)).reshape(b, heads, h * w, h)
    rel_w = torch.einsum("bnhwc,wkc->bnhwk", grid_q, _rel_table(w, self.rel_pos_w)).reshape(b, heads, h * w, w)
    rows = torch.arange(h * w, device=x.device)
    codes = torch.cat((F.one_hot(rows // w, h), F.one_hot(rows % w, w)), dim=-1).to(q.dtype)
    q_aug = torch.cat((q * self.scale, rel_h, rel_w), dim=-1)
    k_aug = torch.cat((k, codes.expand(b, heads, -1, -1)), dim=-1)
    out = F.scaled_dot_product_attention(q_aug, k_aug, v, scale=1.0)
    out = out.view(b, heads, h, w, -1).permute(0, 2, 3, 1, 4).reshape(b, h, w, -1)
    return self.proj(out)


def use_fast_attention(image_encoder: nn.Module) -> int:
    """Switches every relative-position attention in the encoder to the fused form; returns how many."""
    count = 0
    for module in image_encoder.modules():
        if getattr(module, "use_rel_pos", False) and hasattr(module, "qkv"):
            module.forward = types.MethodType(_fast_forward, module)
            count += 1
    return count
