"""The real daemon process over real sockets: hello, lossless round trip, digest re-use, supersede, cancel,
several clients, status, a client that vanishes. Each matte costs ~10 s of CPU with the tiny model, so
every test here is built to run as few of them as it can."""
from __future__ import annotations

import time

import numpy as np
import pytest

from support.daemon_harness import SEED, WireClient, alpha_array, image_header, real_photo, rgba8


def _random_image(seed: int, h: int = 48, w: int = 64) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (h, w, 3), dtype=np.uint8)


def _wait_progress(client: WireClient, rid: str, stage: str, timeout: float = 60) -> None:
    """Block until `rid` reported `stage` (i.e. the worker is inside that stage)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for header, _ in client.pending.get(rid, []):
            if header["type"] == "progress" and header["stage"] == stage:
                return
        header, frames = client.recv(deadline - time.monotonic())
        client.pending.setdefault(header.get("id"), []).append((header, frames))
    raise AssertionError(f"{rid} never reported stage {stage}")


def test_hello_describes_protocol_model_and_limits(daemon):
    with WireClient(daemon.endpoint) as c:
        h = c.hello().header
    assert h["type"] == "hello" and h["protocol"] == 1 and 1 in h["protocol_versions"]
    assert h["model"]["model_type"] == "tiny" and h["model"]["random_weights"] is True
    assert h["model"]["random_weights_seed"] == SEED and h["model"]["device"] == "cpu"
    assert h["limits"]["max_pixels"] == 100_000_000
    assert set(h["pixel_formats"]) == {"RGBA8", "BGRA8", "RGB8", "GRAY8", "RGBA16", "BGRA16", "RGBAF16", "RGBAF32"}
    assert h["auth"] == "none"


def test_unknown_image_is_answered_at_once(daemon):
    pixels = rgba8(_random_image(99))
    with WireClient(daemon.endpoint) as c:
        c.matte("m", pixels=pixels, spec=image_header(64, 48, pixels), send_pixels=False)
        reply = c.wait_for("m", timeout=10)
    assert reply.type == "error" and reply.header["code"] == "unknown_image"
    assert image_header(64, 48, pixels)["digest"] in reply.header["message"]


def test_round_trip_is_lossless_then_digest_reuse_skips_the_encoder(daemon, tiny_engine):
    photo = real_photo()
    h, w = photo.shape[:2]
    box = [w * 0.2, h * 0.1, w * 0.8, h * 0.95]
    with WireClient(daemon.endpoint) as c:
        c.matte("first", photo, prompt={"box": box}, options={"depth": 16})
        first = c.wait_for("first")
        assert first.type == "result", first.header
        points = [[w * 0.5, h * 0.5, 1], [5, 5, 0]]
        spec = image_header(w, h, rgba8(photo))
        c.matte("again", pixels=rgba8(photo), spec=spec, prompt={"points": points},
                options={"depth": 8, "crop": True}, send_pixels=False)
        again = c.wait_for("again")
    expected = tiny_engine.matte(photo, box=box)
    alpha = alpha_array(first)
    assert (first.header["width"], first.header["height"], first.header["x"], first.header["y"]) == (w, h, 0, 0)
    np.testing.assert_array_equal(alpha, (np.clip(expected.alpha, 0, 1) * 65535 + 0.5).astype(np.uint16))
    assert first.header["score"] == pytest.approx(expected.score, abs=1e-6)
    assert "encode" in first.header["timings"]
    assert [p["stage"] for p in first.progress][:3] == ["queued", "start", "encode"]
    assert again.type == "result", again.header
    assert "encode" not in again.header["timings"] and "m2m" in again.header["timings"]
    assert again.header["digest"] == spec["digest"]
    cropped = alpha_array(again)
    if cropped.size:  # the crop is the bounding box of the non-zero samples
        assert cropped[0].any() and cropped[-1].any() and cropped[:, 0].any() and cropped[:, -1].any()
        assert again.header["x"] + again.header["width"] <= w and again.header["y"] + again.header["height"] <= h


def test_newer_matte_supersedes_queued_one_and_inherits_its_pixels(daemon):
    busy, image = _random_image(1), _random_image(2)
    pixels = rgba8(image)
    spec = image_header(64, 48, pixels)
    with WireClient(daemon.endpoint) as c:
        c.matte("busy", busy)
        _wait_progress(c, "busy", "start")
        c.matte("old", pixels=pixels, spec=spec, prompt={"box": [0, 0, 30, 30]})
        c.matte("new", pixels=pixels, spec=spec, prompt={"box": [10, 10, 60, 40]}, send_pixels=False)
        old, new, first = c.wait_for("old"), c.wait_for("new"), c.wait_for("busy")
    assert old.type == "error" and old.header["code"] == "superseded" and "new" in old.header["message"]
    assert first.type == "result"
    assert new.type == "result", new.header
    assert "encode" in new.header["timings"]  # it ran on the pixels the superseded request carried


def test_cancel_queued_and_running(daemon):
    image = _random_image(3)
    with WireClient(daemon.endpoint) as c:
        c.matte("run", image)
        _wait_progress(c, "run", "encode")
        c.matte("wait", image, prompt={"points": [[3, 3, 1]]})
        c.send({"id": "c1", "type": "cancel", "target": "wait"})
        c.send({"id": "c2", "type": "cancel", "target": "run"})
        c.send({"id": "c3", "type": "cancel", "target": "nothing-by-this-id"})
        ok1, ok2, ok3 = c.wait_for("c1"), c.wait_for("c2"), c.wait_for("c3")
        wait, run = c.wait_for("wait"), c.wait_for("run")
        c.send({"id": "s", "type": "status"})
        status = c.wait_for("s").header
    assert ok1.type == ok2.type == ok3.type == "ok"
    assert (ok1.header["state"], ok2.header["state"], ok3.header["state"]) == ("queued", "running", "unknown")
    assert wait.type == "error" and wait.header["code"] == "cancelled"
    assert run.type == "error" and run.header["code"] == "cancelled"
    assert "m2m" not in [p["stage"] for p in run.progress]  # stopped at the first stage boundary after encode
    assert status["queued"] == 0 and status["running"] == 0


def test_three_clients_at_once_share_one_embedding(daemon):
    image = _random_image(4)
    clients = [WireClient(daemon.endpoint) for _ in range(3)]
    try:
        for i, c in enumerate(clients):
            c.matte(f"c{i}", image, prompt={"box": [i * 5, i * 5, 40 + i * 5, 40]})
        replies = [c.wait_for(f"c{i}") for i, c in enumerate(clients)]
        clients[0].send({"id": "s", "type": "status"})
        status = clients[0].wait_for("s").header
    finally:
        for c in clients:
            c.close()
    assert [r.type for r in replies] == ["result"] * 3, [r.header for r in replies]
    assert sum("encode" in r.header["timings"] for r in replies) == 1
    assert all(alpha_array(r).shape == (48, 64) for r in replies)
    assert status["clients"] >= 3 and status["cache"]["entries"] >= 1 and status["uptime_s"] > 0


def test_client_that_disconnects_mid_request_does_not_disturb_others(daemon):
    gone = WireClient(daemon.endpoint)
    gone.matte("orphan", _random_image(5))
    _wait_progress(gone, "orphan", "encode")
    gone.close()
    with WireClient(daemon.endpoint) as c:
        assert c.hello("after").type == "hello"  # answered while the orphan still runs
        c.send({"id": "s", "type": "status"})
        assert c.wait_for("s").header["running"] == 1
        deadline, running = time.monotonic() + 120, 1
        while running and time.monotonic() < deadline:
            time.sleep(0.5)
            c.send({"id": "poll", "type": "status"})
            running = c.wait_for("poll").header["running"]
        assert running == 0
    assert "event=matte_done id=orphan" in daemon.log()  # it ran to the end; its answer had nowhere to go
    log = daemon.log()  # structured lines with ids, sizes and stage timings; never pixel bytes
    assert "event=matte_queued client=" in log and "id=orphan size=64x48 format=RGBA8" in log
    assert "encode:" in log and "m2m:" in log and "\\x" not in log and len(log) < 200_000

