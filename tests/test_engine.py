"""MattingEngine end to end on the tiny random model: API shape, caching, prompts, loading from files, bad input."""
import numpy as np
import pytest
import torch

from mam_engine import MattingEngine, StopMatte, image_digest
from mam_engine.model.sam_loader import build_sam
from mam_engine.request import RequestError
from mam_engine.weights.catalog import MissingWeightsError

TRUCK_BOX = (425, 600, 700, 875)


def _count_encoder_calls(engine):
    calls = []
    handle = engine.pipeline.predictor.sam.image_encoder.register_forward_hook(lambda *a: calls.append(1))
    return calls, handle


def test_box_prompt_result_shape(tiny_engine, truck):
    r = tiny_engine.matte(truck, box=TRUCK_BOX)
    assert r.alpha.shape == truck.shape[:2] and r.alpha.dtype == np.float32
    assert r.mask.shape == truck.shape[:2] and r.mask.dtype == bool
    assert 0.0 <= r.alpha.min() and r.alpha.max() <= 1.0
    assert isinstance(r.score, float)


def test_second_prompt_reuses_the_embedding(tiny_engine, truck):
    calls, handle = _count_encoder_calls(tiny_engine)
    try:
        key = image_digest(truck)
        tiny_engine.matte(truck, box=TRUCK_BOX)
        assert tiny_engine.has_embedding(key)
        before = len(calls)
        r = tiny_engine.matte(truck, points=[(500, 375, 1), (1125, 625, 0)], box=TRUCK_BOX)
        assert len(calls) == before
        assert "encode" not in r.timings and {"decode", "m2m", "fusion", "total"} <= set(r.timings)
        tiny_engine.matte(truck[::2, ::2].copy(), box=(100, 100, 300, 300))
        assert len(calls) == before + 1  # a different canvas is encoded
    finally:
        handle.remove()


def test_prepare_encodes_once_ahead_of_the_first_prompt(truck):
    engine = MattingEngine(model_type="tiny", random_weights_seed=0, device="cpu")
    calls, handle = _count_encoder_calls(engine)
    try:
        stages: list[str] = []
        first = engine.prepare(truck, on_progress=lambda stage, fraction: stages.append(stage))
        again = engine.prepare(truck)
        r = engine.matte(truck, box=TRUCK_BOX)
    finally:
        handle.remove()
    assert engine.can_prepare and set(first) == {"encode"} and first["encode"] > 0 and again == {}
    assert stages == ["encode", "done"] and len(calls) == 1 and "encode" not in r.timings
    classic = MattingEngine(backend="classic")
    assert not classic.can_prepare and classic.prepare(truck) is None


def test_lru_is_bounded_in_bytes():
    engine = MattingEngine(model_type="tiny", random_weights_seed=0, device="cpu", cache_bytes=20 * 2**20)
    images = [np.full((64, 64, 3), v, np.uint8) for v in (10, 20)]
    for img in images:
        engine.matte(img, box=(8, 8, 40, 40))
    stats = engine.pipeline.predictor.cache.stats()
    assert stats["entries"] == 1 and stats["bytes"] <= 20 * 2**20  # one image's state is 16 MiB
    assert engine.has_embedding(image_digest(images[1])) and not engine.has_embedding(image_digest(images[0]))


def test_same_seed_same_numbers(truck):
    a = MattingEngine(model_type="tiny", random_weights_seed=3, device="cpu")
    b = MattingEngine(model_type="tiny", random_weights_seed=3, device="cpu")
    small = truck[::4, ::4].copy()
    ra, rb = a.matte(small, box=(100, 150, 175, 220)), b.matte(small, box=(100, 150, 175, 220))
    assert np.array_equal(ra.alpha, rb.alpha) and np.array_equal(ra.mask, rb.mask)


def test_mask_prompt_and_mask_guidance(tiny_engine, truck):
    sel = np.zeros(truck.shape[:2], bool)
    sel[600:875, 425:700] = True
    r = tiny_engine.matte(truck, mask=sel, guidance="mask")
    assert r.alpha.shape == sel.shape


def test_cancel_from_progress_stops_and_engine_keeps_working(tiny_engine, truck):
    stages = []

    def cancel_at_m2m(stage, fraction):
        stages.append(stage)
        if stage == "m2m":
            raise StopMatte("user cancelled")

    with pytest.raises(StopMatte):
        tiny_engine.matte(truck, box=TRUCK_BOX, on_progress=cancel_at_m2m)
    assert stages[-1] == "m2m" and "done" not in stages
    done = []
    tiny_engine.matte(truck, box=TRUCK_BOX, on_progress=lambda s, f: done.append((s, f)))
    assert done[-1] == ("done", 1.0)


def test_loads_from_checkpoint_files_like_the_random_one(tmp_path):
    seed = 5
    reference = MattingEngine(model_type="tiny", random_weights_seed=seed, device="cpu")
    torch.save(reference.pipeline.predictor.sam.state_dict(), tmp_path / "sam_tiny.pth")
    m2m = {f"module.{k}": v for k, v in reference.pipeline.predictor.m2m.state_dict().items()}
    torch.save({"state_dict": m2m, "iter": 1}, tmp_path / "mam_tiny.pth")
    loaded = MattingEngine(tmp_path / "sam_tiny.pth", tmp_path / "mam_tiny.pth", model_type="tiny", device="cpu")
    assert loaded.describe()["m2m_layout"] == "m2m"
    img = np.random.default_rng(0).integers(0, 255, (96, 128, 3), dtype=np.uint8)
    a, b = reference.matte(img, box=(20, 20, 90, 80)), loaded.matte(img, box=(20, 20, 90, 80))
    assert np.array_equal(a.alpha, b.alpha)


@pytest.mark.slow
def test_vit_b_sam_loads_strictly_from_the_all_in_one_layout(tmp_path):
    """The older mam_sam_vitb.pth carries SAM ViT-B too; a seeded random ViT-B stands in for the real one."""
    torch.manual_seed(11)
    sam = build_sam("vit_b")
    from mam_engine.model.m2m import M2M

    state = {f"seg_model.{k}": v for k, v in sam.state_dict().items()}
    state.update({f"m2m.{k}": v for k, v in M2M().state_dict().items()})
    torch.save({"state_dict": state}, tmp_path / "mam_sam_vitb.pth")
    del state
    engine = MattingEngine(m2m_checkpoint=tmp_path / "mam_sam_vitb.pth", model_type="vit_b", device="cpu")
    info = engine.describe()
    assert info["m2m_layout"] == "all-in-one" and info["sam_checkpoint"].endswith("mam_sam_vitb.pth")
    for k, v in sam.state_dict().items():
        assert torch.equal(engine.pipeline.predictor.sam.state_dict()[k], v), k


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"box": (10, 10, 5, 20)}, "x0 < x1"),
        ({"box": (1, 2, 3)}, "box: must be 4 numbers"),
        ({"box": (-1, 0, 20, 20)}, r"0 <= x0 < x1 <= 32"),
        ({"box": (1, 1, 33, 20)}, r"x1 <= 32"),
        ({"points": [(32.5, 5, 1)]}, "outside"),
        ({"points": [(5, 5, True)]}, "label"),
        ({"box": (0, 0, float("nan"), 5)}, "finite"),
        ({"points": [(5, 5, 2)]}, "label"),
        ({"points": [(-1, 5, 1)]}, "outside"),
        ({"points": [("a", 5, 1)]}, "number"),
        ({"mask": np.ones((3, 3), bool)}, "mask: must be 32×32"),
        ({"mask": np.zeros((32, 32), bool)}, "mask: is empty"),
        ({"box": (1, 1, 20, 20), "refine_band": 4}, "needs options.refine"),
        ({}, "needs a box"),
        ({"box": (1, 1, 20, 20), "guidance": "trimap"}, "guidance"),
    ],
)
def test_bad_prompts_are_named(tiny_engine, kwargs, message):
    with pytest.raises(RequestError, match=message):
        tiny_engine.matte(np.zeros((32, 32, 3), np.uint8), **kwargs)


def test_a_point_on_the_far_edge_is_a_valid_click(tiny_engine):
    r = tiny_engine.matte(np.zeros((32, 32, 3), np.uint8), points=[(32, 32, 1), (0, 0, 0)])
    assert r.alpha.shape == (32, 32)


@pytest.mark.parametrize("backend", ["mam", "sam", "classic"])
@pytest.mark.parametrize("shape, box", [((1, 4000), (0, 0, 4000, 1)), ((4000, 1), (0, 0, 1, 4000)),
                                        ((1, 4000), (100, 0, 300, 1))])
def test_one_pixel_strips_are_matted(backend, shape, box):
    """The resize to SAM's frame used to round the short side to 0 ("height and width must be > 0")."""
    seed = None if backend == "classic" else 0
    engine = MattingEngine(model_type="tiny", random_weights_seed=seed, device="cpu", backend=backend)
    image = np.random.default_rng(1).integers(0, 256, (*shape, 3), dtype=np.uint8)
    r = engine.matte(image, box=box)
    assert r.alpha.shape == shape and np.isfinite(r.alpha).all()


def test_sam_backend_needs_only_sam_weights(tmp_path, monkeypatch, truck):
    """With no MAM file anywhere, backend "sam" loads (it used to ask for mam_vitb.pth, which it never uses)."""
    monkeypatch.setenv("MAM_WEIGHTS_DIR", str(tmp_path / "empty"))
    source = MattingEngine(model_type="tiny", random_weights_seed=6, device="cpu")
    torch.save(source.pipeline.predictor.sam.state_dict(), tmp_path / "sam_tiny.pth")
    engine = MattingEngine(tmp_path / "sam_tiny.pth", model_type="tiny", device="cpu", backend="sam")
    info = engine.describe()
    assert info["backend"] == "sam" and "m2m_checkpoint" not in info and engine.pipeline.predictor.m2m is None
    small = truck[::4, ::4].copy()
    r = engine.matte(small, box=(100, 150, 175, 220))
    assert np.array_equal(r.alpha, r.mask.astype(np.float32))
    assert np.array_equal(r.mask, source.matte(small, box=(100, 150, 175, 220)).mask)
    with pytest.raises(MissingWeightsError, match="mam_vitb.pth"):
        MattingEngine(tmp_path / "sam_tiny.pth", model_type="vit_b", device="cpu", backend="mam")


def test_bad_construction_is_named(tmp_path):
    with pytest.raises(ValueError, match="model_type"):
        MattingEngine(model_type="vit_x", random_weights_seed=0)
    with pytest.raises(ValueError, match="device"):
        MattingEngine(model_type="tiny", random_weights_seed=0, device="tpu")
    with pytest.raises(FileNotFoundError, match="nope.pth"):
        MattingEngine(tmp_path / "sam.pth", tmp_path / "nope.pth", model_type="tiny")


def test_mask_choice_follows_the_reference(tiny_engine, truck):
    """MAM_SPEC §3: multimask output, the highest predicted IoU wins, post mask = upsampled logits > 0."""
    from torch.nn import functional as F

    from mam_engine.model.preprocess import Frame, model_input

    small = truck[::3, ::3].copy()
    box = (140, 200, 235, 290)
    r = tiny_engine.matte(small, box=box)
    sam = tiny_engine.pipeline.predictor.sam
    frame = Frame.for_size(*small.shape[:2])
    sx, sy = frame.scale_xy()
    with torch.inference_mode():
        emb = sam.image_encoder(model_input(small, frame, torch.device("cpu")))
        boxes = torch.tensor([[box[0] * sx, box[1] * sy, box[2] * sx, box[3] * sy]], dtype=torch.float)
        sparse, dense = sam.prompt_encoder(points=None, boxes=boxes, masks=None)
        low, iou = sam.mask_decoder(image_embeddings=emb, image_pe=sam.prompt_encoder.get_dense_pe(),
                                    sparse_prompt_embeddings=sparse, dense_prompt_embeddings=dense,
                                    multimask_output=True)
        assert low.shape == (1, 3, 256, 256)
        best = int(iou[0].argmax())
        up = F.interpolate(low[:, best:best + 1], (1024, 1024), mode="bilinear", align_corners=False)
        up = up[..., :frame.resized[0], :frame.resized[1]]
        post = F.interpolate(up, small.shape[:2], mode="bilinear", align_corners=False)[0, 0] > 0
    assert r.score == pytest.approx(float(iou[0, best]), abs=1e-6)
    assert np.array_equal(r.mask, post.numpy())
