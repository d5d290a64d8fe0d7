"""Loading M2M weights from the released MAM checkpoint layouts (MAM_SPEC §5)."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping

import torch

from mam_engine.weights.checkpoint_io import CheckpointError, load_checkpoint_file, load_state_dict_strictly

from .network import M2M

MODULE_PREFIX = "module."


@dataclass
class MamCheckpoint:
    """What a MAM file held: the M2M weights, and SAM's when the file is the older all-in-one layout."""

    path: Path
    layout: str  # "m2m" (mam_vit?.pth) or "all-in-one" (mam_sam_vitb.pth)
    m2m_state: dict[str, torch.Tensor]
    sam_state: dict[str, torch.Tensor] | None


def _strip(state: Mapping[str, Any], prefix: str) -> dict[str, Any]:
    return {k[len(prefix):]: v for k, v in state.items() if k.startswith(prefix)}


def read_mam_checkpoint(path: str | Path) -> MamCheckpoint:
    path = Path(path)
    raw = load_checkpoint_file(path)
    if not isinstance(raw, dict):
        raise CheckpointError(f"{path}: expected a dict checkpoint, found {type(raw).__name__}")
    state = raw.get("state_dict", raw)
    if not isinstance(state, dict) or not state:
        raise CheckpointError(f"{path}: no 'state_dict' with tensors in it")
    if all(k.startswith(MODULE_PREFIX) for k in state):
        state = _strip(state, MODULE_PREFIX)
    if any(k.startswith("m2m.") for k in state):
        sam_state = _strip(state, "seg_model.")
        others = sorted(k for k in state if not k.startswith(("m2m.", "seg_model.")))
        if others:
            raise CheckpointError(f"{path}: all-in-one layout with unexpected key {others[0]!r}")
        return MamCheckpoint(path, "all-in-one", _strip(state, "m2m."), sam_state or None)
    return MamCheckpoint(path, "m2m", dict(state), None)


def load_m2m(path: str | Path) -> tuple[M2M, MamCheckpoint]:
    """Builds M2M and loads it strictly; also returns what the file held (SAM weights for the older layout)."""
    ckpt = read_mam_checkpoint(path)
    model = M2M()
    load_state_dict_strictly(model, ckpt.m2m_state, f"{path} ({ckpt.layout} layout)")
    return model.eval(), ckpt
