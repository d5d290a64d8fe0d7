"""The default fast path (folded M2M on the fusion window) gives MAM's reference numbers within float rounding."""
import numpy as np
import pytest
import torch
from torch.nn import functional as F

from mam_engine import MattingEngine
from mam_engine.model.embedding_cache import Encoded
from mam_engine.model.fusion import fuse
from mam_engine.model.predictor import MaskPrediction
from mam_engine.model.preprocess import Frame
from mam_engine.model.region import FUSION_REACH, Window, fusion_window, resize_window

TOL = 1e-5


@pytest.mark.parametrize("hw", [(1200, 1800), (534, 800), (300, 200), (3000, 4000), (1024, 1024)])
def test_window_resize_equals_full_interpolate(hw):
    h, w = hw
    frame = Frame.for_size(h, w)
    newh, neww = frame.resized
    src = torch.rand(3, 1024, 1024)
    full = F.interpolate(src[None, :, :newh, :neww], size=(h, w), mode="bilinear", align_corners=False)[0]
    out = Window(h // 5, h // 2, w // 3, w - 1)
    crop = Window(0, 1024, 0, 1024)
    got = resize_window(src, crop, frame.resized, frame.original, out)
    assert torch.allclose(got, full[:, out.y0:out.y1, out.x0:out.x1], atol=1e-6)


def _synthetic(engine, h, w, blob, seed=0):
    g = torch.Generator().manual_seed(seed)
    frame = Frame.for_size(h, w)
    encoded = Encoded(torch.randn(1, 256, 64, 64, generator=g), torch.randn(1, 3, 1024, 1024, generator=g), frame)
    post = np.zeros((h, w), bool)
    post[blob] = True
    newh, neww = frame.resized
    guide = torch.zeros(1, 1, 256, 256)
    small = F.interpolate(torch.from_numpy(post)[None, None].float(), size=(newh // 4, neww // 4), mode="nearest")
    guide[..., : small.shape[-2], : small.shape[-1]] = small
    return encoded, MaskPrediction(guide=guide, mask=post, score=1.0)


@pytest.mark.parametrize("guidance", ["alpha", "mask"])
@pytest.mark.parametrize("hw, blob", [
    ((600, 900), np.s_[200:320, 400:520]),  # small subject in the middle: a real crop
    ((600, 900), np.s_[0:150, 820:900]),  # touching the top-right corner
    ((400, 300), np.s_[50:390, 20:280]),  # large subject: window is most of the frame
    ((2000, 1500), np.s_[900:1000, 100:300]),  # large canvas, downscaled model frame
])
def test_window_path_equals_full_frame(tiny_engine, hw, blob, guidance):
    predictor = tiny_engine.pipeline.predictor
    encoded, prediction = _synthetic(tiny_engine, *hw, blob)
    timings = {}
    fast = predictor.matte(encoded, prediction, guidance, timings)
    reference = fuse(*predictor.m2m_alphas(encoded, prediction.guide), prediction.mask, guidance)
    assert fast.shape == reference.shape
    assert np.abs(fast - reference).max() < TOL
    assert ((reference > 0) & (reference < 1)).any()  # the comparison covers soft values, not just the mask
    assert {"m2m", "fusion"} <= set(timings)


def test_outside_the_fusion_reach_the_matte_is_the_mask(tiny_engine):
    """alpha guidance: beyond the mask's box grown by the fusion's reach, MAM's matte is SAM's mask itself."""
    encoded, prediction = _synthetic(tiny_engine, 600, 900, np.s_[200:320, 400:520])
    alpha = tiny_engine.pipeline.predictor.matte(encoded, prediction, "alpha")
    far = np.ones((600, 900), bool)
    far[200 - FUSION_REACH:320 + FUSION_REACH, 400 - FUSION_REACH:520 + FUSION_REACH] = False
    assert np.array_equal(alpha[far], prediction.mask[far].astype(np.float32))
    assert ((alpha > 0) & (alpha < 1)).any()


def test_empty_mask_gives_an_empty_matte_without_running_m2m(tiny_engine):
    encoded, prediction = _synthetic(tiny_engine, 64, 64, np.s_[0:0, 0:0])
    assert fusion_window(prediction.mask) is None
    timings = {}
    alpha = tiny_engine.pipeline.predictor.matte(encoded, prediction, "alpha", timings)
    assert not alpha.any() and "m2m" not in timings


def test_public_paths_agree_on_a_real_photo(truck):
    small = truck[::2, ::2].copy()
    fast = MattingEngine(model_type="tiny", random_weights_seed=2, device="cpu")
    ref = MattingEngine(model_type="tiny", random_weights_seed=2, device="cpu", path="reference")
    for prompt in ({"box": (212, 300, 350, 437)}, {"points": [(250, 187, 1), (560, 310, 0)], "guidance": "mask"}):
        a, b = fast.matte(small, **prompt), ref.matte(small, **prompt)
        assert np.array_equal(a.mask, b.mask)
        assert np.abs(a.alpha - b.alpha).max() < TOL


def test_unknown_path_is_named():
    with pytest.raises(ValueError, match="path"):
        MattingEngine(model_type="tiny", random_weights_seed=0, path="turbo")


def test_bf16_is_opt_in_and_close(truck):
    small = truck[::4, ::4].copy()
    exact = MattingEngine(model_type="tiny", random_weights_seed=4, device="cpu")
    low = MattingEngine(model_type="tiny", random_weights_seed=4, device="cpu", precision="bf16")
    assert exact.describe()["precision"] == "fp32"
    a, b = exact.matte(small, box=(100, 150, 175, 220)), low.matte(small, box=(100, 150, 175, 220))
    assert b.alpha.dtype == np.float32
    # bf16 moves SAM's mask edge by a pixel here and there (measured: 99.7 % of the mask agrees, mean |Δα| 5e-4,
    # 99th percentile 1.6e-3); a broken low-precision path lands far outside these bounds.
    error = np.abs(a.alpha - b.alpha)
    assert (a.mask == b.mask).mean() > 0.99
    assert error.mean() < 2e-3 and np.percentile(error, 99) < 1e-2
    with pytest.raises(ValueError, match="fp16.*cuda"):
        MattingEngine(model_type="tiny", random_weights_seed=0, device="cpu", precision="fp16")


@pytest.mark.parametrize("guidance", ["alpha", "mask"])
def test_upsampling_only_what_fusion_reads_is_bitwise_the_full_window(tiny_engine, guidance):
    """matte() upsamples each M2M alpha over the box fusion copies it to; the result must be bitwise the fusion of the
    three alphas upsampled over the whole window (bilinear is per pixel)."""
    predictor = tiny_engine.pipeline.predictor
    encoded, prediction = _synthetic(tiny_engine, 2000, 1500, np.s_[900:1000, 100:300])
    window = fusion_window(prediction.mask)
    rows, cols = window.slices()
    eager = prediction.mask.astype(np.float32)
    eager[rows, cols] = fuse(*predictor.m2m_alphas(encoded, prediction.guide, window), prediction.mask[rows, cols],
                             guidance)
    assert np.array_equal(predictor.matte(encoded, prediction, guidance), eager)
