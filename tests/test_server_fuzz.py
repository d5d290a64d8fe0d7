"""10,000 hostile messages against the real daemon: each gets a coded answer with its id, never `internal`.

Messages start from valid hello / status / cancel / matte requests and get one to three mutations each (a field set
to a value of the wrong type or range, a field dropped, frames added, dropped, truncated or garbled), from a seeded
generator so a failure is reproducible. Valid requests that survive the mutations run the tiny model.
"""
from __future__ import annotations

import hashlib
import math
import random
import time

import msgpack
import numpy as np
import pytest
import zmq

from support.daemon_harness import WireClient, image_header, rgba8, running_daemon

N_MESSAGES = 10_000
SEED = 20261203
W, H = 16, 12
PIXELS = rgba8(np.random.default_rng(3).integers(0, 256, (H, W, 3), dtype=np.uint8))
SPEC = image_header(W, H, PIXELS)
MASK = bytes([255]) * (W * H // 2) + bytes(W * H // 2)
HOSTILE_VALUES = [None, True, False, 0, -1, 1, 16, 17, 2 ** 40, -(2 ** 63), 0.5, math.nan, math.inf, -math.inf, "",
                  "x", "RGBA8", "classic", "t" * 3000, [], [1], [1, 2, 3, 4], [0, 0, 16, 12], [[1, 2, 1]],
                  [[16, 12, 1], [0, 0, 0]], [[1, 2, True]], {}, {"a": 1}, {"width": W, "height": H}, b"\x00\x01"]
TERMINAL = {"hello", "status", "ok", "result", "error"}


def _valid(rng: random.Random, i: int) -> tuple[dict, list[bytes]]:
    kind = rng.choice(["hello", "status", "cancel", "matte", "matte", "matte", "digest_only", "mask", "strip"])
    rid = f"f{i}"
    if kind == "hello":
        return {"v": 1, "id": rid, "type": "hello", "client": "fuzz"}, []
    if kind == "status":
        return {"v": 1, "id": rid, "type": "status"}, []
    if kind == "cancel":
        return {"v": 1, "id": rid, "type": "cancel", "target": f"f{max(0, i - rng.randint(1, 5))}"}, []
    header = {"v": 1, "id": rid, "type": "matte", "image": dict(SPEC), "prompt": {"box": [2, 2, 12, 10]},
              "options": {"depth": rng.choice([8, 16]), "crop": rng.random() < 0.5}, "frames": ["pixels"]}
    frames = [PIXELS]
    if kind == "digest_only":
        header["frames"], frames = [], []
    elif kind == "mask":
        header["prompt"] = {"mask": {"width": W, "height": H}}
        header["frames"], frames = ["pixels", "mask"], [PIXELS, MASK]
    elif kind == "strip":  # 1×W images with a box: the resize used to round the short side to 0
        strip = rgba8(np.full((1, 4000, 3), 90, np.uint8))
        header["image"], header["prompt"], frames = image_header(4000, 1, strip), {"box": [0, 0, 4000, 1]}, [strip]
    return header, frames


def _mutate(rng: random.Random, header: dict, frames: list[bytes]) -> tuple[dict, list[bytes], bool]:
    """One mutation; returns whether the id can still be read (a string of 1..64 characters)."""
    roll = rng.random()
    maps = [header] + [header[k] for k in ("image", "prompt", "options") if isinstance(header.get(k), dict)]
    target = rng.choice(maps)
    if roll < 0.45:
        keys = list(target) + ["box", "points", "guidance", "refine", "refine_band", "foreground", "mask", "format",
                               "stride", "digest", "width", "height", "target", "frames", "type", "v"]
        key = rng.choice(keys)
        target[key] = rng.choice(HOSTILE_VALUES)
        if target is header and key == "id" and not (isinstance(target[key], str) and 0 < len(target[key]) <= 64):
            return header, frames, False
        if target is header and key == "id":
            target[key] = None  # a readable but repeated id would make answers ambiguous
            return header, frames, False
    elif roll < 0.6:
        if target:
            key = rng.choice(list(target))
            del target[key]
            if target is header and key == "id":
                return header, frames, False
    elif roll < 0.7:
        frames = frames + [rng.randbytes(rng.randint(0, 64))]
    elif roll < 0.78:
        frames = frames[:-1]
    elif roll < 0.86 and frames:
        frames = [f[: rng.randint(0, len(f))] for f in frames]
    elif roll < 0.9:
        header["id"] = rng.choice([None, 7, "", "i" * 65, ["f"], {"f": 1}])
        return header, frames, False
    elif roll < 0.95:
        header["image"] = {**SPEC, "digest": hashlib.blake2b(rng.randbytes(8), digest_size=16).hexdigest()} \
            if isinstance(header.get("image"), dict) else header.get("image")
    else:
        header["type"] = rng.choice([[], {}, 3, "t" * 100_000, "paint", None])
    return header, frames, True


def _messages(n: int) -> list[tuple[str | None, list[bytes]]]:
    rng = random.Random(SEED)
    out = []
    for i in range(n):
        header, frames = _valid(rng, i)
        readable = True
        for _ in range(rng.randint(1 if i % 10 else 0, 3)):
            header, frames, still = _mutate(rng, header, frames)
            readable = readable and still
        if rng.random() < 0.01:  # not msgpack at all
            out.append((None, [rng.randbytes(rng.randint(1, 40)), *frames]))
            continue
        out.append((header["id"] if readable else None, [msgpack.packb(header), *frames]))
    return out


@pytest.fixture(scope="module")
def fuzzed_daemon():
    with running_daemon("--device", "cpu", "--max-message-bytes", str(1 << 20), "--max-points", "8",
                        "--max-queue", "4") as d:
        yield d


def test_ten_thousand_hostile_messages_get_coded_answers_and_no_internal(fuzzed_daemon):
    messages = _messages(N_MESSAGES)
    expected = {rid for rid, _ in messages if rid is not None}
    anonymous = sum(1 for rid, _ in messages if rid is None)
    terminal: dict[str | None, list[dict]] = {}
    queued_then_refused = []
    progressed: set[str] = set()
    clients = [WireClient(fuzzed_daemon.endpoint) for _ in range(3)]
    poller = zmq.Poller()
    for c in clients:
        poller.register(c.sock, zmq.POLLIN)

    def drain(timeout_ms: int) -> None:
        for sock, _ in poller.poll(timeout_ms):
            while True:
                try:
                    first, *_rest = sock.recv_multipart(zmq.NOBLOCK)
                except zmq.Again:
                    break
                header = msgpack.unpackb(first)
                rid = header.get("id")
                if header["type"] == "progress":
                    progressed.add(rid)
                elif header["type"] in TERMINAL:
                    terminal.setdefault(rid, []).append(header)

    try:
        for i, (_rid, frames) in enumerate(messages):
            clients[i % 3].send_raw(*frames)
            if i % 200 == 199:
                drain(0)
        deadline = time.monotonic() + 600
        while time.monotonic() < deadline and (
                not expected <= set(terminal) or len(terminal.get(None, [])) < anonymous):
            drain(200)
    finally:
        for c in clients:
            c.close()

    replies = [h for hs in terminal.values() for h in hs]
    internal = [h for h in replies if h["type"] == "error" and h["code"] == "internal"]
    assert internal == [], internal[:5]
    missing = expected - set(terminal)
    assert not missing, f"{len(missing)} requests got no final answer, e.g. {sorted(missing)[:5]}"
    assert len(terminal.get(None, [])) >= anonymous  # every unreadable message still got an error
    for h in replies:
        if h["type"] == "error":
            assert len(h["message"]) <= 600, h["message"][:300]
            if h["code"] in ("bad_request", "bad_message", "too_large", "too_many_points", "unknown_type",
                             "unsupported_version") and h["id"] in progressed:
                queued_then_refused.append(h)
    assert queued_then_refused == [], queued_then_refused[:5]  # validation errors come alone, never after `queued`
    codes = {h["code"] for h in replies if h["type"] == "error"}
    assert {"bad_message", "bad_request", "unknown_type", "unsupported_version"} <= codes
    assert sum(h["type"] == "result" for h in replies) > 0  # valid mattes ran: the fuzz reached the model
    assert fuzzed_daemon.proc.poll() is None
    longest_log_line = max(len(line) for line in fuzzed_daemon.log().splitlines())
    assert longest_log_line < 4000  # echoed input is cut in the log too


def test_after_the_fuzz_a_plain_matte_still_works(fuzzed_daemon):
    with WireClient(fuzzed_daemon.endpoint) as c:
        c.matte("after", pixels=PIXELS, spec=dict(SPEC), prompt={"box": [2, 2, 12, 10]})
        reply = c.wait_for("after")
    assert reply.type == "result", reply.header
