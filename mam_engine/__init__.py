"""Matting Anything (SAM + Mask-to-Matte) as a library: image + box/points/mask → soft alpha matte.

The public names load on first use, so light commands (`mam-weights`) start without importing torch.
"""
from __future__ import annotations

import importlib
from typing import Any

__all__ = ["MattingEngine", "MatteResult", "MatteCancelled", "image_digest"]
__version__ = "0.1.0"

_HOMES = {"MattingEngine": "engine", "MatteResult": "engine", "MatteCancelled": "engine",
          "image_digest": "model.embedding_cache"}


def __getattr__(name: str) -> Any:
    if name in _HOMES:
        return getattr(importlib.import_module(f".{_HOMES[name]}", __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
