"""Rules for `prepare` (encode a canvas ahead of its first prompt): the image limits of a matte, and no prompt.

A prepare computes the image embedding only. A prompt or matte options sent with it would do nothing, so they are
refused rather than ignored: a client never believes it pre-computed something (e.g. a text prompt's detector
features, which are not cached) that it did not.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from mam_engine.request.errors import RequestError, echo
from mam_engine.request.limits import Limits
from mam_engine.request.options import check_image_size


@dataclass(frozen=True)
class PrepareRequest:
    width: int
    height: int


def check_prepare(width: Any, height: Any, limits: Limits | None = None, prompt: Any = None,
                  options: Any = None) -> PrepareRequest:
    """`prompt` / `options`: what came with the request (None or an empty map is fine, anything else is refused)."""
    w, h = check_image_size(width, height, limits)
    if prompt:
        raise RequestError("prompt", f"prepare encodes the image only; send the prompt with the matte (text prompts "
                                     f"too: their detector runs with the matte), got {echo(prompt)}")
    if options:
        raise RequestError("options", f"prepare takes no options, got {echo(options)}")
    return PrepareRequest(w, h)
