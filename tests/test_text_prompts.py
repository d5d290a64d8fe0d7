"""Text prompts (issue 12) with a seeded random small Grounding DINO saved as real files (tests/support/tiny_detector):
fidelity against transformers' own post-processing, the detector stage's rules in the engine, and the real daemon
and both client transports. The "sam" backend keeps each instance's matte cheap; the stage is the same for all."""
from __future__ import annotations

import os
from contextlib import contextmanager

import numpy as np
import pytest
import torch

from mam_engine import MattingEngine
from mam_engine.detect import clip_box, nms
from mam_engine.detect.grounding_dino import GroundingDinoDetector, _label
from mam_engine.request import NMS_IOU, Limits, RequestError
from plugins.mam_client import MamClient, MamError
from support.daemon_harness import WireClient, rgba8, running_daemon
from support.tiny_detector import build_tiny_detector

IMAGE = (np.random.default_rng(0).random((90, 120, 3)) * 255).astype(np.uint8)


@pytest.fixture(scope="module")
def weights_dir(tmp_path_factory):
    root = tmp_path_factory.mktemp("weights")
    build_tiny_detector(root / "grounding-dino-tiny")
    return root


@pytest.fixture(scope="module")
def engine(weights_dir):
    return MattingEngine(model_type="tiny", random_weights_seed=0, device="cpu", backend="sam",
                         detector_checkpoint=weights_dir / "grounding-dino-tiny")


@pytest.fixture(scope="module")
def scores(engine):
    """Every box score for 'the dog' after NMS, best first (threshold 0): the tests pick thresholds between them."""
    out = engine.matte(IMAGE, text="the dog", box_threshold=0.0)
    detector = __import__("mam_engine.detect.stage", fromlist=["_"])._DETECTORS[engine.pipeline]
    found = nms(detector.detect(IMAGE, "s", "the dog", 0.0, 0.25).detections, NMS_IOU)
    assert out.instances[0].score == found[0].score
    return [d.score for d in found], found


def _reference(folder, image, phrase, box_threshold, text_threshold):
    """transformers alone: its processor (PIL image processor), a freshly loaded model, its post-processing."""
    from PIL import Image
    from transformers import (
        AutoModelForZeroShotObjectDetection,
        AutoTokenizer,
        GroundingDinoImageProcessorPil,
        GroundingDinoProcessor,
    )

    processor = GroundingDinoProcessor(GroundingDinoImageProcessorPil.from_pretrained(folder),
                                       AutoTokenizer.from_pretrained(folder))
    model = AutoModelForZeroShotObjectDetection.from_pretrained(folder).eval()
    inputs = processor(images=Image.fromarray(image), text=phrase, return_tensors="pt")
    with torch.no_grad():
        outputs = model(**inputs)
    return processor.post_process_grounded_object_detection(outputs, inputs["input_ids"], threshold=box_threshold,
                                                            text_threshold=text_threshold,
                                                            target_sizes=[image.shape[:2]])[0]


def test_boxes_equal_transformers_post_processing_exactly(weights_dir):
    folder = weights_dir / "grounding-dino-tiny"
    detector = GroundingDinoDetector(folder, "cpu")
    for phrase in ("the dog.", "a cat. the sky."):  # the second reuses the first's backbone features
        ours = detector.detect(IMAGE, "key", phrase, 0.4, 0.3)
        ref = _reference(folder, IMAGE, phrase, 0.4, 0.3)
        assert len(ours.detections) == len(ref["boxes"]) > 0
        assert torch.equal(torch.tensor([d.box for d in ours.detections]), ref["boxes"].to(torch.float64))
        assert [d.score for d in ours.detections] == ref["scores"].tolist()
        assert [d.label for d in ours.detections] == [_label(t) for t in ref["text_labels"]]
    assert detector.backbone.hits == 1


def test_second_phrase_skips_the_backbone(weights_dir):
    detector = GroundingDinoDetector(weights_dir / "grounding-dino-tiny", "cpu")
    calls = []
    detector.backbone.inner.register_forward_hook(lambda *a: calls.append(1))
    detector.detect(IMAGE, "k", "the dog", 0.3, 0.25)
    detector.detect(IMAGE, "k", "the cat", 0.3, 0.25)
    assert len(calls) == 1
    detector.detect(IMAGE[::-1].copy(), "other", "the cat", 0.3, 0.25)
    assert len(calls) == 2


def test_best_is_the_top_detection_matted_like_its_box(engine, scores):
    _, found = scores
    r = engine.matte(IMAGE, text="the dog", box_threshold=0.0)
    assert len(r.instances) == 1 and r.instances[0].box == clip_box(found[0].box, 120, 90)
    plain = engine.matte(IMAGE, box=r.instances[0].box)
    assert np.array_equal(r.alpha, plain.alpha) and r.score == plain.score == r.instances[0].mask_score


def test_all_instances_and_their_union(engine, scores):
    values, found = scores
    threshold = (values[2] + values[3]) / 2  # exactly three above it
    r = engine.matte(IMAGE, text="the dog", box_threshold=threshold, instances="all")
    assert [i.score for i in r.instances] == values[:3]
    assert all(i.label for i in r.instances)
    assert np.array_equal(r.alpha, np.maximum.reduce([i.alpha for i in r.instances]))
    second = engine.matte(IMAGE, box=r.instances[1].box)
    assert np.array_equal(r.instances[1].alpha, second.alpha)


def test_thresholds_keep_only_scores_above(engine, scores):
    values, _ = scores
    threshold = (values[0] + values[1]) / 2
    r = engine.matte(IMAGE, text="the dog", box_threshold=threshold, instances="all")
    assert [i.score for i in r.instances] == values[:1]
    loose = engine.matte(IMAGE, text="the dog", box_threshold=threshold, text_threshold=0.0)
    strict = engine.matte(IMAGE, text="the dog", box_threshold=threshold, text_threshold=1.0)
    assert loose.instances[0].box == strict.instances[0].box and strict.instances[0].label == ""


def test_no_detection_is_an_empty_result_with_a_note(engine):
    r = engine.matte(IMAGE, text="the dog", box_threshold=1.0, foreground=True)
    assert not r.alpha.any() and r.instances == [] and r.score == 0.0
    assert r.foreground is not None and not r.foreground.any()
    assert any("nothing matched 'the dog'" in n and "best candidate scored" in n for n in r.notes)


def test_box_limits_where_and_points_pick_which(engine, scores):
    _, found = scores
    target = found[3]
    box = clip_box(target.box, 120, 90)
    r = engine.matte(IMAGE, text="the dog", box_threshold=0.0, box=box, instances="all")
    assert r.instances and all(i.box[0] >= box[0] - (i.box[2] - i.box[0]) for i in r.instances)
    assert target.score in [i.score for i in r.instances] and found[0].score not in [i.score for i in r.instances] \
        or clip_box(found[0].box, 120, 90) == box
    cx, cy = (box[0] + box[2]) / 2, (box[1] + box[3]) / 2
    picked = engine.matte(IMAGE, text="the dog", box_threshold=0.0, points=[(cx, cy, 1)])
    b = picked.instances[0].box
    assert b[0] <= cx <= b[2] and b[1] <= cy <= b[3]
    outside = engine.matte(IMAGE, text="the dog", box_threshold=0.99, box=(0, 0, 1, 1))
    assert not outside.alpha.any() and outside.notes


def test_instance_limit(engine):
    request = engine.check(120, 90, Limits(max_instances=2), text="the dog", box_threshold=0.0, instances="all")
    r = engine.run(IMAGE, request)
    assert len(r.instances) == 2 and any("max_instances" in n for n in r.notes)


def test_text_rules_unicode_empty_and_long(engine):
    r = engine.matte(IMAGE, text="der Hund 🐕 犬", box_threshold=0.0)
    assert len(r.instances) == 1
    for bad in ("", "   "):
        with pytest.raises(RequestError) as err:
            engine.matte(IMAGE, text=bad)
        assert err.value.field == "text" and err.value.code == "bad_request"
    with pytest.raises(RequestError) as err:
        engine.matte(IMAGE, text="dogs" * 2500)
    assert err.value.field == "text" and "10000 characters" in str(err.value) and len(str(err.value)) < 400
    long = engine.matte(IMAGE, text="a " * 500, box_threshold=0.0)  # 1000 characters, 500 tokens: cut, and said
    assert any("first 256" in n for n in long.notes)
    with pytest.raises(RequestError, match="mask"):
        engine.matte(IMAGE, text="dog", mask=np.ones((90, 120), bool))
    with pytest.raises(RequestError, match="options.box_threshold"):
        engine.matte(IMAGE, box=(0, 0, 10, 10), box_threshold=0.3)


def test_missing_detector_names_the_command(tmp_path, monkeypatch):
    monkeypatch.setenv("MAM_WEIGHTS_DIR", str(tmp_path))
    engine = MattingEngine(model_type="tiny", random_weights_seed=0, device="cpu", backend="sam")
    assert not engine.text_available()
    with pytest.raises(RequestError) as err:
        engine.matte(IMAGE, text="the dog")
    assert err.value.code == "missing_weights" and "mam-weights download grounding-dino-tiny" in str(err.value)


# --- the real daemon and both client transports ------------------------------------------------------------------
@contextmanager
def daemon_with_weights(folder):
    """A real daemon (sam backend, tiny random SAM) whose weights folder is `folder` (MAM_WEIGHTS_DIR)."""
    saved = os.environ.get("MAM_WEIGHTS_DIR")
    os.environ["MAM_WEIGHTS_DIR"] = str(folder)
    try:
        with running_daemon("--backend", "sam") as d:
            yield d
    finally:
        if saved is None:
            del os.environ["MAM_WEIGHTS_DIR"]
        else:
            os.environ["MAM_WEIGHTS_DIR"] = saved


@pytest.fixture(scope="module")
def text_daemon(weights_dir):
    with daemon_with_weights(weights_dir) as d:
        yield d


def test_daemon_instances_equal_the_engine(text_daemon, engine, scores):
    values, _ = scores
    threshold = (values[1] + values[2]) / 2
    direct = engine.matte(IMAGE, text="the dog", box_threshold=threshold, instances="all")
    with WireClient(text_daemon.endpoint) as c:
        assert "text" in c.hello().header["features"]
        c.matte("a", IMAGE, prompt={"text": "the dog"}, options={"box_threshold": threshold, "instances": "all"})
        r = c.wait_for("a")
    assert r.type == "result" and r.header["frames"] == ["alpha", "alpha_0", "alpha_1"]
    assert [e["score"] for e in r.header["instances"]] == [i.score for i in direct.instances]
    for entry, frame, inst in zip(r.header["instances"], r.frames[1:], direct.instances):
        assert entry["box"] == list(inst.box) and entry["label"] == inst.label
        assert frame == np.round(inst.alpha * 255).astype(np.uint8).tobytes()
    assert r.frames[0] == np.round(direct.alpha * 255).astype(np.uint8).tobytes()
    assert [p["stage"] for p in r.progress][:3] == ["queued", "start", "detect"]


def test_daemon_refusals_name_the_field(text_daemon):
    with WireClient(text_daemon.endpoint) as c:
        for rid, prompt, options, field in (("1", {"text": "x" * 10_000}, {}, "text"),
                                            ("2", {"text": "dog"}, {"box_threshold": "high"}, "options.box_threshold"),
                                            ("3", {"text": "dog"}, {"instances": 3}, "options.instances"),
                                            ("4", {"text": ""}, {}, "text")):
            c.matte(rid, IMAGE, prompt=prompt, options=options)
            r = c.wait_for(rid)
            assert r.type == "error" and r.header["code"] == "bad_request" and field in r.header["message"]
            assert not r.progress and len(r.header["message"]) < 400
        c.matte("5", IMAGE, prompt={"text": "the dog"}, options={"box_threshold": 1.0})
        r = c.wait_for("5")
        assert r.type == "result" and r.header["instances"] == [] and r.header["notes"]


def test_daemon_without_detector_offers_no_text(tmp_path):
    with daemon_with_weights(tmp_path) as d, WireClient(d.endpoint) as c:
        assert "text" not in c.hello().header["features"]
        c.matte("t", IMAGE, prompt={"text": "the dog"})
        r = c.wait_for("t")
        assert r.header["code"] == "missing_weights" and not r.progress
        assert "mam-weights download grounding-dino-tiny" in r.header["message"]
        build_tiny_detector(tmp_path / "grounding-dino-tiny")  # installed while it runs: offered at once
        assert "text" in c.hello("h2").header["features"]


@pytest.mark.parametrize("pure", [True, False], ids=["pure-python", "pyzmq"])
def test_client_text_and_instances(text_daemon, scores, pure):
    values, _ = scores
    threshold = (values[1] + values[2]) / 2
    with MamClient(text_daemon.endpoint, pure_python=pure) as client:
        pixels = rgba8(IMAGE)
        r = client.matte(120, 90, "RGBA8", pixels, text="the dog", box_threshold=threshold, instances="all")
        assert [round(i.score, 6) for i in r.instances] == [round(v, 6) for v in values[:2]]
        assert all(len(i.alpha) == i.width * i.height for i in r.instances)
        union = np.maximum(*[np.frombuffer(i.alpha, np.uint8) for i in r.instances])
        assert union.tobytes() == r.alpha
        # the subject's colours come after the instance frames (the extracted-layer-per-instance case)
        coloured = client.matte(120, 90, "RGBA8", pixels, text="the dog", box_threshold=threshold,
                                instances="all", foreground=True)
        assert [i.alpha for i in coloured.instances] == [i.alpha for i in r.instances]
        assert coloured.foreground is not None and len(coloured.foreground) == 120 * 90 * 3
        best = client.matte(120, 90, "RGBA8", pixels, text="the dog", box_threshold=threshold, crop=True)
        assert len(best.instances) == 1 and best.instances[0].alpha == best.alpha
        with pytest.raises(MamError) as err:
            client.matte(120, 90, "RGBA8", pixels, text="dog " * 2500)
        assert err.value.code == "bad_request"
