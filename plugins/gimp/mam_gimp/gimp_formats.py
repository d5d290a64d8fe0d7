"""Which GEGL/babl formats the GIMP plug-in reads and writes, and their wire names.

GIMP images come in many precisions; GEGL converts any of them to a fixed format in C, so the
plug-in never converts pixels in Python. 8-bit images travel as RGBA8 and get an 8-bit alpha
back; deeper images keep their extra precision on the wire and get a 16-bit alpha back.
The alpha is stored verbatim: it is written in the target drawable's own component model
("Y u8" for layer masks, "Y' u8" for channels of a non-linear image), so GEGL only rescales
the sample type and never applies a tone curve to it.
GEGL's 16-bit and float samples are native-endian and the wire's are little-endian: GIMP 3 runs
on little-endian machines only (x86-64, ARM64), so bytes pass through unchanged.
"""
from __future__ import annotations

from dataclasses import dataclass

# Component types named in GIMP's Gimp.Precision values ("GIMP_PRECISION_U16_LINEAR", ...).
_COMPONENTS = ("U8", "U16", "U32", "HALF", "FLOAT", "DOUBLE")


@dataclass(frozen=True)
class PrecisionPlan:
    """How one image precision is read, sent and answered."""

    read_babl: str        # babl format the layer's buffer is read in (perceptual R'G'B'A: what the model sees)
    wire: str             # the protocol's pixel format name for those bytes
    bytes_per_pixel: int
    alpha_depth: int      # 8 or 16: the depth asked of the daemon


_U8 = PrecisionPlan("R'G'B'A u8", "RGBA8", 4, 8)
_U16 = PrecisionPlan("R'G'B'A u16", "RGBA16", 8, 16)
_HALF = PrecisionPlan("R'G'B'A half", "RGBAF16", 8, 16)
_FLOAT = PrecisionPlan("R'G'B'A float", "RGBAF32", 16, 16)
_GRAY_MODELS = ("Y", "Y'", "Y~")

_BY_COMPONENT = {"U8": _U8, "U16": _U16, "U32": _FLOAT, "HALF": _HALF, "FLOAT": _FLOAT, "DOUBLE": _FLOAT}


def precision_component(precision_name: str) -> str:
    """The component type ("U8", "HALF", ...) in a Gimp.Precision value name or nick."""
    tokens = precision_name.upper().replace("-", "_").split("_")
    if tokens[:2] == ["GIMP", "PRECISION"]:
        tokens = tokens[2:]
    if tokens and tokens[0] in _COMPONENTS:
        return tokens[0]
    raise ValueError(f"unknown GIMP precision {precision_name!r}")


def precision_plan_for(precision_name: str) -> PrecisionPlan:
    """The reading/writing plan for an image of the given Gimp.Precision (value name or nick)."""
    return _BY_COMPONENT[precision_component(precision_name)]


def gray_format_like(target_format: str, depth: int) -> str:
    """The babl format that moves `depth`-bit mask values in or out of a mask/channel whose buffer
    format is `target_format` (e.g. "Y' float" → "Y' u16"): same component model, so the values
    pass verbatim, only rescaled to the sample type."""
    model = target_format.split(" ", 1)[0]
    if model not in _GRAY_MODELS or depth not in (8, 16):
        raise ValueError(f"cannot move {depth}-bit mask values to or from a {target_format!r} drawable")
    return f"{model} u{depth}"
