"""The daemon's quality options (protocol 1.1) against real `python -m mam_server.main` processes: the weight-free
classic backend, options.refine / refine_band / foreground, the foreground frame and its validation."""
from __future__ import annotations

import subprocess
import sys
import tempfile

import numpy as np
import pytest

from support.daemon_harness import (
    CLASSIC_BACKEND,
    ROOT,
    WireClient,
    WorkerThreadEngine,
    alpha_array,
    running_daemon,
    small_photo,
)

PHOTO_BOX_FRACTIONS = (0.02, 0.08, 0.99, 0.99)  # GT01's subject fills most of the frame


def photo_and_box() -> tuple[np.ndarray, list[float]]:
    image = small_photo("GT01.png")
    h, w = image.shape[:2]
    fx0, fy0, fx1, fy1 = PHOTO_BOX_FRACTIONS
    return image, [w * fx0, h * fy0, w * fx1, h * fy1]


def foreground_array(reply) -> np.ndarray:
    h = reply.header
    assert h["frames"] == ["alpha", "foreground"] and len(reply.frames) == 2, h
    return np.frombuffer(reply.frames[1], np.uint8).reshape(h["height"], h["width"], 3)


@pytest.fixture(scope="module")
def classic():
    with tempfile.TemporaryDirectory() as empty, pytest.MonkeyPatch.context() as env:
        env.setenv("MAM_WEIGHTS_DIR", empty)  # no checkpoints anywhere the engine could look
        env.setenv("XDG_CACHE_HOME", empty)
        with running_daemon(model=CLASSIC_BACKEND) as daemon:
            yield daemon


def test_classic_daemon_starts_without_weights_and_says_so(classic):
    with WireClient(classic.endpoint) as c:
        h = c.hello().header
    model = h["model"]
    assert model["backend"] == "classic" and model["mode"].startswith("classic (GrabCut")
    assert model["weights"].startswith("none") and model["random_weights"] is False
    assert "sam_checkpoint" not in model and "m2m_checkpoint" not in model
    assert h["features"] == ["refine:classic", "foreground", "prepare", "preview"]


def test_classic_results_equal_the_in_process_engine_in_both_frames_with_and_without_crop():
    image, box = photo_and_box()
    h, w = image.shape[:2]
    asks = [("plain", {}), ("fg", {"foreground": True}),
            ("crop", {"foreground": True, "crop": True, "depth": 16, "refine_band": 6})]
    reference = WorkerThreadEngine(backend="classic")
    try:
        with running_daemon(model=CLASSIC_BACKEND) as daemon, WireClient(daemon.endpoint) as c:
            replies = {}
            for rid, options in asks:
                c.matte(rid, image, prompt={"box": box}, options=options)
                replies[rid] = c.wait_for(rid)
                assert replies[rid].type == "result", replies[rid].header
        expected = {rid: reference.matte(image, box=box, foreground=o.get("foreground", False),
                                         refine_band=o.get("refine_band")) for rid, o in asks}
    finally:
        reference.close()

    plain, fg, crop = (replies[rid] for rid, _ in asks)
    assert plain.header["frames"] == ["alpha"] and len(plain.frames) == 1
    for rid, reply in (("plain", plain), ("fg", fg)):
        want = np.round(np.clip(expected[rid].alpha, 0, 1) * 255).astype(np.uint8)
        assert (reply.header["width"], reply.header["height"]) == (w, h)
        assert np.array_equal(alpha_array(reply), want), rid
        assert reply.header["notes"] == expected[rid].notes and reply.header["score"] == 0.0
    assert 0 < alpha_array(fg).mean() < 255, "a blank or full matte would make the comparisons meaningless"
    assert np.array_equal(foreground_array(fg), expected["fg"].foreground)
    assert "foreground" in fg.header["timings"] and "refine" in fg.header["timings"]

    x, y, cw, ch = (crop.header[k] for k in ("x", "y", "width", "height"))
    want16 = np.round(np.clip(expected["crop"].alpha, 0, 1) * 65535).astype("<u2")
    assert 0 < cw * ch < w * h, "the crop should cut something off for this check to mean anything"
    # round(alpha × 65535) in float32 (the daemon) and float64 (here) may differ by one step at a .5 boundary.
    assert np.abs(alpha_array(crop).astype(int) - want16[y:y + ch, x:x + cw]).max() <= 1
    outside = want16.copy()
    outside[y:y + ch, x:x + cw] = 0
    assert not outside.any()  # the window holds every non-zero alpha
    assert np.array_equal(foreground_array(crop), expected["crop"].foreground[y:y + ch, x:x + cw])


@pytest.mark.parametrize("options,needle", [
    ({"refine": "bilateral"}, "bilateral"),
    ({"refine_band": "8"}, "refine_band"),
    ({"foreground": "yes"}, "foreground"),
    ({"refine_band": 100000}, "out of range"),
    ({"refine_band": 0}, "out of range"),
])
def test_bad_quality_options_are_refused_alone_and_the_daemon_keeps_serving(classic, options, needle):
    image = small_photo("GT01.png", factor=8)
    with WireClient(classic.endpoint) as c:
        c.matte("bad", image, options=options)
        bad = c.wait_for("bad")
        assert bad.type == "error" and bad.header["code"] == "bad_request", bad.header
        assert needle in bad.header["message"]
        assert bad.progress == []  # refused before queueing: no `queued` progress
        c.matte("good", image, options={"foreground": True})
        good = c.wait_for("good")
    assert good.type == "result" and foreground_array(good).shape == image.shape
    assert classic.proc.poll() is None


def test_model_backend_takes_refine_and_foreground_and_names_a_band_without_refine():
    image = small_photo("GT01.png", factor=8)
    with running_daemon() as daemon, WireClient(daemon.endpoint) as c:
        h = c.hello().header
        assert h["model"]["backend"] == "mam" and h["model"]["mode"].startswith("MAM")
        c.matte("band", image, options={"refine_band": 4})
        lone_band = c.wait_for("band")
        c.matte("both", image, options={"refine": "classic", "refine_band": 4, "foreground": True})
        both = c.wait_for("both")
    assert lone_band.header["code"] == "bad_request"
    assert "options.refine_band: needs options.refine" in lone_band.header["message"]
    assert both.type == "result", both.header
    assert foreground_array(both).shape == image.shape
    assert [p["stage"] for p in both.progress][-1] == "done"


def test_classic_backend_refuses_model_flags():
    proc = subprocess.run([sys.executable, "-m", "mam_server.main", *CLASSIC_BACKEND, "--random-weights", "0",
                           "--endpoint", "tcp://127.0.0.1:1"], cwd=ROOT, capture_output=True, text=True, timeout=60,
)
    assert proc.returncode == 2 and "--random-weights" in proc.stderr
