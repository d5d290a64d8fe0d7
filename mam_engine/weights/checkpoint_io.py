"""Reading checkpoint files and loading them strictly, with errors that name the file and the key."""
from __future__ import annotations

import pickle
import re
from pathlib import Path
from typing import Any, Callable, Mapping

import torch

# Types a checkpoint may hold BEYOND what torch's weights-only unpickler accepts by default (tensors, storages, dicts,
# OrderedDicts, lists, tuples, str/int/float/bool/None, torch.Size, dtypes, devices). Nothing else is ever unpickled:
# there is no fallback to the full unpickler, which runs whatever code a .pth names.
#
# What the supported files hold (MAM_SPEC §5 and the reference trainer's save_model):
# - the official SAM files (sam_vit_{b,l,h}_*.pth): a plain dict of tensors;
# - mam_vitb/l/h.pth and the all-in-one mam_sam_vitb.pth: {"iter": int, "loss": tensor (requires_grad),
#   "state_dict": OrderedDict of tensors, "opt_state_dict": Adam.state_dict() (ints, floats, bools, None, lists,
#   tensors), "lr_state_dict": CosineAnnealingLR.state_dict() (ints, floats, bools, lists)}.
# All of that is in torch's default set, so the list is empty. Should a file of the official layouts ever need a
# type, add exactly that type here (and a checkpoint holding it to tests/test_checkpoint_safety.py); it is granted
# only for the duration of our own load, through torch.serialization.safe_globals, never process-wide.
EXTRA_SAFE_GLOBALS: tuple[Callable[..., Any], ...] = ()

# torch's weights-only refusals name the global: "Unsupported global: GLOBAL pathlib.Path.touch was not an allowed
# global by default" or, for a blocked module, "Trying to load unsupported GLOBAL posix.system whose module ...".
_REFUSED_GLOBAL = re.compile(r"\bGLOBAL\s+([A-Za-z_][\w.]*)")
_REFUSED_CALL = re.compile(r"(?:unrecognized function|got) (<[^>]*>|\S+)")


class CheckpointError(ValueError):
    """A checkpoint file that is unreadable, of the wrong layout, or does not match the network."""


def _refused_type(path: Path, message: str) -> str | None:
    """The global torch's weights-only unpickler refused, from its message, else from a scan of the pickle."""
    found = _REFUSED_GLOBAL.search(message)
    if found:
        return found.group(1)
    if "allowlisted" in message or "unrecognized function" in message:
        found = _REFUSED_CALL.search(message)
        if found:
            return found.group(1)
    try:  # reads the pickle's opcodes only, runs nothing
        with torch.serialization.safe_globals(list(EXTRA_SAFE_GLOBALS)):
            unsafe = torch.serialization.get_unsafe_globals_in_checkpoint(path)
    except Exception:
        return None
    return ", ".join(unsafe) if unsafe else None


def load_checkpoint_file(path: str | Path) -> Any:
    """Loads a .pth with torch's weights-only unpickler (plus EXTRA_SAFE_GLOBALS) onto the CPU.

    A file whose pickle names any other type or function is refused with a CheckpointError naming the file and the
    type: weights are tensors, and a pickle that names e.g. `posix.system` would run it when fully unpickled.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"checkpoint not found: {path}")
    try:
        with torch.serialization.safe_globals(list(EXTRA_SAFE_GLOBALS)):
            return torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:
        refused = _refused_type(path, str(exc))
        if refused is None:
            raise CheckpointError(f"{path}: not a readable PyTorch checkpoint (truncated or corrupt?): {exc}") from None
        raise CheckpointError(
            f"{path}: refused to load: the file holds objects beyond weights (refused type: {refused}). "
            "Only tensors and plain containers are loaded from checkpoints, since other objects in a .pth can run "
            "code when it is opened. Use the official SAM and MAM checkpoint files."
        ) from None
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
