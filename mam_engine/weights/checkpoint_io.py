"""Reading checkpoint files and loading them strictly, with errors that name the file and the key."""
from __future__ import annotations

import logging
import pickle
from pathlib import Path
from typing import Any, Mapping

import torch

log = logging.getLogger(__name__)


class CheckpointError(ValueError):
    """A checkpoint file that is unreadable, of the wrong layout, or does not match the network."""


def load_checkpoint_file(path: str | Path) -> Any:
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"checkpoint not found: {path}")
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as safe_error:
        # Training checkpoints may pickle optimiser/scheduler objects the safe loader refuses. The user chose
        # this file explicitly, so fall back to the full unpickler, and say so.
        log.warning("%s holds objects beyond tensors (%s); loading it with the full unpickler", path, safe_error)
    except Exception as exc:
        raise CheckpointError(f"{path}: not a readable PyTorch checkpoint (truncated or corrupt?): {exc}") from exc
    try:
        return torch.load(path, map_location="cpu", weights_only=False)
    except Exception as exc:
        raise CheckpointError(f"{path}: not a readable PyTorch checkpoint (truncated or corrupt?): {exc}") from exc


def load_state_dict_strictly(module: torch.nn.Module, state: Mapping[str, Any], source: str) -> None:
    """Refuses any missing, unexpected or mis-shaped key before touching the module."""
    expected = module.state_dict()
    missing = sorted(set(expected) - set(state))
    unexpected = sorted(set(state) - set(expected))
    if missing:
        raise CheckpointError(f"{source}: missing key {missing[0]!r} ({len(missing)} missing in all)")
    if unexpected:
        raise CheckpointError(f"{source}: unexpected key {unexpected[0]!r} ({len(unexpected)} unexpected in all)")
    for key, target in expected.items():
        value = state[key]
        if not isinstance(value, torch.Tensor):
            raise CheckpointError(f"{source}: key {key!r} is a {type(value).__name__}, not a tensor")
        if tuple(value.shape) != tuple(target.shape):
            raise CheckpointError(
                f"{source}: key {key!r} has shape {tuple(value.shape)}, the network expects {tuple(target.shape)}"
            )
    module.load_state_dict(state, strict=True)
