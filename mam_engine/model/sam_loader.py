"""Builds Segment Anything models from segment_anything's own modeling code.

`segment_anything/__init__.py` imports torchvision (for SamPredictor), which is absent or broken next to some torch
builds. The network code in `segment_anything.modeling` does not need it: where the package import fails we load that
subpackage without running the package `__init__`; the networks and numbers are the same either way.
"""
from __future__ import annotations

import importlib
import importlib.util
import sys
import types
from functools import partial
from pathlib import Path
from typing import Mapping

import torch

from mam_engine.model.sam_configs import SAM_CONFIGS
from mam_engine.weights.checkpoint_io import (
    load_checkpoint_file,
    load_state_dict_strictly,
)


def _sam_modeling() -> types.ModuleType:
    try:
        import segment_anything  # the whole package, where torchvision imports

        return segment_anything.modeling
    except Exception:  # ImportError, or the RuntimeError of a torchvision built for another torch
        for name in [n for n in sys.modules if n == "segment_anything" or n.startswith("segment_anything.")]:
            del sys.modules[name]
    spec = importlib.util.find_spec("segment_anything")
    if spec is None or not spec.submodule_search_locations:
        raise ImportError("segment-anything is not installed: pip install segment-anything")
    shell = types.ModuleType("segment_anything")
    shell.__path__ = list(spec.submodule_search_locations)
    shell.__spec__ = spec
    sys.modules["segment_anything"] = shell
    try:
        return importlib.import_module("segment_anything.modeling")
    finally:
        # Leave no half package behind: a later `import segment_anything` elsewhere runs the real __init__.
        del sys.modules["segment_anything"]


IMAGE_SIZE = 1024
PATCH_SIZE = 16
PROMPT_DIM = 256


def build_sam(model_type: str) -> torch.nn.Module:
    """An untrained SAM of the given size, in eval mode; weights come from `load_sam_weights`."""
    if model_type not in SAM_CONFIGS:
        raise ValueError(f"unknown model_type {model_type!r}; choose one of {', '.join(SAM_CONFIGS)}")
    cfg = SAM_CONFIGS[model_type]
    m = _sam_modeling()
    grid = IMAGE_SIZE // PATCH_SIZE
    sam = m.Sam(
        image_encoder=m.ImageEncoderViT(
            depth=cfg.depth,
            embed_dim=cfg.embed_dim,
            img_size=IMAGE_SIZE,
            mlp_ratio=4,
            norm_layer=partial(torch.nn.LayerNorm, eps=1e-6),
            num_heads=cfg.num_heads,
            patch_size=PATCH_SIZE,
            qkv_bias=True,
            use_rel_pos=True,
            global_attn_indexes=cfg.global_attn_indexes,
            window_size=14,
            out_chans=PROMPT_DIM,
        ),
        prompt_encoder=m.PromptEncoder(
            embed_dim=PROMPT_DIM,
            image_embedding_size=(grid, grid),
            input_image_size=(IMAGE_SIZE, IMAGE_SIZE),
            mask_in_chans=16,
        ),
        mask_decoder=m.MaskDecoder(
            num_multimask_outputs=3,
            transformer=m.TwoWayTransformer(
                depth=2, embedding_dim=PROMPT_DIM, mlp_dim=cfg.decoder_mlp_dim, num_heads=8
            ),
            transformer_dim=PROMPT_DIM,
            iou_head_depth=3,
            iou_head_hidden_dim=256,
        ),
        pixel_mean=[123.675, 116.28, 103.53],
        pixel_std=[58.395, 57.12, 57.375],
    )
    return sam.eval()


def load_sam_weights(sam: torch.nn.Module, state_dict: Mapping[str, torch.Tensor], source: str) -> None:
    """Official SAM files load with no key renames, strictly."""
    load_state_dict_strictly(sam, state_dict, source)


def load_sam(model_type: str, checkpoint: str | Path) -> torch.nn.Module:
    sam = build_sam(model_type)
    state = load_checkpoint_file(checkpoint)
    if isinstance(state, dict) and "state_dict" in state and isinstance(state["state_dict"], dict):
        state = state["state_dict"]
    load_sam_weights(sam, state, str(checkpoint))
    return sam
