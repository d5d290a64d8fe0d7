"""Krita colour model/depth -> protocol pixel format names."""
import pytest

from plugins.krita.mam_krita.pixel_formats import UnsupportedColorSpace, expected_size, protocol_format


@pytest.mark.parametrize("depth,name,bpp", [("U8", "BGRA8", 4), ("U16", "BGRA16", 8),
                                            ("F16", "RGBAF16", 8), ("F32", "RGBAF32", 16)])
def test_rgba_depths(depth, name, bpp):
    fmt = protocol_format("RGBA", depth)
    assert (fmt.name, fmt.bytes_per_pixel) == (name, bpp)
    assert expected_size(fmt, 3, 5) == 15 * bpp


@pytest.mark.parametrize("model,depth", [("GRAYA", "U8"), ("CMYKA", "U16"), ("LABA", "F32"), ("RGBA", "U32")])
def test_other_spaces_name_the_problem(model, depth):
    with pytest.raises(UnsupportedColorSpace, match=f"{model}/{depth}.*Convert Image Color Space"):
        protocol_format(model, depth)
