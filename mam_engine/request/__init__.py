"""One request model and validator for the CLI, the daemon and the engine (no torch: the CLI checks first).

A request is accepted or refused the same way everywhere, before any queueing or model loading; every refusal
is a `RequestError` naming the field, with echoed input cut to 200 characters.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from mam_engine.request.errors import RequestError, clip, echo
from mam_engine.request.limits import NO_LIMITS, Limits
from mam_engine.request.options import (
    GUIDANCES,
    REFINE_METHODS,
    MatteOptions,
    check_image_array,
    check_image_size,
    check_options,
)
from mam_engine.request.prompt import Prompt, check_prompt

__all__ = ["GUIDANCES", "NO_LIMITS", "REFINE_METHODS", "Limits", "MatteOptions", "MatteRequest", "Prompt",
           "RequestError", "check_image_array", "check_image_size", "check_request", "clip", "echo"]


@dataclass(frozen=True)
class MatteRequest:
    width: int
    height: int
    prompt: Prompt
    options: MatteOptions


def check_request(
    width: Any,
    height: Any,
    box: Any = None,
    points: Any = None,
    mask: Any = None,
    guidance: Any = "alpha",
    refine: Any = None,
    refine_band: Any = None,
    foreground: Any = False,
    limits: Limits = NO_LIMITS,
    always_refines: bool = False,
) -> MatteRequest:
    w, h = check_image_size(width, height, limits)
    prompt = check_prompt(w, h, box, points, mask, limits)
    options = check_options(w, h, guidance, refine, refine_band, foreground, always_refines)
    return MatteRequest(w, h, prompt, options)
