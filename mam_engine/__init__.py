"""Matting Anything (SAM + Mask-to-Matte) as a library: image + box/points/mask → soft alpha matte.

The public names load on first use, so light commands (`mam-weights`, request validation) start without torch.
"""
from __future__ import annotations

import importlib
from typing import Any

__all__ = ["MattingEngine", "MatteResult", "StopMatte", "RequestError", "image_digest", "__version__"]
__version__ = "0.2.0"  # the one version source: pyproject.toml and the daemon's hello read it

_HOMES = {"MattingEngine": "engine", "MatteResult": "pipelines", "StopMatte": "pipelines",
          "RequestError": "request", "image_digest": "model.embedding_cache"}


def __getattr__(name: str) -> Any:
    if name in _HOMES:
        return getattr(importlib.import_module(f".{_HOMES[name]}", __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
