"""Hostile and broken input against the real daemon: each message gets an error reply (or, for frames
over the size limit and non-ZeroMQ bytes, the connection is dropped) and the daemon keeps serving."""
from __future__ import annotations

import math
import os
import socket

import msgpack
import numpy as np
import pytest

from support.daemon_harness import WireClient, alpha_array, image_header, rgba8, running_daemon

MAX_MESSAGE = 4 << 20
IMAGE = np.random.default_rng(7).integers(0, 256, (32, 40, 3), dtype=np.uint8)
PIXELS = rgba8(IMAGE)
SPEC = image_header(40, 32, PIXELS)


@pytest.fixture(scope="module")
def limited_daemon():
    """A daemon with small limits, so limit cases cost little."""
    with running_daemon("--device", "cpu", "--max-message-bytes", str(MAX_MESSAGE), "--max-points", "8") as d:
        yield d


def _matte(**overrides) -> dict:
    header = {"v": 1, "id": "bad", "type": "matte", "image": dict(SPEC), "prompt": {"box": [1, 1, 20, 20]},
              "frames": ["pixels"]}
    header.update(overrides)
    return header


def _pack(header: dict) -> bytes:
    return msgpack.packb(header)


CASES = {
    "random_bytes": ([os.urandom(64)], "bad_message"),
    "random_frames": ([os.urandom(16), os.urandom(3), b""], "bad_message"),
    "empty_frame": ([b""], "bad_message"),
    "truncated_msgpack": ([_pack(_matte())[:-7], PIXELS], "bad_message"),
    "not_a_map": ([_pack(["matte", 1])], "bad_message"),
    "huge_header": ([_pack({"v": 1, "id": "bad", "type": "hello", "pad": "x" * (2 << 20)})], "bad_message"),
    "missing_frame": ([_pack(_matte())], "bad_message"),
    "extra_frame": ([_pack(_matte()), PIXELS, PIXELS], "bad_message"),
    "pixels_short": ([_pack(_matte()), PIXELS[:-4]], "bad_request"),
    "pixels_long": ([_pack(_matte()), PIXELS + b"\0" * 4], "bad_request"),
    "digest_mismatch_is_caught_by_worker": ([_pack(_matte(image={**SPEC, "digest": "0" * 32})), PIXELS],
                                            "bad_request"),
    "absurd_size": ([_pack(_matte(image={**SPEC, "width": 2 ** 40, "height": 2 ** 40})), PIXELS], "too_large"),
    "absurd_u64_width": ([_pack(_matte(image={**SPEC, "width": 2 ** 64 - 1})), PIXELS], "too_large"),
    "zero_height": ([_pack(_matte(image={**SPEC, "height": 0})), PIXELS], "bad_request"),
    "negative_box": ([_pack(_matte(prompt={"box": [-5, 1, 20, 20]})), PIXELS], "bad_request"),
    "nan_point": ([_pack(_matte(prompt={"points": [[math.nan, 3.0, 1]]})), PIXELS], "bad_request"),
    "too_many_points": ([_pack(_matte(prompt={"points": [[1, 1, 1]] * 9})), PIXELS], "too_many_points"),
    "unknown_type": ([_pack({"v": 1, "id": "bad", "type": "segment"})], "unknown_type"),
    "unknown_version": ([_pack({"v": 99, "id": "bad", "type": "hello"})], "unsupported_version"),
    "string_version": ([_pack({"v": "1", "id": "bad", "type": "hello"})], "unsupported_version"),
    "over_limit_total": ([_pack(_matte(frames=["pixels", "mask"])), b"\0" * (MAX_MESSAGE - 100),
                          b"\0" * 200], "too_large"),
}


@pytest.mark.parametrize("name", list(CASES))
def test_bad_message_gets_an_error_and_daemon_keeps_serving(limited_daemon, name):
    frames, code = CASES[name]
    with WireClient(limited_daemon.endpoint) as c:
        c.send_raw(*frames)
        header, extra = c.recv(timeout=60)
        while header["type"] == "progress":  # accepted, then failed in the worker (digest check)
            header, extra = c.recv(timeout=60)
        assert header["type"] == "error" and header["code"] == code, header
        assert header["message"] and extra == []
        assert header["id"] in ("bad", None)
        assert c.hello("next").type == "hello"


def test_frame_over_the_size_limit_drops_the_connection_only(limited_daemon):
    with WireClient(limited_daemon.endpoint) as c:
        c.send_raw(_pack(_matte()), b"\0" * (MAX_MESSAGE + 1))
        with pytest.raises(TimeoutError):
            c.recv(timeout=3)
    with WireClient(limited_daemon.endpoint) as c:
        assert c.hello("next").type == "hello"


def test_non_zeromq_bytes_on_the_port_are_dropped(limited_daemon):
    host, port = limited_daemon.endpoint.removeprefix("tcp://").rsplit(":", 1)
    with socket.create_connection((host, int(port)), timeout=5) as raw:
        raw.sendall(os.urandom(4096))
        raw.settimeout(5)
        try:
            while raw.recv(4096):
                pass
        except (ConnectionResetError, TimeoutError):
            pass
    with WireClient(limited_daemon.endpoint) as c:
        assert c.hello("next").type == "hello"


def _bgra16_padded(image: np.ndarray, pad: int = 10) -> tuple[bytes, int]:
    """Krita's 16-bit layout with `pad` bytes after each row; values v*257 convert back to v exactly."""
    h, w = image.shape[:2]
    px = np.concatenate([image[..., ::-1], np.full((h, w, 1), 255, np.uint8)], axis=2).astype("<u2") * 257
    rows = np.concatenate([px.reshape(h, -1).view(np.uint8), np.full((h, pad), 0xAB, np.uint8)], axis=1)
    return rows.tobytes(), w * 8 + pad


def test_after_all_the_garbage_a_good_matte_still_works_and_nothing_piled_up(limited_daemon, tiny_engine):
    pixels, stride = _bgra16_padded(IMAGE)
    mask = np.zeros((32, 40), np.uint8)
    mask[5:25, 8:30] = 200
    box, points = [2, 2, 30, 25], [[15, 12, 1], [38, 30, 0]]
    with WireClient(limited_daemon.endpoint) as c:
        c.send({"id": "good", "type": "matte", "image": image_header(40, 32, pixels, "BGRA16", stride),
                "prompt": {"box": box, "points": points, "mask": {"width": 40, "height": 32}},
                "options": {"depth": 16}, "frames": ["mask", "pixels"]}, mask.tobytes(), pixels)
        reply = c.wait_for("good")
        c.send({"id": "s", "type": "status"})
        status = c.wait_for("s").header
    assert reply.type == "result", reply.header
    expected = tiny_engine.matte(IMAGE, box=box, points=points, mask=mask >= 128)
    np.testing.assert_array_equal(alpha_array(reply), (np.clip(expected.alpha, 0, 1) * 65535 + 0.5).astype(np.uint16))
    assert status["queued"] == 0 and status["running"] == 0
