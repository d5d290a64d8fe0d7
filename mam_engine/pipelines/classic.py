"""Backend "classic": GrabCut + the closed-form edge refinement. No weights at all, so it works before any download."""
from __future__ import annotations

import numpy as np

from mam_engine.classic.grabcut import grabcut
from mam_engine.pipelines.base import (
    EngineSettings,
    Pipeline,
    ProgressCallback,
    Segmentation,
)
from mam_engine.request import Prompt


class ClassicPipeline(Pipeline):
    name = "classic"
    mode = "classic (GrabCut + closed-form matting, no neural weights)"
    always_refines = True

    @classmethod
    def check_settings(cls, settings: EngineSettings) -> None:
        if settings.random_weights_seed is not None or settings.sam_checkpoint or settings.m2m_checkpoint:
            raise ValueError("--backend classic uses no neural weights; drop --random-weights, --sam-checkpoint and "
                             "--m2m-checkpoint")

    def describe(self) -> dict[str, object]:
        return {"backend": self.name, "device": "cpu", "weights": "none (classic backend: GrabCut + closed-form "
                                                                  "matting)"}

    def segment(self, image: np.ndarray, key: str | None, prompt: Prompt, report: ProgressCallback) -> Segmentation:
        """Score 0.0: GrabCut has no confidence."""
        report("segment", 0.0)
        seg = self.timed("segment", grabcut, image, prompt.box, prompt.points or None, prompt.mask)
        return Segmentation(mask=seg.mask, score=0.0, notes=list(seg.notes))
