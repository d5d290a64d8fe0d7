"""The Extract Subject layer's bytes: daemon foreground (RGB8) + alpha → Krita's own layout per depth."""
import struct

import numpy as np
import pytest

from plugins.krita.mam_krita.cutout import interleave, layer_pixels
from plugins.krita.mam_krita.pixel_formats import UnsupportedColorSpace

W, H = 5, 3


@pytest.fixture
def frames():
    rng = np.random.default_rng(7)
    rgb = rng.integers(0, 256, (H, W, 3), dtype=np.uint8)
    alpha = rng.integers(0, 256, (H, W), dtype=np.uint8)
    alpha[0, 0], alpha[0, 1] = 0, 255          # the ends of the range must survive every depth
    rgb[0, 0], rgb[0, 1] = (0, 0, 0), (255, 255, 255)
    return rgb, alpha


def test_u8_is_bgra_in_the_windows_row_order(frames):
    rgb, alpha = frames
    got = np.frombuffer(layer_pixels(rgb.tobytes(), alpha.tobytes(), W, H, "RGBA", "U8"), np.uint8)
    expected = np.dstack([rgb[..., 2], rgb[..., 1], rgb[..., 0], alpha])
    assert np.array_equal(got.reshape(H, W, 4), expected)


def test_u16_is_bgra_scaled_by_257(frames):
    rgb, alpha = frames
    got = np.frombuffer(layer_pixels(rgb.tobytes(), alpha.tobytes(), W, H, "RGBA", "U16"), "<u2")
    expected = np.dstack([rgb[..., 2], rgb[..., 1], rgb[..., 0], alpha]).astype(np.uint32) * 257
    assert np.array_equal(got.reshape(H, W, 4), expected)


@pytest.mark.parametrize("depth,dtype,tolerance", [("F16", "<f2", 1e-3), ("F32", "<f4", 1e-7)])
def test_float_is_rgba_over_255(frames, depth, dtype, tolerance):
    rgb, alpha = frames
    got = np.frombuffer(layer_pixels(rgb.tobytes(), alpha.tobytes(), W, H, "RGBA", depth), dtype)
    expected = np.dstack([rgb, alpha]).astype(np.float64) / 255.0
    np.testing.assert_allclose(got.reshape(H, W, 4), expected, atol=tolerance, rtol=0)
    assert got.reshape(H, W, 4)[0, 1].tolist() == [1.0, 1.0, 1.0, 1.0]


def test_float_values_read_back_to_the_same_8_bit_values(frames):
    """The canvas went out as value x 255 of the layer's floats: the subject must come back the same way."""
    rgb, alpha = frames
    data = layer_pixels(rgb.tobytes(), alpha.tobytes(), W, H, "RGBA", "F16")
    back = [round(v * 255) for v in struct.unpack(f"<{W * H * 4}e", data)]
    assert back == np.dstack([rgb, alpha]).ravel().tolist()


def test_interleave_any_channel_order():
    assert interleave(b"\x01\x02\x03\x04\x05\x06", b"\x07\x08", 2, 1, "ARGB") == bytes([7, 1, 2, 3, 8, 4, 5, 6])
    assert interleave(b"", b"", 0, 4, "RGBA") == b""


@pytest.mark.parametrize("rgb_len,alpha_len,match", [
    (3 * W * H - 3, W * H, "foreground is 42 bytes; a 5x3 RGB8 window needs 45"),
    (3 * W * H, W * H + 1, "alpha is 16 bytes; a 5x3 8-bit window needs 15"),
])
def test_short_frames_are_named(rgb_len, alpha_len, match):
    with pytest.raises(ValueError, match=match):
        layer_pixels(bytes(rgb_len), bytes(alpha_len), W, H, "RGBA", "U8")


def test_bad_channel_order_is_refused():
    with pytest.raises(ValueError, match="not a permutation of RGBA"):
        interleave(b"\x00" * 3, b"\x00", 1, 1, "RGBB")


@pytest.mark.parametrize("model,depth", [("GRAYA", "U8"), ("CMYKA", "U8"), ("RGBA", "U32")])
def test_layers_of_other_colour_spaces_are_refused_with_the_fix(model, depth):
    with pytest.raises(UnsupportedColorSpace, match=f"{model}/{depth}.*Convert Image Color Space"):
        layer_pixels(b"\x00" * 3, b"\x00", 1, 1, model, depth)
