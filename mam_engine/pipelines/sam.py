"""Backend "sam": Segment Anything's mask alone (loads only the SAM checkpoint); pair it with the classic refinement.

The networks are imported when a pipeline is built, not with this module, so choosing and validating by backend
name (the CLI does it before anything loads) costs no torch import.
"""
from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from mam_engine.model.sam_configs import SAM_CONFIGS
from mam_engine.pipelines.base import (
    EngineSettings,
    Pipeline,
    ProgressCallback,
    Segmentation,
)
from mam_engine.request import Prompt
from mam_engine.weights.catalog import find_checkpoint

if TYPE_CHECKING:
    import torch

    from mam_engine.model.m2m import M2M


class SamPipeline(Pipeline):
    name = "sam"
    has_encoder = True
    mode = "SAM (Segment Anything mask, no Mask-to-Matte)"

    @classmethod
    def check_settings(cls, settings: EngineSettings) -> None:
        if settings.model_type not in SAM_CONFIGS:
            raise ValueError(f"unknown model_type {settings.model_type!r}; choose one of {', '.join(SAM_CONFIGS)}")

    def __init__(self, settings: EngineSettings) -> None:
        import torch

        from mam_engine.model.predictor import MattePredictor
        from mam_engine.model.sam_loader import build_sam

        super().__init__(settings)
        self.info: dict[str, object] = {}
        if settings.random_weights_seed is not None:
            with torch.random.fork_rng(devices=[]):
                torch.manual_seed(settings.random_weights_seed)
                sam, m2m = build_sam(settings.model_type), self.random_m2m()
            self.info["weights"] = f"random (seed {settings.random_weights_seed})"
        else:
            sam, m2m = self.load_networks(settings)
        self.predictor = MattePredictor(sam, m2m, settings.device, settings.path, settings.precision,
                                        settings.cache_bytes)

    def random_m2m(self) -> M2M | None:
        return None

    def load_networks(self, settings: EngineSettings) -> tuple[torch.nn.Module, M2M | None]:
        from mam_engine.model.sam_loader import load_sam

        path = Path(settings.sam_checkpoint or find_checkpoint("sam", settings.model_type))
        self.info.update(weights="checkpoints", sam_checkpoint=str(path))
        return load_sam(settings.model_type, path), None

    def describe(self) -> dict[str, object]:
        p = self.predictor
        return {"backend": self.name, "model_type": self.settings.model_type, "device": str(p.device),
                "path": p.path, "precision": p.precision, **self.info, "cache": p.cache.stats()}

    def has_embedding(self, key: str) -> bool:
        return key in self.predictor.cache

    def encode_ahead(self, image: np.ndarray, key: str) -> None:
        self._synced(self.predictor.set_image, image, key)

    def segment(self, image: np.ndarray, key: str | None, prompt: Prompt, report: ProgressCallback) -> Segmentation:
        p = self.predictor
        encoded = p.cached(image, key)
        if encoded is None:
            report("encode", 0.0)
            encoded = self.timed("encode", self._synced, p.set_image, image, key)
        report("decode", 0.6)
        prediction = self.timed("decode", self._synced, p.predict_mask, encoded, prompt)
        notes = [] if prediction.mask.any() else ["SAM found no subject for this prompt: the matte is empty"]
        return Segmentation(prediction.mask, prediction.score, notes, state=(encoded, prediction))

    def _synced(self, fn, *args):
        out = fn(*args)
        self.predictor.synchronize()
        return out
