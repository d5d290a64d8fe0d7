"""What pixels the Krita plugin sends: colour model/depth -> protocol format, and which layer they come from."""
import pytest

from plugins.krita.mam_krita.pixel_formats import UnsupportedColorSpace, expected_size, wire_format_for


@pytest.mark.parametrize("depth,name,bpp", [("U8", "BGRA8", 4), ("U16", "BGRA16", 8),
                                            ("F16", "RGBAF16", 8), ("F32", "RGBAF32", 16)])
def test_rgba_depths(depth, name, bpp):
    fmt = wire_format_for("RGBA", depth)
    assert (fmt.name, fmt.bytes_per_pixel) == (name, bpp)
    assert expected_size(fmt, 3, 5) == 15 * bpp


@pytest.mark.parametrize("model,depth", [("GRAYA", "U8"), ("CMYKA", "U16"), ("LABA", "F32"), ("RGBA", "U32")])
def test_other_spaces_name_the_problem(model, depth):
    with pytest.raises(UnsupportedColorSpace, match=f"{model}/{depth}.*Convert Image Color Space"):
        wire_format_for(model, depth)


@pytest.mark.parametrize("source,name,kind,expect", [
    ("layer", "MAM points", "vectorlayer", "merged"),          # the point layer is active: send the picture
    ("layer", "mam background", "vectorlayer", "merged"),
    ("layer", "MAM points", "paintlayer", "layer"),            # only vector layers are point layers
    ("layer", "Sketch", "vectorlayer", "layer"),
    ("merged", "MAM points", "vectorlayer", "merged"),
])
def test_point_layer_is_never_the_pixel_source(source, name, kind, expect):
    from plugins.krita.mam_krita.canvas import effective_source
    chosen, note = effective_source(source, name, kind)
    assert chosen == expect
    assert bool(note) == (source == "layer" and expect == "merged")
