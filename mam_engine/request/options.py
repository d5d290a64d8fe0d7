"""Matte options (guidance, edge refinement, foreground) and the image-size rules, checked before any work."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from mam_engine.request.errors import RequestError, echo
from mam_engine.request.limits import Limits

GUIDANCES = ("alpha", "mask")
REFINE_METHODS = ("classic",)  # besides None: no refinement
MIN_BAND, MAX_BAND = 1, 256
# The classic refinement's tiled solver bounds memory per tile; this bounds the canvas it accepts at all.
REFINE_MAX_PIXELS = 64_000_000


@dataclass(frozen=True)
class MatteOptions:
    guidance: str = "alpha"
    refine: str | None = None  # "classic": re-solve the edge band at full resolution
    refine_band: int | None = None  # its half-width in px; None: chosen from the image
    foreground: bool = False  # also estimate decontaminated subject colours


def check_image_size(width: Any, height: Any, limits: Limits | None = None) -> tuple[int, int]:
    limits = limits or Limits()
    for name, value in (("width", width), ("height", height)):
        if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, np.integer)) or value < 1:
            raise RequestError(f"image.{name}", f"must be a positive integer, got {echo(value)}")
    if width * height > limits.max_pixels:
        raise RequestError("image", f"{width}×{height} = {width * height} pixels; max_pixels is {limits.max_pixels}",
                           "too_large")
    return int(width), int(height)


def check_image_array(image: Any) -> np.ndarray:
    if not isinstance(image, np.ndarray):
        raise RequestError("image", f"must be a numpy array, got {type(image).__name__}")
    if image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
        raise RequestError("image", f"must be an H×W×3 uint8 RGB array, got shape {image.shape} dtype {image.dtype}")
    check_image_size(image.shape[1], image.shape[0], Limits(max_pixels=1 << 62))
    return image


def check_options(
    width: int,
    height: int,
    guidance: Any = "alpha",
    refine: Any = None,
    refine_band: Any = None,
    foreground: Any = False,
    always_refines: bool = False,
) -> MatteOptions:
    """`always_refines`: the pipeline refines every matte (the classic one), so a band is allowed without refine."""
    if not isinstance(guidance, str) or guidance not in GUIDANCES:
        raise RequestError("options.guidance", f"must be one of {list(GUIDANCES)}, got {echo(guidance)}")
    if refine is not None and (not isinstance(refine, str) or refine not in REFINE_METHODS):
        raise RequestError("options.refine", f"must be null or one of {list(REFINE_METHODS)}, got {echo(refine)}")
    if not isinstance(foreground, (bool, np.bool_)):
        raise RequestError("options.foreground", f"must be true or false, got {echo(foreground)}")
    refines = always_refines or refine is not None
    if refine_band is not None:
        if isinstance(refine_band, (bool, np.bool_)) or not isinstance(refine_band, (int, np.integer)):
            raise RequestError("options.refine_band", f"must be an integer number of pixels, got {echo(refine_band)}")
        if not MIN_BAND <= refine_band <= MAX_BAND:
            raise RequestError("options.refine_band", f"{refine_band} px is out of range [{MIN_BAND}, {MAX_BAND}]")
        if not refines:
            raise RequestError("options.refine_band", "needs options.refine = 'classic'")
    if refines and width * height > REFINE_MAX_PIXELS:
        raise RequestError("options.refine", f"the classic refinement takes at most {REFINE_MAX_PIXELS} pixels; "
                                             f"this image has {width * height}", "too_large")
    band = None if refine_band is None else int(refine_band)
    return MatteOptions(guidance, "classic" if always_refines else refine, band, bool(foreground))
