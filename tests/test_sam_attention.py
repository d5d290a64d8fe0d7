"""The fused encoder attention computes SAM's own attention (relative positions included)."""
import copy

import pytest
import torch

from mam_engine.model.sam_attention import use_fast_attention
from mam_engine.model.sam_loader import build_sam


@pytest.mark.parametrize("model_type", ["tiny", "vit_b"])
def test_encoder_output_unchanged(model_type):
    torch.manual_seed(0)
    encoder = build_sam(model_type).image_encoder
    with torch.no_grad():
        for name, p in encoder.named_parameters():
            if "rel_pos" in name:  # SAM zero-initialises them; trained ones are not zero
                p.normal_(0, 0.5)
    fast = copy.deepcopy(encoder)
    blocks = len(encoder.blocks)
    assert use_fast_attention(fast) == blocks
    x = torch.randn(1, 3, 1024, 1024) if model_type == "tiny" else torch.randn(1, 3, 1024, 1024) * 0.5
    if model_type == "vit_b":  # two blocks (one windowed, one global) keep the test quick
        encoder.blocks, fast.blocks = encoder.blocks[1:3], fast.blocks[1:3]
    with torch.inference_mode():
        a, b = encoder(x), fast(x)
    assert torch.allclose(a, b, atol=1e-4, rtol=1e-4)
    assert a.abs().max() > 0.1
