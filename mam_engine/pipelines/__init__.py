"""Backends by name. A new pipeline is one module and one line here; the others are not touched."""
from __future__ import annotations

import importlib

from mam_engine.pipelines.base import (
    EngineSettings,
    MatteResult,
    Pipeline,
    ProgressCallback,
    Segmentation,
    StopMatte,
)

__all__ = ["PIPELINES", "EngineSettings", "MatteResult", "Pipeline", "ProgressCallback", "Segmentation", "StopMatte",
           "build_pipeline", "pipeline_class"]

# name -> "module:Class", imported on use so a backend's dependencies load only when it is chosen.
PIPELINES = {
    "mam": "mam_engine.pipelines.mam:MamPipeline",
    "sam": "mam_engine.pipelines.sam:SamPipeline",
    "classic": "mam_engine.pipelines.classic:ClassicPipeline",
}


def pipeline_class(name: str) -> type[Pipeline]:
    if name not in PIPELINES:
        raise ValueError(f"unknown backend {name!r}; choose one of {', '.join(PIPELINES)}")
    module, _, cls = PIPELINES[name].partition(":")
    return getattr(importlib.import_module(module), cls)


def build_pipeline(name: str, settings: EngineSettings) -> Pipeline:
    return pipeline_class(name)(settings)
