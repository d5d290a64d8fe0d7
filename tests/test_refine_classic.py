"""Classic band refinement: recovers a known soft edge, keeps the input away from the edge, fails soft."""


import cv2
import numpy as np
import pytest

from mam_engine.classic import refine as refine_classic
from mam_engine.evaluation import metrics
from support.photos import gt05_edge_crop


def _soft_disk(size: int = 96, radius: float = 28.0, ramp: float = 4.0, seed: int = 0):
    """Image = α·F + (1 − α)·B with a disk whose edge is a linear ramp; F and B are flat colours plus mild noise."""
    yy, xx = np.mgrid[:size, :size]
    d = np.hypot(yy - size / 2, xx - size / 2)
    alpha = np.clip((radius + ramp / 2 - d) / ramp, 0, 1)
    rng = np.random.default_rng(seed)
    fg = np.array([200.0, 60.0, 40.0]) + rng.normal(0, 2, (size, size, 3))
    bg = np.array([30.0, 80.0, 190.0]) + rng.normal(0, 2, (size, size, 3))
    image = np.clip(alpha[..., None] * fg + (1 - alpha[..., None]) * bg, 0, 255).astype(np.uint8)
    return image, alpha


@pytest.mark.parametrize("shift", [0, 3, -3])
def test_recovers_soft_edge_from_a_shifted_binary_mask(shift):
    image, alpha = _soft_disk()
    mask = alpha > 0.5
    k = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * abs(shift) + 1, 2 * abs(shift) + 1))
    if shift > 0:
        mask = cv2.dilate(mask.astype(np.uint8), k).astype(bool)
    elif shift < 0:
        mask = cv2.erode(mask.astype(np.uint8), k).astype(bool)
    r = refine_classic.refine(image, mask, band=8)
    assert r.notes == []
    assert r.alpha.dtype == np.float32 and r.alpha.shape == alpha.shape
    assert metrics.sad(r.alpha, alpha) < 0.5 * metrics.sad(mask, alpha)


def test_keeps_input_away_from_the_band():
    image, alpha = _soft_disk()
    mask = alpha > 0.5
    band = 6
    r = refine_classic.refine(image, mask, band=band)
    dist = np.maximum(
        cv2.distanceTransform(mask.astype(np.uint8), cv2.DIST_L2, 5),
        cv2.distanceTransform((~mask).astype(np.uint8), cv2.DIST_L2, 5),
    )
    far = dist > band + 1
    assert np.array_equal(r.alpha[far], mask[far].astype(np.float32))


def test_soft_input_alpha_is_accepted_and_improved():
    image, alpha = _soft_disk()
    blurred = np.clip(cv2.GaussianBlur(alpha.astype(np.float32), (0, 0), 4.0), 0, 1)
    r = refine_classic.refine(image, blurred, band=8)
    assert metrics.sad(r.alpha, alpha) < metrics.sad(blurred, alpha)


def test_tiles_agree_with_a_single_solve():
    image, alpha = _soft_disk(size=160, radius=50)
    mask = alpha > 0.5
    whole = refine_classic.refine(image, mask, band=8, tile=512).alpha
    tiled = refine_classic.refine(image, mask, band=8, tile=64).alpha
    assert np.abs(whole - tiled).mean() < 0.005
    assert metrics.sad(tiled, alpha) < 0.5 * metrics.sad(mask, alpha)


def test_non_convergence_falls_back_to_the_input_with_a_note(monkeypatch):
    image, alpha = _soft_disk()
    mask = alpha > 0.5
    monkeypatch.setattr(refine_classic, "CG_MAXITER", 1)
    # The closed-form methods keep the input; "hybrid" (the default) then filters the input instead: its fall-back
    # is tested in test_classic_hybrid.py.
    r = refine_classic.refine(image, mask, band=8, method="fast")
    assert np.array_equal(r.alpha, mask.astype(np.float32))
    assert r.notes and "kept the previous alpha" in r.notes[0]


def test_progress_reaches_one_and_can_cancel():
    image, alpha = _soft_disk()
    seen = []
    refine_classic.refine(image, alpha > 0.5, band=6, on_progress=seen.append)
    assert seen and seen[-1] == pytest.approx(1.0) and seen == sorted(seen)

    class Stop(Exception):
        pass

    def stop(fraction):
        raise Stop

    with pytest.raises(Stop):
        refine_classic.refine(image, alpha > 0.5, band=6, on_progress=stop)


def test_empty_mask_stays_empty():
    image, _ = _soft_disk()
    r = refine_classic.refine(image, np.zeros(image.shape[:2], bool))
    assert not r.alpha.any() and r.notes == []


@pytest.mark.parametrize(
    "kwargs, msg",
    [
        ({"solver": "magic"}, "unknown refinement solver 'magic'"),
        ({"band": 0}, "out of range"),
        ({"band": 10_000}, "out of range"),
        ({"band": 2.5}, "integer"),
    ],
)
def test_bad_options_are_named(kwargs, msg):
    image, alpha = _soft_disk(size=32, radius=8)
    with pytest.raises(ValueError, match=msg):
        refine_classic.refine(image, alpha > 0.5, **kwargs)


def test_bad_inputs_are_named():
    image, alpha = _soft_disk(size=32, radius=8)
    with pytest.raises(ValueError, match="alpha shape"):
        refine_classic.refine(image, alpha[:10])
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        refine_classic.refine(image, alpha * 2)
    with pytest.raises(ValueError, match="uint8"):
        refine_classic.refine(image.astype(np.float32), alpha)


def test_too_large_canvas_is_refused_before_any_work():
    with pytest.raises(ValueError, match="takes at most 64000000 pixels"):
        refine_classic.validate_options((9000, 8000, 3), None, "cf")
    assert refine_classic.validate_options((4000, 6000, 3), None, "cf") == refine_classic.default_band((4000, 6000))


def test_real_photo_crop_beats_the_grid_mask():
    # A crop across the subject's boundary keeps the test fast.
    image, mask, gt = gt05_edge_crop()
    r = refine_classic.refine(image, mask, band=10)
    assert metrics.sad(r.alpha, gt) < 0.8 * metrics.sad(mask, gt)


def test_small_subject_survives_the_default_band():
    # On a 640-px canvas the default band is 8 px: as wide as this 12-px-wide subject. The band is narrowed to a
    # tenth of the subject's short side so the subject keeps known pixels.
    rng = np.random.default_rng(3)
    image = np.clip(rng.normal([60, 90, 160], 20, (480, 640, 3)), 0, 255).astype(np.uint8)
    subject = np.zeros((480, 640), bool)
    subject[200:236, 300:312] = True
    image[subject] = np.clip(rng.normal([170, 120, 90], 20, (int(subject.sum()), 3)), 0, 255).astype(np.uint8)
    assert refine_classic.default_band(image.shape) >= 6
    r = refine_classic.refine(image, subject)
    assert r.band == 1
    assert metrics.iou(r.alpha > 0.5, subject) > 0.9
