"""The engine's classical stages in one place: option checks, the no-weights selection, refinement, foreground.

Kept out of engine.py so the model path stays readable; the engine calls `check_options` before any work and
`finish` after SAM/M2M (or `classic_selection` instead of them for backend "classic").
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Callable

import numpy as np

from mam_engine.classic import refine as refine_classic
from mam_engine.classic.foreground import estimate_foreground
from mam_engine.request.prompt import Prompt
from mam_engine.classic.grabcut import grabcut

BACKENDS = ("mam", "sam", "classic")
REFINE_METHODS = (None, "classic")


@dataclass
class Finished:
    alpha: np.ndarray
    foreground: np.ndarray | None
    notes: list[str] = field(default_factory=list)


def check_backend(backend: str) -> None:
    if backend not in BACKENDS:
        raise ValueError(f"unknown backend {backend!r}; choose one of {', '.join(BACKENDS)}")


def check_options(
    image_shape: tuple[int, ...], backend: str, refine: str | None, refine_band: int | None, foreground: bool
) -> str | None:
    """Validate the quality options; return the refinement to run (backend "classic" always refines)."""
    if refine not in REFINE_METHODS:
        raise ValueError(f"unknown refine method {refine!r}; choose None or 'classic'")
    if not isinstance(foreground, (bool, np.bool_)):
        raise ValueError(f"foreground must be True or False, got {foreground!r}")
    method = "classic" if backend == "classic" else refine
    if method is None and refine_band is not None:
        raise ValueError("refine_band needs refine='classic'")
    if method == "classic":
        refine_classic.validate_options(image_shape, refine_band, refine_classic.DEFAULT_SOLVER)
    return method


def classic_selection(image: np.ndarray, prompt: Prompt) -> tuple[np.ndarray, list[str]]:
    """Backend "classic": GrabCut from the validated prompt (no weights)."""
    seg = grabcut(image, box=prompt.box, points=prompt.points or None, mask=prompt.mask)
    return seg.mask, seg.notes


def finish(
    image: np.ndarray,
    alpha: np.ndarray,
    method: str | None,
    refine_band: int | None,
    foreground: bool,
    timings: dict[str, float],
    report: Callable[[str, float], None],
) -> Finished:
    """Refine (if asked) then estimate the foreground (if asked). A failed solve keeps `alpha` and adds a note."""
    notes: list[str] = []
    if method == "classic" and alpha.any():
        report("refine", 0.92)
        t0 = time.perf_counter()
        refined = refine_classic.refine(image, alpha, band=refine_band,
                                        on_progress=lambda f: report("refine", 0.92 + 0.05 * f))
        timings["refine"] = time.perf_counter() - t0
        alpha, notes = refined.alpha, refined.notes
    fg = None
    if foreground:
        report("foreground", 0.97)
        t0 = time.perf_counter()
        fg = estimate_foreground(image, alpha)
        timings["foreground"] = time.perf_counter() - t0
    return Finished(alpha=alpha.astype(np.float32), foreground=fg, notes=notes)
