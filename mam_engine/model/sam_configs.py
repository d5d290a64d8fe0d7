"""SAM's sizes as plain numbers, with no torch import, so a backend and model type are checked before loading."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Mapping


@dataclass(frozen=True)
class SamConfig:
    embed_dim: int
    depth: int
    num_heads: int
    global_attn_indexes: tuple[int, ...]
    decoder_mlp_dim: int = 2048


# The official sizes (as in segment_anything.build_sam) plus "tiny", a fast random stand-in for tests.
SAM_CONFIGS: Mapping[str, SamConfig] = {
    "vit_b": SamConfig(768, 12, 12, (2, 5, 8, 11)),
    "vit_l": SamConfig(1024, 24, 16, (5, 11, 17, 23)),
    "vit_h": SamConfig(1280, 32, 16, (7, 15, 23, 31)),
    "tiny": SamConfig(64, 2, 2, (1,), decoder_mlp_dim=256),
}
