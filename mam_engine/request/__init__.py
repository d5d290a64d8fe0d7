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
from mam_engine.request.prepare import PrepareRequest, check_prepare
from mam_engine.request.prompt import Prompt, check_prompt
from mam_engine.request.text import (
    DEFAULT_BOX_THRESHOLD,
    DEFAULT_TEXT_THRESHOLD,
    DETECTOR_HINT,
    INSTANCE_MODES,
    NMS_IOU,
    TextQuery,
    check_text,
    check_text_options,
)

__all__ = ["DEFAULT_BOX_THRESHOLD", "DEFAULT_TEXT_THRESHOLD", "DETECTOR_HINT", "GUIDANCES", "INSTANCE_MODES",
           "NMS_IOU", "NO_LIMITS", "REFINE_METHODS", "Limits", "MatteOptions", "MatteRequest", "PrepareRequest",
           "Prompt", "RequestError", "TextQuery", "check_image_array", "check_image_size", "check_prepare",
           "check_request", "clip", "echo"]


@dataclass(frozen=True)
class MatteRequest:
    width: int
    height: int
    prompt: Prompt
    options: MatteOptions
    text: TextQuery | None = None  # a text prompt: the detector's boxes, narrowed by the box / points, are matted


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
    text: Any = None,
    box_threshold: Any = None,
    text_threshold: Any = None,
    instances: Any = None,
    text_available: bool = True,
) -> MatteRequest:
    """`text` makes the box and points optional (they narrow the detections: a box limits where, points pick
    which); a mask does not combine with text. `text_available`: detector weights are installed where it runs."""
    w, h = check_image_size(width, height, limits)
    query = None
    if text is None:
        check_text_options(box_threshold, text_threshold, instances)
        prompt = check_prompt(w, h, box, points, mask, limits)
    else:
        if mask is not None:
            raise RequestError("mask", "does not combine with a text prompt; use a box (where) or points (which)")
        query = check_text(text, box_threshold, text_threshold, "best" if instances is None else instances,
                           limits, text_available)
        prompt = check_prompt(w, h, box, points, None, limits, needs_prompt=False)
    options = check_options(w, h, guidance, refine, refine_band, foreground, always_refines)
    return MatteRequest(w, h, prompt, options, query)
