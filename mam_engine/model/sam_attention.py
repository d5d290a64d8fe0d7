"""A faster, numerically equivalent attention for SAM's image encoder.

SAM writes its attention out by hand: the (tokens × tokens) logits, then its decomposed relative-position terms
added in place, then a separate softmax and product, each a pass over a 4096² matrix per head in the global blocks.
Handing the relative-position terms to torch's fused scaled-dot-product attention as an additive mask does the same
arithmetic in one fused kernel (measured about 3× faster per global block on a 2-core CPU).
"""
from __future__ import annotations

import threading
import types

import torch
from torch import nn
from torch.nn import functional as F


def _rel_table(size: int, rel_pos: torch.Tensor) -> torch.Tensor:
    """(q index, k index, C) relative-position embeddings for query and key grids of equal `size` (SAM's case)."""
    coords = torch.arange(size, device=rel_pos.device)
    return rel_pos[(coords[:, None] - coords[None, :]) + (size - 1)]


# The additive mask is built a few heads at a time into a reused buffer: a fresh 4096² × 12-head tensor per block
# costs more in page faults than the attention itself. One buffer per shape and thread, shared by all blocks.
BIAS_BUFFER_BYTES = 256 << 20
_buffers = threading.local()


def _bias_buffer(shape: tuple[int, ...], like: torch.Tensor) -> torch.Tensor:
    cache = _buffers.__dict__.setdefault("by_key", {})
    key = (shape, like.dtype, like.device)
    if key not in cache:
        cache[key] = torch.empty(shape, dtype=like.dtype, device=like.device)
    return cache[key]


def _fast_forward(self: nn.Module, x: torch.Tensor) -> torch.Tensor:
    b, h, w, _ = x.shape
    heads, tokens = self.num_heads, h * w
    qkv = self.qkv(x).reshape(b, tokens, 3, heads, -1).permute(2, 0, 3, 1, 4)
    q, k, v = qkv.unbind(0)  # b, heads, tokens, c
    if self.rel_pos_h.shape[0] != 2 * h - 1 or self.rel_pos_w.shape[0] != 2 * w - 1:
        raise ValueError("relative-position tables do not match the token grid")
    grid_q = q.reshape(b, heads, h, w, -1)
    rel_h = torch.einsum("bnhwc,hkc->bnhwk", grid_q, _rel_table(h, self.rel_pos_h)).unsqueeze(-1)
    rel_w = torch.einsum("bnhwc,wkc->bnhwk", grid_q, _rel_table(w, self.rel_pos_w)).unsqueeze(-2)
    group = max(1, min(heads, BIAS_BUFFER_BYTES // (b * tokens * tokens * q.element_size())))
    buffer = _bias_buffer((group, b, tokens, tokens), q)
    out = torch.empty_like(q)
    for first in range(0, heads, group):
        last = min(first + group, heads)
        for i, head in enumerate(range(first, last)):
            torch.add(rel_h[:, head], rel_w[:, head], out=buffer[i].view(b, h, w, h, w))
        bias = buffer[: last - first].transpose(0, 1)
        out[:, first:last] = F.scaled_dot_product_attention(
            q[:, first:last], k[:, first:last], v[:, first:last], attn_mask=bias, scale=self.scale
        )
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
