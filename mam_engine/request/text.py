"""Text-prompt rules (phrase, thresholds, instances), checked before any model loads; torch-free like the rest.

The defaults are the Matting Anything reference's (MAM_SPEC section 7): box and text thresholds 0.25, NMS IoU 0.5,
the single most confident box. A phrase is refused above `Limits.max_text_chars`: Grounding DINO reads at most
256 BERT tokens, so a longer phrase would be silently cut; an error says so instead.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from mam_engine.request.errors import RequestError, echo
from mam_engine.request.limits import Limits

INSTANCE_MODES = ("best", "all")
DEFAULT_BOX_THRESHOLD = 0.25
DEFAULT_TEXT_THRESHOLD = 0.25
NMS_IOU = 0.5
DETECTOR_HINT = "mam-weights download grounding-dino-tiny"


@dataclass(frozen=True)
class TextQuery:
    """A validated phrase with its options. `max_instances` comes from the limits in force where it was checked."""

    text: str
    box_threshold: float = DEFAULT_BOX_THRESHOLD
    text_threshold: float = DEFAULT_TEXT_THRESHOLD
    instances: str = "best"
    max_instances: int = 32


def _threshold(value: Any, field: str, default: float) -> float:
    if value is None:
        return default
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise RequestError(field, f"must be a number in [0, 1], got {echo(value)}")
    if not math.isfinite(value) or not 0.0 <= value <= 1.0:
        raise RequestError(field, f"must be a number in [0, 1], got {echo(value)}")
    return float(value)


def check_text(text: Any, box_threshold: Any = None, text_threshold: Any = None, instances: Any = "best",
               limits: Limits | None = None, text_available: bool = True) -> TextQuery:
    """The phrase and its options; `text_available` is False where no detector weights are installed.

    Leading/trailing white space is dropped; an empty phrase is refused (it would match nothing in particular).
    """
    limits = limits or Limits()
    if not isinstance(text, str):
        raise RequestError("text", f"must be a string, got {echo(text)}")
    phrase = text.strip()
    if not phrase:
        raise RequestError("text", "is empty: name the subject, e.g. 'the dog'")
    if len(phrase) > limits.max_text_chars:
        raise RequestError("text", f"{len(phrase)} characters; max_text_chars is {limits.max_text_chars} "
                                   f"(the detector reads at most 256 tokens): {echo(phrase)}")
    box_t = _threshold(box_threshold, "options.box_threshold", DEFAULT_BOX_THRESHOLD)
    text_t = _threshold(text_threshold, "options.text_threshold", DEFAULT_TEXT_THRESHOLD)
    if not isinstance(instances, str) or instances not in INSTANCE_MODES:
        raise RequestError("options.instances", f"must be one of {list(INSTANCE_MODES)}, got {echo(instances)}")
    if not text_available:
        raise RequestError("text", f"no text detector is installed: run `{DETECTOR_HINT}` (about 690 MB, once; "
                                   "a running daemon needs no restart)", "missing_weights")
    return TextQuery(phrase, box_t, text_t, instances, limits.max_instances)


def check_text_options(box_threshold: Any, text_threshold: Any, instances: Any) -> None:
    """Text-only options sent without a phrase: refused, so a client never believes they did something."""
    for field, value, default in (("options.box_threshold", box_threshold, None),
                                  ("options.text_threshold", text_threshold, None),
                                  ("options.instances", instances, "best")):
        if value != default and value is not None:
            raise RequestError(field, "applies only to a text prompt (prompt.text)")
