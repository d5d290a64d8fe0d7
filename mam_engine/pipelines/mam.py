"""Backend "mam": SAM + Mask-to-Matte + MAM's fusion, the reference Matting Anything pipeline."""
from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from mam_engine.pipelines.base import EngineSettings, ProgressCallback, Segmentation
from mam_engine.pipelines.sam import SamPipeline
from mam_engine.weights.catalog import find_checkpoint

if TYPE_CHECKING:
    import torch

    from mam_engine.model.m2m import M2M


class MamPipeline(SamPipeline):
    name = "mam"
    mode = "MAM (Segment Anything + Mask-to-Matte)"

    def random_m2m(self) -> M2M:
        from mam_engine.model.m2m import M2M

        return M2M().eval()

    def load_networks(self, settings: EngineSettings) -> tuple[torch.nn.Module, M2M]:
        from mam_engine.model.m2m import load_m2m
        from mam_engine.model.sam_loader import build_sam, load_sam, load_sam_weights

        m2m_path = Path(settings.m2m_checkpoint or find_checkpoint("m2m", settings.model_type))
        m2m, ckpt = load_m2m(m2m_path)
        if settings.sam_checkpoint is None and ckpt.sam_state is not None and settings.model_type == "vit_b":
            sam = build_sam(settings.model_type)
            load_sam_weights(sam, ckpt.sam_state, f"{m2m_path} (SAM part of the all-in-one layout)")
            sam_source = str(m2m_path)
        else:
            sam_path = Path(settings.sam_checkpoint or find_checkpoint("sam", settings.model_type))
            sam, sam_source = load_sam(settings.model_type, sam_path), str(sam_path)
        self.info.update(weights="checkpoints", sam_checkpoint=sam_source, m2m_checkpoint=str(m2m_path),
                         m2m_layout=ckpt.layout)
        return sam, m2m

    def matte(self, image: np.ndarray, segmentation: Segmentation, guidance: str,
              report: ProgressCallback) -> np.ndarray:
        encoded, prediction = segmentation.state
        report("m2m", 0.7)
        return self.predictor.matte(encoded, prediction, guidance, self._timings)
