"""Matting metrics on hand-made cases whose answers are worked out by hand in the comments."""

import numpy as np
import pytest

from mam_engine.evaluation import metrics


def test_sad_counts_absolute_difference_over_1000():
    gt = np.ones((10, 10), dtype=np.float32)
    pred = np.zeros((10, 10), dtype=np.float32)
    pred[:5] = 0.5  # 50 px off by 0.5, 50 px off by 1 → 75 / 1000
    assert metrics.sad(pred, gt) == pytest.approx(0.075)
    assert metrics.sad(gt, gt) == 0.0


def test_sad_accepts_uint8_and_region():
    gt = np.full((4, 4), 255, dtype=np.uint8)
    pred = np.zeros((4, 4), dtype=np.uint8)
    region = np.zeros((4, 4), dtype=bool)
    region[0, :3] = True  # 3 px, each off by 1
    assert metrics.sad(pred, gt, region) == pytest.approx(0.003)


def test_mse_is_mean_times_1000():
    gt = np.zeros((4, 4))
    pred = np.zeros((4, 4))
    pred[0, 0] = 1.0  # one of 16 px off by 1 → 1/16 = 0.0625 → ×10³ = 62.5
    pred[1, 1] = 0.5  # plus 0.25/16 = 0.015625 → 15.625
    assert metrics.mse(pred, gt) == pytest.approx(78.125)
    assert metrics.mad(pred, gt) == pytest.approx(1.5 / 16 * 1000)


def test_grad_is_zero_for_equal_alphas_and_constants():
    rng = np.random.default_rng(0)
    a = rng.random((20, 20))
    assert metrics.gradient_error(a, a) == 0.0
    # Two different constants have the same (zero) gradient everywhere.
    assert metrics.gradient_error(np.full((9, 9), 0.2), np.full((9, 9), 0.9)) == pytest.approx(0.0, abs=1e-12)


def test_grad_of_a_linear_ramp_matches_the_filter_response():
    # Kernel k(y, x) = g(y)·g'(x) / ||·||₂ with g'(u) = −u g(u)/σ². Convolving the ramp α = s·x gives
    # s · Σg · Σu²g/σ² / sqrt(Σg² · Σ(u g/σ²)²) at every interior pixel (the normalisation of g cancels).
    sigma, s = 1.4, 0.01
    u = np.arange(-4, 5, dtype=np.float64)  # half-size ceil(1.4·sqrt(−2 ln(√(2π)·1.4·0.01))) = 4
    g = np.exp(-(u**2) / (2 * sigma**2))
    expected_gx = s * g.sum() * (u**2 * g).sum() / sigma**2 / np.sqrt((g**2).sum() * ((u * g / sigma**2) ** 2).sum())
    h, w = 30, 60
    ramp = s * np.tile(np.arange(w, dtype=np.float64), (h, 1))
    flat = np.zeros((h, w))
    interior = np.zeros((h, w), dtype=bool)
    interior[5:-5, 5:-5] = True
    n = interior.sum()
    assert metrics.gradient_error(ramp, flat, interior) == pytest.approx(n * expected_gx**2 / 1000, rel=1e-9)
    # The transposed ramp (vertical gradient) gives the same error: the filters are the same up to rotation.
    assert metrics.gradient_error(ramp.T, flat.T, interior.T) == pytest.approx(n * expected_gx**2 / 1000, rel=1e-9)


def test_gaussian_kernel_has_benchmark_size_and_unit_norm():
    k = metrics.gaussian_derivative_kernel(1.4)
    assert k.shape == (9, 9)
    assert np.sum(k * k) == pytest.approx(1.0)


def test_conn_disconnected_pixel():
    # gt all 1; pred = [1, 0, 1, 1, 1]. At t = 0.1 the largest component of pred∧gt is {2, 3, 4}; pixels 0 and 1
    # leave it, so their level is 0. pred: d = [1, 0, 0, 0, 0] → φ = [0, 1, 1, 1, 1]; gt: d = [1, 1, 0, 0, 0] →
    # φ = [0, 0, 1, 1, 1]. Σ|Δφ| = 1 → 0.001.
    gt = np.ones((1, 5))
    pred = np.array([[1.0, 0.0, 1.0, 1.0, 1.0]])
    assert metrics.connectivity_error(pred, gt) == pytest.approx(0.001)


def test_conn_partial_alpha_island():
    # Same as above with pixel 0 at 0.5: d = 0.5 ≥ 0.15 → φ = 0.5; Σ|Δφ| = 0.5 + 1 = 1.5 → 0.0015.
    gt = np.ones((1, 5))
    pred = np.array([[0.5, 0.0, 1.0, 1.0, 1.0]])
    assert metrics.connectivity_error(pred, gt) == pytest.approx(0.0015)


def test_conn_pixel_leaving_at_a_later_threshold():
    # pred = [0.35, 1, 1, 1], gt all 1: pixel 0 leaves the component at t = 0.4, so l = 0.3.
    # pred: d = 0.05 < 0.15 → φ = 1; gt: d = 0.7 → φ = 0.3; the rest have l = 1, d = 0. Σ|Δφ| = 0.7 → 0.0007.
    gt = np.ones((1, 4))
    pred = np.array([[0.35, 1.0, 1.0, 1.0]])
    assert metrics.connectivity_error(pred, gt) == pytest.approx(0.0007)


def test_conn_uses_4_connectivity():
    # gt all 1; pred has a 2×2 block of 1 and pixel (2, 2) = 0.12 touching it only diagonally.
    # 4-connected: at t = 0.1 (2, 2) is its own component, so the four 0-pixels and (2, 2) get
    # level 0: pred d ∈ {0, 0.12} < 0.15 → φ = 1, gt d = 1 → φ = 0 → Σ = 5 → 0.005.
    # (8-connected it would stay until t = 0.2, level 0.1, gt φ = 0.1 → 4.9 → 0.0049.)
    gt = np.ones((3, 3))
    pred = np.zeros((3, 3))
    pred[:2, :2] = 1.0
    pred[2, 2] = 0.12
    assert metrics.connectivity_error(pred, gt) == pytest.approx(0.005)


def test_identical_alphas_score_zero_everywhere():
    rng = np.random.default_rng(1)
    a = rng.random((16, 16))
    assert metrics.all_metrics(a, a) == {"SAD": 0.0, "MSE": 0.0, "Grad": 0.0, "Conn": 0.0}


@pytest.mark.parametrize(
    "pred, gt, msg",
    [
        (np.zeros((3, 3)), np.zeros((3, 4)), "differs"),
        (np.zeros((3, 3, 1)), np.zeros((3, 3)), "2-D"),
        (np.full((3, 3), 1.5), np.zeros((3, 3)), r"\[0, 1\]"),
        (np.full((3, 3), np.nan), np.zeros((3, 3)), r"\[0, 1\]"),
    ],
)
def test_bad_input_names_the_problem(pred, gt, msg):
    with pytest.raises(ValueError, match=msg):
        metrics.sad(pred, gt)


def test_iou():
    a = np.zeros((4, 4), dtype=bool)
    b = np.zeros((4, 4), dtype=bool)
    a[:2] = True  # 8 px
    b[1:3] = True  # 8 px, 4 shared → 4 / 12
    assert metrics.iou(a, b) == pytest.approx(1 / 3)
    assert metrics.iou(a & False, b & False) == 1.0
