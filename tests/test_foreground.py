"""Foreground decontamination: removes the old background from soft pixels, leaves opaque pixels alone."""

import numpy as np
import pytest

from mam_engine.classic.foreground import estimate_foreground


def _composite(size: int = 64):
    """A textured orange foreground over a flat blue background, with a wide soft band (a ramp) between them."""
    yy, xx = np.mgrid[:size, :size]
    alpha = np.clip((40 - xx) / 24.0, 0, 1).astype(np.float32)  # opaque left, ramp over x = 16..40
    fg = np.stack([220 + 10 * np.sin(yy / 5.0), 140 + 10 * np.cos(yy / 7.0), 30 + 0 * yy], axis=-1)
    bg = np.broadcast_to(np.array([20.0, 40.0, 200.0]), fg.shape)
    image = np.clip(np.rint(alpha[..., None] * fg + (1 - alpha[..., None]) * bg), 0, 255).astype(np.uint8)
    return image, alpha, fg


def test_decontaminates_soft_pixels():
    image, alpha, fg = _composite()
    est = estimate_foreground(image, alpha)
    assert est.dtype == np.uint8 and est.shape == image.shape
    soft = (alpha > 0.1) & (alpha < 0.9)
    naive_err = np.abs(image.astype(float) - fg)[soft].mean()
    est_err = np.abs(est.astype(float) - fg)[soft].mean()
    assert est_err < 0.25 * naive_err


def test_opaque_and_transparent_pixels_keep_the_photo():
    image, alpha, _ = _composite()
    est = estimate_foreground(image, alpha)
    hard = (alpha == 0) | (alpha == 1)
    assert np.array_equal(est[hard], image[hard])


def test_binary_alpha_is_a_plain_copy():
    image, alpha, _ = _composite()
    assert np.array_equal(estimate_foreground(image, alpha > 0.5), image)


def test_bad_input_is_named():
    image, alpha, _ = _composite(size=16)
    with pytest.raises(ValueError, match="alpha shape"):
        estimate_foreground(image, alpha[:4])
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        estimate_foreground(image, alpha + 2)
    with pytest.raises(ValueError, match="uint8"):
        estimate_foreground(image[..., 0], alpha)


def test_tiny_images_do_not_crash():
    for h, w in ((1, 1), (1, 4), (3, 2)):
        image = np.full((h, w, 3), 90, np.uint8)
        assert np.array_equal(estimate_foreground(image, np.full((h, w), 0.5, np.float32)), image)
