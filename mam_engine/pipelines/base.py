"""The pipeline interface: segment → matte → refine → foreground, one object per backend.

A pipeline implements `segment` (and, when it has a matting network, `matte`); refinement and foreground
estimation are the same classical stages for all, run here. Each pipeline loads only the weights it uses.
"""
from __future__ import annotations

import time
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import Any, Callable, ClassVar, TypeVar

import numpy as np

from mam_engine.classic import refine as classic_refine
from mam_engine.classic.foreground import estimate_foreground
from mam_engine.request import MatteRequest, Prompt

ProgressCallback = Callable[[str, float], None]
# The progress stage a request reports while pymatting's kernels load or compile (first refinement of a process).
COMPILING_STAGE = "compiling (first run only)"
T = TypeVar("T")


class StopMatte(Exception):
    """Raised from an on_progress callback to stop a matte at the next stage boundary."""


@dataclass(frozen=True)
class EngineSettings:
    """Everything a pipeline may read when it is built; each reads only what it needs."""

    model_type: str = "vit_b"
    device: str = "auto"
    sam_checkpoint: str | None = None
    m2m_checkpoint: str | None = None
    random_weights_seed: int | None = None
    path: str = "fast"
    precision: str = "fp32"
    cache_bytes: int = 1 << 30
    detector: str = "grounding-dino-tiny"  # text prompts: the detector in the weights folder (loaded on first use)
    detector_checkpoint: str | None = None  # or a transformers detector folder given explicitly


@dataclass
class Segmentation:
    mask: np.ndarray  # H×W bool
    score: float  # the segmenter's confidence (0.0 where it has none)
    notes: list[str] = field(default_factory=list)
    state: Any = None  # what this pipeline's `matte` needs from its `segment`


@dataclass
class Instance:
    """One detection of a text prompt, matted on its own (mam_engine.detect.stage)."""

    alpha: np.ndarray  # H×W float32 in [0, 1]
    mask: np.ndarray  # H×W bool
    box: tuple[float, float, float, float]  # the detection's box, cut to the image
    score: float  # the detector's box score
    label: str  # the words of the phrase the detection matched
    mask_score: float  # the segmenter's confidence in this instance's mask


@dataclass
class MatteResult:
    alpha: np.ndarray  # H×W float32 in [0, 1]
    mask: np.ndarray  # H×W bool, the segmentation the matte grew from
    score: float
    timings: dict[str, float] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    foreground: np.ndarray | None = None  # H×W×3 uint8 decontaminated colours, when asked for
    instances: list[Instance] = field(default_factory=list)  # text prompts: best first; `alpha` is their union


def compile_if_cold(report: ProgressCallback, fraction: float, timings: dict[str, float]) -> None:
    """Only a process whose daemon did not call warm_up() at start pays pymatting's compile: say why it waits."""
    if not classic_refine.is_warm():
        report(COMPILING_STAGE, fraction)
        t0 = time.perf_counter()
        classic_refine.warm_up()
        timings["compile"] = timings.get("compile", 0.0) + time.perf_counter() - t0


def foreground_stage(image: np.ndarray, alpha: np.ndarray, report: ProgressCallback,
                     timings: dict[str, float]) -> np.ndarray:
    """The decontaminated subject colours under `alpha`, the last stage of every pipeline (and of a text request,
    once on the union of its instances)."""
    compile_if_cold(report, 0.95, timings)
    report("foreground", 0.97)
    t0 = time.perf_counter()
    foreground = estimate_foreground(image, alpha)
    timings["foreground"] = time.perf_counter() - t0
    return foreground


class Pipeline(ABC):
    name: ClassVar[str]
    mode: ClassVar[str]  # one line an editor can show, so the artist knows which kind of matte to expect
    always_refines: ClassVar[bool] = False
    has_encoder: ClassVar[bool] = False   # an image embedding that `encode_ahead` can compute before a prompt

    def __init__(self, settings: EngineSettings) -> None:
        self.check_settings(settings)
        self.settings = settings
        self._timings: dict[str, float] = {}

    @classmethod  # noqa: B027 (a hook, not abstract: most pipelines accept any settings)
    def check_settings(cls, settings: EngineSettings) -> None:
        """Refuse settings this pipeline cannot honour, before anything loads (raises ValueError)."""

    @abstractmethod
    def describe(self) -> dict[str, object]:
        """What hello and the CLI report: weights, device, cache."""

    def has_embedding(self, key: str) -> bool:
        return False

    def encode_ahead(self, image: np.ndarray, key: str) -> None:
        """Put the image's embedding in the cache before its first prompt (a daemon's `prepare`); only pipelines
        with `has_encoder` have one to compute."""
        raise NotImplementedError(f"the {self.name} pipeline has no image embedding to compute ahead")

    @abstractmethod
    def segment(self, image: np.ndarray, key: str | None, prompt: Prompt, report: ProgressCallback) -> Segmentation:
        """The subject as a binary mask."""

    def matte(self, image: np.ndarray, segmentation: Segmentation, guidance: str,
              report: ProgressCallback) -> np.ndarray:
        """A soft alpha from the segmentation; pipelines without a matting network return the mask itself."""
        return segmentation.mask.astype(np.float32)

    def timed(self, stage: str, fn: Callable[..., T], *args: Any) -> T:
        """Run one stage and record its wall time in the current result's timings."""
        t0 = time.perf_counter()
        out = fn(*args)
        self._timings[stage] = time.perf_counter() - t0
        return out

    def run(self, image: np.ndarray, request: MatteRequest, report: ProgressCallback,
            key: str | None = None) -> MatteResult:
        """One validated request on one image (the engine serialises calls)."""
        if request.text is not None:  # text → boxes in front of the stages below, once per detected instance
            from mam_engine.detect.stage import run_text

            return run_text(self, image, request, report, key)
        timings: dict[str, float] = {}
        self._timings = timings
        start = time.perf_counter()
        options = request.options
        segmentation = self.segment(image, key, request.prompt, report)
        alpha = self.matte(image, segmentation, options.guidance, report)
        notes = list(segmentation.notes)
        if options.refine == "classic" and alpha.any():
            compile_if_cold(report, 0.9, timings)
            report("refine", 0.92)
            refined = self.timed("refine", classic_refine.refine, image, alpha, options.refine_band,
                                 classic_refine.DEFAULT_SOLVER, None,
                                 lambda f: report("refine", 0.92 + 0.05 * f))
            alpha = refined.alpha
            notes += refined.notes
        foreground = foreground_stage(image, alpha, report, timings) if options.foreground else None
        timings["total"] = time.perf_counter() - start
        report("done", 1.0)
        return MatteResult(alpha=alpha.astype(np.float32), mask=segmentation.mask, score=segmentation.score,
                           timings=timings, notes=notes, foreground=foreground)
