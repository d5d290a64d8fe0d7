"""The "guided" classic refinement (issue 14): one colour guided filter of the mask inside the band. Its tolerance to
the two-pass closed-form method on a real photo's edge band, equality with an untiled filter, determinism, the
fall-back on a tile whose output is not finite (its bounded memory: tests/test_classic_fast.py)."""

import numpy as np

from mam_engine.classic import refine as refine_classic
from mam_engine.evaluation import metrics
from support.photos import gt05_edge_crop

# Documented tolerance (docs/BENCHMARKS.md, issue 14 session 3): a different estimator of the same local-affine
# model, so not equal to the closed-form solution; on this crop's edge band (grid mask, band 10) the mean |Δα| to the
# two-pass method was 0.016 when written down (2026-12-03), and the bound below leaves ~1.5× room. Its SAD to the
# ground truth must not be worse than the two-pass method's by more than 2 % (it was 25 % lower: 0.139 vs 0.184).
BAND_MEAN_TOLERANCE = 0.025


def test_guided_is_within_tolerance_of_the_two_pass_method_on_the_edge_band_of_a_real_photo():
    image, mask, gt = gt05_edge_crop()
    old = refine_classic.refine(image, mask, band=10, method="twopass")
    new = refine_classic.refine(image, mask, band=10, method="guided")
    band = refine_classic.make_trimap(mask.astype(np.float32), 10) == 0.5
    assert new.notes == [] and old.notes == []
    assert np.abs(new.alpha - old.alpha)[band].mean() <= BAND_MEAN_TOLERANCE
    assert np.array_equal(new.alpha[~band], mask[~band].astype(np.float32))
    assert metrics.sad(new.alpha, gt) <= 1.02 * metrics.sad(old.alpha, gt)
    assert metrics.sad(new.alpha, gt) < 0.8 * metrics.sad(mask, gt)


def test_guided_tiles_equal_an_untiled_filter_and_repeat_exactly():
    image, mask, _ = gt05_edge_crop()
    a = mask.astype(np.float32)
    tiled = refine_classic.refine(image, mask, band=10, method="guided", tile=64).alpha
    again = refine_classic.refine(image, mask, band=10, method="guided", tile=64).alpha
    whole = refine_classic.guided_filter(image.astype(np.float32) / 255, a, refine_classic.GUIDED_RADIUS,
                                         refine_classic.GUIDED_EPS)
    band = refine_classic.make_trimap(a, 10) == 0.5
    expected = np.where(band, np.clip(whole, 0, 1), a)
    assert np.array_equal(tiled, again)
    # cv2's float32 running sums start at each crop's edge: rounding differs (2e-4 measured); a margin of r instead of
    # 2r+1 (windows a core pixel depends on cut off) differed by 3.7e-3 on this crop.
    assert np.abs(tiled - expected).max() < 1e-3


def test_guided_filter_reproduces_an_alpha_that_is_affine_in_colour():
    # Within every window α = a·I + b exactly, so the ridge regression (eps → 0) returns it unchanged.
    rng = np.random.default_rng(1)
    guide = rng.random((40, 50, 3), dtype=np.float32)
    p = (0.2 + 0.3 * guide[..., 0] - 0.1 * guide[..., 2]).astype(np.float32)
    assert np.abs(refine_classic.guided_filter(guide, p, 3, 1e-8) - p).max() < 1e-3


def test_guided_falls_back_to_the_input_when_a_tile_is_not_finite(monkeypatch):
    image, mask, _ = gt05_edge_crop()
    real = refine_classic.guided_filter
    calls = []

    def first_tile_fails(guide, p, r, eps):
        calls.append(1)
        out = real(guide, p, r, eps)
        return np.full_like(out, np.nan) if len(calls) == 1 else out

    monkeypatch.setattr(refine_classic, "guided_filter", first_tile_fails)
    r = refine_classic.refine(image, mask, band=10, method="guided", tile=100)
    a = mask.astype(np.float32)
    assert len(calls) == 4
    assert np.array_equal(r.alpha[:100, :100], a[:100, :100])  # the failed tile keeps its input
    band = refine_classic.make_trimap(a, 10) == 0.5
    assert not np.array_equal(r.alpha[100:, 100:][band[100:, 100:]], a[100:, 100:][band[100:, 100:]])
    assert r.notes and "kept the previous alpha on 1 of 4 tiles" in r.notes[0]
