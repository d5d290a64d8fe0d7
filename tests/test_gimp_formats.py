"""GIMP precisions → GEGL read/write formats and the protocol's pixel format names, without GIMP."""
from __future__ import annotations

import sys
from itertools import product
from pathlib import Path

import pytest

from mam_server.protocol import PIXEL_FORMATS

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "plugins" / "gimp" / "mam_gimp"))
from gimp_formats import gray_format_like, precision_component, precision_plan_for  # noqa: E402

# Every Gimp.Precision of GIMP 3.0, as Python's GI shows its value_name.
COMPONENTS = ["U8", "U16", "U32", "HALF", "FLOAT", "DOUBLE"]
TRCS = ["LINEAR", "NON_LINEAR", "PERCEPTUAL"]
ALL_PRECISIONS = [f"GIMP_PRECISION_{c}_{t}" for c, t in product(COMPONENTS, TRCS)]

# babl sample sizes, to check the byte count the plug-in announces for what GEGL hands it.
BABL_SAMPLE_BYTES = {"u8": 1, "u16": 2, "half": 2, "float": 4}


@pytest.mark.parametrize("name", ALL_PRECISIONS)
def test_every_precision_reads_perceptual_rgba_the_daemon_accepts(name):
    fmt = precision_plan_for(name)
    assert fmt.read_babl.startswith("R'G'B'A ")
    sample = fmt.read_babl.split(" ", 1)[1]
    assert fmt.bytes_per_pixel == 4 * BABL_SAMPLE_BYTES[sample]
    assert fmt.wire in PIXEL_FORMATS
    assert PIXEL_FORMATS[fmt.wire][0] == fmt.bytes_per_pixel


def test_eight_bit_images_get_an_eight_bit_alpha_and_deeper_ones_sixteen():
    for name in ALL_PRECISIONS:
        assert precision_plan_for(name).alpha_depth == (8 if "_U8_" in name else 16)


@pytest.mark.parametrize("target,depth,expected", [
    ("Y u8", 8, "Y u8"), ("Y' u8", 8, "Y' u8"), ("Y' float", 16, "Y' u16"), ("Y~ half", 16, "Y~ u16"),
    ("Y u32", 16, "Y u16")])
def test_mask_values_move_in_the_targets_own_component_model(target, depth, expected):
    # A tone curve between the daemon's alpha and the mask would change the matte: only the sample type may change.
    assert gray_format_like(target, depth) == expected


@pytest.mark.parametrize("target,depth", [("R'G'B'A u8", 8), ("Y u8", 12), ("YA float", 16)])
def test_non_gray_targets_or_odd_depths_are_refused(target, depth):
    with pytest.raises(ValueError, match="cannot move"):
        gray_format_like(target, depth)


def test_high_bit_depth_keeps_its_precision_on_the_wire():
    assert precision_plan_for("GIMP_PRECISION_U16_LINEAR").wire == "RGBA16"
    assert precision_plan_for("GIMP_PRECISION_HALF_PERCEPTUAL").wire == "RGBAF16"
    assert precision_plan_for("GIMP_PRECISION_FLOAT_LINEAR").wire == "RGBAF32"
    assert precision_plan_for("GIMP_PRECISION_DOUBLE_NON_LINEAR").wire == "RGBAF32"


def test_nicks_work_as_well_as_value_names():
    assert precision_component("u16-non-linear") == "U16"
    assert precision_plan_for("float-linear") == precision_plan_for("GIMP_PRECISION_FLOAT_LINEAR")


@pytest.mark.parametrize("name", ["", "GIMP_PRECISION_U64_LINEAR", "indexed"])
def test_unknown_precisions_are_named_in_the_error(name):
    with pytest.raises(ValueError, match="unknown GIMP precision"):
        precision_plan_for(name)
