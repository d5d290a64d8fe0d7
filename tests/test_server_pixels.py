"""Pixel formats → RGB8, and alpha → wire samples: each format built independently from a known RGB image."""
from __future__ import annotations

import numpy as np
import pytest

from mam_server.alpha_frame import encode_alpha
from mam_server.pixels import to_rgb8
from mam_server.protocol import PIXEL_FORMATS, ImageSpec, ProtocolError, mask_to_bool

H, W, PAD = 5, 7, 6  # PAD bytes of garbage after every row exercise `stride`
RNG = np.random.default_rng(1)
RGB = RNG.integers(0, 256, (H, W, 3), dtype=np.uint8)
ALPHA = RNG.integers(0, 256, (H, W), dtype=np.uint8)  # must not influence the result


def _encode(fmt: str) -> bytes:
    """The image in `fmt`, written the way an editor lays it out (independent of server.pixels)."""
    r, g, b, a = RGB[..., 0], RGB[..., 1], RGB[..., 2], ALPHA
    if fmt == "RGBA8":
        px = np.stack([r, g, b, a], -1)
    elif fmt == "BGRA8":
        px = np.stack([b, g, r, a], -1)
    elif fmt == "RGB8":
        px = RGB
    elif fmt == "GRAY8":
        px = r[..., None]
    elif fmt == "RGBA16":
        px = (np.stack([r, g, b, a], -1).astype("<u2") * 257)
    elif fmt == "BGRA16":
        px = (np.stack([b, g, r, a], -1).astype("<u2") * 257)
    elif fmt == "RGBAF16":
        px = (np.stack([r, g, b, a], -1) / 255.0).astype("<f2")
    elif fmt == "RGBAF32":
        px = (np.stack([r, g, b, a], -1) / 255.0).astype("<f4")
    rows = px.reshape(H, -1).view(np.uint8).reshape(H, -1)
    garbage = RNG.integers(0, 256, (H, PAD), dtype=np.uint8)
    return np.concatenate([rows, garbage], axis=1).tobytes()


@pytest.mark.parametrize("fmt", list(PIXEL_FORMATS))
def test_every_format_converts_to_rgb_ignoring_alpha_and_row_padding(fmt):
    data = _encode(fmt)
    spec = ImageSpec(W, H, fmt, len(data) // H, "0" * 32)
    assert spec.stride == W * PIXEL_FORMATS[fmt][0] + PAD
    out = to_rgb8(memoryview(data), spec)
    expected = np.repeat(RGB[..., :1], 3, axis=2) if fmt == "GRAY8" else RGB
    assert out.shape == (H, W, 3) and out.dtype == np.uint8 and out.flags.c_contiguous
    np.testing.assert_array_equal(out, expected)


def test_16bit_rounds_to_nearest_8bit_value():
    values = np.array([0, 128, 129, 385, 65535, 32767, 32768], dtype="<u2")
    px = np.zeros((1, len(values), 4), dtype="<u2")
    px[0, :, 0] = values
    spec = ImageSpec(len(values), 1, "RGBA16", len(values) * 8, "0" * 32)
    red = to_rgb8(px.tobytes(), spec)[0, :, 0]
    np.testing.assert_array_equal(red, np.round(values / 65535 * 255).astype(np.uint8))


def test_float_out_of_range_and_nan_are_clamped():
    px = np.array([[[np.nan, -0.5, 1.5, 1.0], [np.inf, -np.inf, 0.5, 0.0]]], dtype="<f4")
    out = to_rgb8(px.tobytes(), ImageSpec(2, 1, "RGBAF32", 32, "0" * 32))
    np.testing.assert_array_equal(out[0], [[0, 0, 255], [255, 0, 128]])


@pytest.mark.parametrize("delta", [-1, 1])
def test_frame_size_must_match_stride_times_height(delta):
    spec = ImageSpec(W, H, "RGBA8", W * 4, "0" * 32)
    with pytest.raises(ProtocolError) as err:
        to_rgb8(bytes(spec.frame_bytes + delta), spec)
    assert err.value.code == "bad_request"
    assert str(spec.frame_bytes + delta) in err.value.message and str(spec.frame_bytes) in err.value.message


def test_conversion_does_not_write_the_receive_buffer():
    data = bytearray(_encode("BGRA8"))
    before = bytes(data)
    out = to_rgb8(memoryview(data), ImageSpec(W, H, "BGRA8", len(data) // H, "0" * 32))
    out[:] = 0
    assert bytes(data) == before


def test_mask_threshold_is_128():
    mask = mask_to_bool(bytes([0, 127, 128, 255]), 2, 2)
    np.testing.assert_array_equal(mask, [[False, False], [True, True]])


@pytest.mark.parametrize("depth,dtype,top", [(8, np.uint8, 255), (16, np.dtype("<u2"), 65535)])
def test_alpha_quantisation(depth, dtype, top):
    alpha = np.array([[0.0, 0.5, 1.0, 1.2, -0.1]], dtype=np.float32)
    samples, x, y = encode_alpha(alpha, depth, crop=False)
    assert samples.dtype == dtype and (x, y) == (0, 0)
    np.testing.assert_array_equal(samples[0], [0, round(top * 0.5 + 1e-9), top, top, 0])


def test_alpha_crop_is_the_bounding_box_of_nonzero_samples():
    alpha = np.zeros((10, 12), np.float32)
    alpha[2, 3] = 0.2
    alpha[6, 9] = 1.0
    alpha[8, 1] = 0.0001  # quantises to 0 at 8 bits: outside the box
    samples, x, y = encode_alpha(alpha, 8, crop=True)
    assert (x, y, samples.shape) == (3, 2, (5, 7))
    assert samples[0, 0] == 51 and samples[4, 6] == 255 and samples.flags.c_contiguous
    samples16, x16, y16 = encode_alpha(alpha, 16, crop=True)
    assert (x16, y16, samples16.shape) == (1, 2, (7, 9))


def test_alpha_crop_of_empty_alpha_is_empty():
    samples, x, y = encode_alpha(np.zeros((4, 4), np.float32), 8, crop=True)
    assert samples.shape == (0, 0) and (x, y) == (0, 0)
