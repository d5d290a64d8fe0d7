"""`prepare` and the `preview` option (issue 11, PROTOCOL revision 1.4) on a real daemon over real sockets (the tiny
random model; its M2M takes about a second a matte, which the ordering tests use as the busy job), and the queue
rules behind them without a worker thread."""
from __future__ import annotations

import math

import numpy as np
import pytest
import zmq

from mam_engine.request import Limits, check_request
from mam_server.image_store import ImageStore
from mam_server.protocol import ImageSpec, MatteMessage, PrepareMessage
from mam_server.worker import Job, Worker
from support.daemon_harness import WireClient, alpha_array, image_header, rgba8

BOX = [10, 8, 50, 40]


def _image(seed: int, h: int = 48, w: int = 64) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (h, w, 3), dtype=np.uint8)


def _prepare(client: WireClient, rid: str, image: np.ndarray, send_pixels: bool = True, **extra) -> None:
    pixels = rgba8(image)
    header = {"id": rid, "type": "prepare", "image": image_header(image.shape[1], image.shape[0], pixels),
              "frames": ["pixels"] if send_pixels else [], **extra}
    client.send(header, *([pixels] if send_pixels else []))


def _wait_stage(client: WireClient, rid: str, stage: str) -> None:
    """Block until `rid` reported `stage` (the worker is running it); other replies stay buffered in order."""
    while not any(h["type"] == "progress" and h["stage"] == stage for h, _ in client.pending.get(rid, [])):
        header, frames = client.recv()
        client.pending.setdefault(header.get("id"), []).append((header, frames))


def _terminal_order(client: WireClient, ids: set[str]) -> list[str]:
    """The ids in `ids` in the order their final replies arrive (replies already buffered count first)."""
    order = [rid for rid in ids if any(h["type"] != "progress" for h, _ in client.pending.get(rid, []))]
    while len(order) < len(ids):
        header, frames = client.recv()
        client.pending.setdefault(header.get("id"), []).append((header, frames))
        if header.get("id") in ids and header["type"] != "progress":
            order.append(header["id"])
    return order


def _queued_position(reply) -> int:
    return next(p["position"] for p in reply.progress if p["stage"] == "queued")


# --- the real daemon ---------------------------------------------------------------------------------------------

def test_hello_offers_prepare_and_preview(daemon, classic_daemon):
    for d in (daemon, classic_daemon):
        with WireClient(d.endpoint) as c:
            assert {"prepare", "preview"} <= set(c.hello().header["features"])


def test_prepared_canvas_skips_the_encoder_on_its_first_matte(daemon, tiny_engine):
    image = _image(10)
    pixels = rgba8(image)
    with WireClient(daemon.endpoint) as c:
        _prepare(c, "p", image)
        prepared = c.wait_for("p")
        c.matte("m", pixels=pixels, spec=image_header(64, 48, pixels), prompt={"box": BOX}, send_pixels=False)
        matte = c.wait_for("m")
    assert prepared.type == "ok", prepared.header
    assert prepared.header["prepared"] is True and prepared.header["digest"] == image_header(64, 48, pixels)["digest"]
    assert "encode" in prepared.header["timings"] and set(prepared.header["server_timings"]) >= {"queue_wait", "total"}
    assert [p["stage"] for p in prepared.progress] == ["queued", "start", "encode", "done"]
    assert matte.type == "result", matte.header
    assert "encode" not in matte.header["timings"] and "decode" in matte.header["timings"]
    assert "encode" not in [p["stage"] for p in matte.progress]
    expected = tiny_engine.matte(image, box=BOX)
    np.testing.assert_array_equal(alpha_array(matte), (np.clip(expected.alpha, 0, 1) * 255 + 0.5).astype(np.uint8))


def test_a_matte_sent_after_a_queued_prepare_is_answered_first(daemon):
    with WireClient(daemon.endpoint) as busy, WireClient(daemon.endpoint) as c:
        busy.matte("busy", _image(11), prompt={"box": BOX})
        _wait_stage(busy, "busy", "start")
        _prepare(c, "prep", _image(12))
        c.matte("click", _image(13), prompt={"box": BOX})
        order = _terminal_order(c, {"prep", "click"})
        prep, click = c.wait_for("prep"), c.wait_for("click")
        assert busy.wait_for("busy").type == "result"
    # Both waited together (the prepare had not started when the matte was queued), and the matte went first.
    assert _queued_position(click) == 2
    assert order == ["click", "prep"]
    assert click.type == "result" and "encode" in click.header["timings"]
    assert prep.type == "ok" and prep.header["prepared"] is True and "encode" in prep.header["timings"]


def test_a_newer_prepare_supersedes_the_queued_one_and_cancel_drops_one(daemon):
    with WireClient(daemon.endpoint) as busy, WireClient(daemon.endpoint) as c:
        busy.matte("busy", _image(14), prompt={"box": BOX})
        _wait_stage(busy, "busy", "start")
        _prepare(c, "old", _image(15))
        _prepare(c, "new", _image(16))
        c.matte("click", _image(17), prompt={"box": BOX})  # a matte supersedes mattes only, not the prepare
        old = c.wait_for("old")
        c.send({"id": "c", "type": "cancel", "target": "new"})
        ok, new, click = c.wait_for("c"), c.wait_for("new"), c.wait_for("click")
        assert busy.wait_for("busy").type == "result"
    assert old.type == "error" and old.header["code"] == "superseded" and "new" in old.header["message"]
    assert ok.type == "ok" and ok.header["state"] == "queued"
    assert new.type == "error" and new.header["code"] == "cancelled"
    assert click.type == "result"


@pytest.mark.parametrize(("change", "code", "words"), [
    ("too_large", "too_large", "max_pixels"),
    ("bad_digest", "bad_request", "digest mismatch"),
    ("short_frame", "bad_request", "pixel frame is"),
    ("unknown", "unknown_image", "send the pixels"),
    ("prompt", "bad_request", "prompt"),
    ("text", "bad_request", "detector runs with the matte"),
    ("options", "bad_request", "options"),
    ("mask_frame", "bad_message", "prepare takes 'pixels'"),
])
def test_prepare_refusals_come_alone_with_the_matte_codes(daemon, change, code, words):
    image = _image(20)
    pixels = rgba8(image)
    spec = image_header(64, 48, pixels)
    header = {"id": "p", "type": "prepare", "image": spec, "frames": ["pixels"]}
    frames = [pixels]
    if change == "too_large":
        header["image"] = dict(spec, width=20_000, height=10_000)
    elif change == "bad_digest":
        header["image"] = dict(spec, digest="0" * 32)
    elif change == "short_frame":
        frames = [pixels[:-4]]
    elif change == "unknown":
        header["frames"], frames = [], []
    elif change == "prompt":
        header["prompt"] = {"box": BOX}
    elif change == "text":
        header["prompt"] = {"text": "the dog"}
    elif change == "options":
        header["options"] = {"depth": 16}
    elif change == "mask_frame":
        header["frames"], frames = ["pixels", "mask"], [pixels, b"\0" * (64 * 48)]
    with WireClient(daemon.endpoint) as c:
        c.send(header, *frames)
        reply = c.wait_for("p", timeout=30)
    assert reply.type == "error" and reply.header["code"] == code and words in reply.header["message"], reply.header
    assert reply.progress == []


def test_classic_backend_has_nothing_to_prepare(classic_daemon):
    image = _image(21)
    with WireClient(classic_daemon.endpoint) as c:
        _prepare(c, "p", image)
        reply = c.wait_for("p", timeout=30)
        _prepare(c, "bad", image, send_pixels=False)  # nothing was kept: the digest alone is unknown
        unknown = c.wait_for("bad", timeout=30)
    assert reply.type == "ok" and reply.header["prepared"] is False and reply.progress == []
    assert "classic" in reply.header["reason"] and reply.header["timings"] == {}
    assert unknown.type == "error" and unknown.header["code"] == "unknown_image"


def _block_means(samples: np.ndarray, scale: int) -> np.ndarray:
    """The documented preview, written out block by block."""
    h, w = samples.shape
    out = np.zeros((math.ceil(h / scale), math.ceil(w / scale)), samples.dtype)
    for i in range(out.shape[0]):
        for j in range(out.shape[1]):
            block = samples[i * scale:(i + 1) * scale, j * scale:(j + 1) * scale].astype(np.int64)
            out[i, j] = (2 * int(block.sum()) + block.size) // (2 * block.size)
    return out


def test_preview_is_the_full_alpha_in_blocks_and_the_full_alpha_is_a_direct_mattes(daemon, tiny_engine):
    image = _image(22)
    pixels = rgba8(image)
    spec = image_header(64, 48, pixels)
    with WireClient(daemon.endpoint) as c:
        c.matte("preview", pixels=pixels, spec=spec, prompt={"box": BOX}, options={"preview": 30, "depth": 16})
        preview = c.wait_for("preview")
        c.matte("full", pixels=pixels, spec=spec, prompt={"box": BOX}, options={"depth": 16}, send_pixels=False)
        full = c.wait_for("full")
        c.matte("crop", pixels=pixels, spec=spec, prompt={"box": BOX}, options={"preview": 16, "crop": True},
                send_pixels=False)
        cropped = c.wait_for("crop")
        c.matte("crop_full", pixels=pixels, spec=spec, prompt={"box": BOX}, options={"crop": True},
                send_pixels=False)
        cropped_full = c.wait_for("crop_full")
    assert preview.type == full.type == cropped.type == cropped_full.type == "result"
    expected = (np.clip(tiny_engine.matte(image, box=BOX).alpha, 0, 1) * 65535 + 0.5).astype(np.uint16)
    np.testing.assert_array_equal(alpha_array(full), expected)  # byte for byte the direct matte
    assert (full.header["scale"], full.header["window_width"], full.header["window_height"]) == (1, 64, 48)
    h = preview.header
    assert (h["scale"], h["width"], h["height"], h["window_width"], h["window_height"]) == (3, 22, 16, 64, 48)
    np.testing.assert_array_equal(alpha_array(preview), _block_means(alpha_array(full), 3))
    window = alpha_array(cropped_full)
    assert window.size > 0, "the tiny model's matte is empty: the crop case checks nothing"
    h = cropped.header
    assert (h["x"], h["y"]) == (cropped_full.header["x"], cropped_full.header["y"])
    assert (h["window_width"], h["window_height"]) == (window.shape[1], window.shape[0])
    assert h["scale"] == math.ceil(max(window.shape) / 16) and max(h["width"], h["height"]) <= 16
    np.testing.assert_array_equal(alpha_array(cropped), _block_means(window, h["scale"]))


@pytest.mark.parametrize(("options", "words"), [
    ({"preview": 8}, "at least 16"),
    ({"preview": True}, "options.preview"),
    ({"preview": 1024.0}, "options.preview"),
    ({"preview": 64, "foreground": True}, "options.foreground"),
])
def test_bad_preview_is_refused_before_queueing(daemon, options, words):
    with WireClient(daemon.endpoint) as c:
        c.matte("m", _image(23), options=options)
        reply = c.wait_for("m", timeout=30)
    assert reply.type == "error" and reply.header["code"] == "bad_request" and words in reply.header["message"]
    assert reply.progress == []


# --- the queue rules, without running the model -------------------------------------------------------------------

def _worker() -> Worker:
    return Worker(None, ImageStore(1 << 20), zmq.Context.instance(), "inproc://unused", Limits())


def _spec(digest: str = "a" * 32) -> ImageSpec:
    return ImageSpec(10, 10, "RGBA8", 40, digest)


def _prepare_job(client: bytes, rid: str, pixels: bytes | None = b"\0" * 400) -> Job:
    return Job(client, PrepareMessage(rid, _spec(), None if pixels is None else memoryview(pixels)))


def _matte_job(client: bytes, rid: str, pixels: bytes | None = None) -> Job:
    request = MatteMessage(rid, _spec(), check_request(10, 10, box=(0.0, 0.0, 5.0, 5.0)),
                           pixels=None if pixels is None else memoryview(pixels))
    return Job(client, request)


def test_prepares_and_mattes_supersede_only_their_own_kind():
    w = _worker()
    p1, m1 = _prepare_job(b"A", "p1"), _matte_job(b"A", "m1", b"\0" * 400)
    assert w.submit(p1) == [] and w.submit(m1) == []
    p2 = _prepare_job(b"A", "p2")
    assert w.submit(p2) == [p1]
    assert w.submit(_prepare_job(b"B", "p3")) == []
    m2 = _matte_job(b"A", "m2", b"\0" * 400)
    assert w.submit(m2) == [m1]
    assert w.counts() == {"queued": 3, "running": 0}


def test_a_digest_only_matte_shares_the_pixels_of_the_prepare_it_overtakes():
    w = _worker()
    prep = _prepare_job(b"A", "p")
    w.submit(prep)
    click = _matte_job(b"B", "m")
    assert w.will_have_image(click.request.image.key)
    w.submit(click)
    assert click.request.pixels is not None and bytes(click.request.pixels) == b"\0" * 400
    assert prep.request.pixels is not None  # the prepare keeps them too: it runs after the matte
