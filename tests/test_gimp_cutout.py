"""The Extract Subject layer's pixels and the classic-mode progress label, without GIMP."""
from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "plugins" / "gimp" / "mam_gimp"))
from gimp_cutout import rgba_from_matte  # noqa: E402
from gimp_messages import progress_label  # noqa: E402

W, H = 4, 3


@pytest.fixture
def rgb():
    return np.random.default_rng(3).integers(0, 256, (H, W, 3), dtype=np.uint8)


def test_8_bit_alpha_gives_rgba_u8(rgb):
    alpha = np.random.default_rng(4).integers(0, 256, (H, W), dtype=np.uint8)
    babl, data = rgba_from_matte(rgb.tobytes(), alpha.tobytes(), W, H, 8)
    assert babl == "R'G'B'A u8"
    assert np.array_equal(np.frombuffer(data, np.uint8).reshape(H, W, 4), np.dstack([rgb, alpha]))


def test_16_bit_alpha_keeps_its_precision_and_colour_is_scaled_by_257(rgb):
    alpha = np.random.default_rng(5).integers(0, 65536, (H, W), dtype=np.uint16)
    alpha[0, 0], alpha[0, 1] = 0, 65535
    babl, data = rgba_from_matte(rgb.tobytes(), alpha.astype("<u2").tobytes(), W, H, 16)
    assert babl == "R'G'B'A u16"
    got = np.frombuffer(data, "<u2").reshape(H, W, 4)
    assert np.array_equal(got[..., :3], rgb.astype(np.uint32) * 257)
    assert np.array_equal(got[..., 3], alpha)


@pytest.mark.parametrize("rgb_len,alpha_len,depth,match", [
    (3 * W * H, W * H, 16, "alpha is 12 bytes; a 4x3 16-bit window needs 24"),
    (3 * W * H - 1, W * H, 8, "foreground is 35 bytes; a 4x3 RGB8 window needs 36"),
    (3 * W * H, W * H, 32, "alpha depth must be 8 or 16"),
])
def test_mismatched_frames_are_named(rgb_len, alpha_len, depth, match):
    with pytest.raises(ValueError, match=match):
        rgba_from_matte(bytes(rgb_len), bytes(alpha_len), W, H, depth)


def test_empty_window_is_empty():
    assert rgba_from_matte(b"", b"", 0, 5, 8) == ("R'G'B'A u8", b"")


def test_progress_names_the_classic_no_weights_mode():
    classic = {"model": {"backend": "classic", "mode": "classic (GrabCut + closed-form matting, no neural weights)"}}
    assert "CLASSIC MODE, no model weights" in progress_label(classic)
    assert progress_label({"model": {"backend": "mam"}}) == "Matting Anything"
    assert progress_label({"model": "garbage"}) == "Matting Anything"
