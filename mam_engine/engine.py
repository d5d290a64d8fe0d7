"""MattingEngine: a backend pipeline chosen by name behind one call, each request validated before any work."""
from __future__ import annotations

import threading
import time
from dataclasses import asdict
from typing import Any, Callable

import numpy as np

from mam_engine.detect.stage import text_available
from mam_engine.model.embedding_cache import image_digest
from mam_engine.pipelines import EngineSettings, MatteResult, Pipeline, build_pipeline
from mam_engine.request import NO_LIMITS, Limits, MatteRequest, check_image_array, check_request
from mam_engine.weights.catalog import DEFAULT_DETECTOR

ProgressCallback = Callable[[str, float], None]


class MattingEngine:
    def __init__(
        self,
        sam_checkpoint: str | None = None,
        m2m_checkpoint: str | None = None,
        model_type: str = "vit_b",
        device: str = "auto",
        cache_bytes: int = 1 << 30,
        random_weights_seed: int | None = None,
        path: str = "fast",
        precision: str = "fp32",
        backend: str = "mam",
        detector: str = DEFAULT_DETECTOR,
        detector_checkpoint: str | None = None,
    ) -> None:
        """backend: "mam" (SAM + M2M, the reference), "sam" (SAM's mask only, for refine="classic"), or "classic"
        (GrabCut + matting Laplacian: no weights at all). Each loads only the weights it uses.

        detector / detector_checkpoint: the text detector (a name in the weights folder, or a transformers model
        folder); it loads on the first text prompt, so an engine never asked for text never imports transformers."""
        settings = EngineSettings(model_type=model_type, device=device,
                                  sam_checkpoint=None if sam_checkpoint is None else str(sam_checkpoint),
                                  m2m_checkpoint=None if m2m_checkpoint is None else str(m2m_checkpoint),
                                  random_weights_seed=random_weights_seed, path=path, precision=precision,
                                  cache_bytes=cache_bytes, detector=detector,
                                  detector_checkpoint=None if detector_checkpoint is None else str(detector_checkpoint))
        self.backend = backend
        self.pipeline: Pipeline = build_pipeline(backend, settings)
        self._lock = threading.Lock()

    @classmethod
    def from_settings(cls, settings: EngineSettings, backend: str = "mam") -> MattingEngine:
        return cls(**asdict(settings), backend=backend)

    def describe(self) -> dict[str, object]:
        return {"loaded": True, "mode": self.pipeline.mode, **self.pipeline.describe()}

    def has_embedding(self, key: str) -> bool:
        return self.pipeline.has_embedding(key)

    @property
    def can_prepare(self) -> bool:
        """The backend has an image embedding to compute ahead of the first prompt (not the classic one)."""
        return self.pipeline.has_encoder

    def prepare(self, image: np.ndarray, on_progress: ProgressCallback | None = None,
                image_key: str | None = None) -> dict[str, float] | None:
        """Encode `image` into the embedding cache, so its first prompt costs only the decoder, M2M and fusion.

        Returns the stage timings (`{}` when the embedding was cached already), or None for a backend without an
        embedding (classic). The encoder is one call: `on_progress` may stop the work before it, not inside it.
        """
        check_image_array(image)
        if not self.can_prepare:
            return None
        key = image_key or image_digest(image)
        report = on_progress or (lambda stage, fraction: None)
        with self._lock:
            if self.pipeline.has_embedding(key):
                return {}
            report("encode", 0.0)
            t0 = time.perf_counter()
            self.pipeline.encode_ahead(image, key)
            encode = time.perf_counter() - t0
        report("done", 1.0)
        return {"encode": encode}

    def text_available(self) -> bool:
        """Text prompts can run: the detector's files are present (checked on each call; nothing loads)."""
        return text_available(self.pipeline.settings)

    def check(self, width: Any, height: Any, limits: Limits = NO_LIMITS, **prompt_and_options: Any) -> MatteRequest:
        """Validate a request for a width×height image the way this engine's pipeline will run it."""
        if prompt_and_options.get("text") is not None:
            prompt_and_options.setdefault("text_available", self.text_available())
        return check_request(width, height, limits=limits, always_refines=self.pipeline.always_refines,
                             **prompt_and_options)

    def matte(
        self,
        image: np.ndarray,
        box: Any = None,
        points: Any = None,
        mask: np.ndarray | None = None,
        guidance: str = "alpha",
        on_progress: ProgressCallback | None = None,
        image_key: str | None = None,
        refine: str | None = None,
        refine_band: int | None = None,
        foreground: bool = False,
        text: str | None = None,
        box_threshold: float | None = None,
        text_threshold: float | None = None,
        instances: str | None = None,
    ) -> MatteResult:
        """One prompt on one image; the image encoder runs only if this image's embedding is not cached.

        refine="classic" re-solves a band around the edge at full resolution (refine_band: its half-width in px);
        foreground=True also returns the decontaminated subject colours in r.foreground.
        text="the dog" finds the subject by name (box_threshold / text_threshold default 0.25, the reference's);
        a box or points with it narrow the choice. instances="best" (default) mattes the most confident detection,
        "all" each one: r.instances holds them (box, score, label, alpha) and r.alpha is their union. Nothing
        found gives an empty alpha and a note in r.notes.
        """
        check_image_array(image)
        request = self.check(image.shape[1], image.shape[0], box=box, points=points, mask=mask, guidance=guidance,
                             refine=refine, refine_band=refine_band, foreground=foreground, text=text,
                             box_threshold=box_threshold, text_threshold=text_threshold, instances=instances)
        return self.run(image, request, on_progress, image_key)

    def run(self, image: np.ndarray, request: MatteRequest, on_progress: ProgressCallback | None = None,
            image_key: str | None = None) -> MatteResult:
        """A request already validated by `check` (the daemon validates before queueing, then runs it here)."""
        if (request.height, request.width) != image.shape[:2]:
            raise ValueError(f"the request is for a {request.width}×{request.height} image, got {image.shape[1]}×"
                             f"{image.shape[0]}")
        report = on_progress or (lambda stage, fraction: None)
        with self._lock:
            return self.pipeline.run(image, request, report, image_key or image_digest(image))
