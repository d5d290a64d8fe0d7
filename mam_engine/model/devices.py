"""Choosing the torch device the user asked for, with a clear error when it is not there."""
from __future__ import annotations

import torch

DEVICE_CHOICES = ("auto", "cuda", "mps", "cpu")


def _mps_available() -> bool:
    backend = getattr(torch.backends, "mps", None)
    return bool(backend and backend.is_available())


def resolve_device(name: str = "auto") -> torch.device:
    base = name.split(":", 1)[0]
    if base not in DEVICE_CHOICES:
        raise ValueError(f"unknown device {name!r}; choose one of {', '.join(DEVICE_CHOICES)} (or cuda:N)")
    if base == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        return torch.device("mps") if _mps_available() else torch.device("cpu")
    if base == "cuda" and not torch.cuda.is_available():
        raise RuntimeError("device 'cuda' requested but this torch build sees no CUDA GPU (see README: CUDA)")
    if base == "mps" and not _mps_available():
        raise RuntimeError("device 'mps' requested but Apple's Metal backend is not available here")
    return torch.device(name)
