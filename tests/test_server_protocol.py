"""Request validation, the image store and the endpoint policy, without sockets."""
from __future__ import annotations

import hashlib
import math

import msgpack
import numpy as np
import pytest

from mam_engine.request import Limits
from mam_server.image_store import ImageStore, check_digest, frame_digest
from mam_server.protocol import CancelMessage, HelloMessage, MatteMessage, ProtocolError, parse_request
from mam_server.security import endpoint_is_local

LIMITS = Limits(max_pixels=10_000, max_message_bytes=100_000, max_points=4, max_queue=2)
PIXELS = bytes(range(256)) * 3  # 16 x 12 RGBA8 = 768 bytes
SPEC = {"width": 16, "height": 12, "format": "RGBA8", "stride": 64,
        "digest": hashlib.blake2b(PIXELS, digest_size=16).hexdigest()}


def _frames(header: dict, *binary: bytes) -> list[bytes]:
    return [msgpack.packb(header), *binary]


def _matte(**overrides) -> dict:
    header = {"v": 1, "id": "m1", "type": "matte", "image": dict(SPEC), "prompt": {"box": [1, 2, 10, 11]},
              "options": {"depth": 16, "crop": True}, "frames": ["pixels"]}
    header.update(overrides)
    return header


def _error(frames: list[bytes]) -> ProtocolError:
    with pytest.raises(ProtocolError) as err:
        parse_request(frames, LIMITS)
    return err.value


def test_valid_requests_parse_to_typed_objects():
    hello = parse_request(_frames({"v": 1, "id": "a", "type": "hello", "client": "krita"}), LIMITS)
    assert hello == HelloMessage("a", "krita")
    cancel = parse_request(_frames({"v": 1, "id": "b", "type": "cancel", "target": "m1"}), LIMITS)
    assert cancel == CancelMessage("b", "m1")
    matte = parse_request(_frames(_matte(), PIXELS), LIMITS)
    assert isinstance(matte, MatteMessage)
    assert matte.request.prompt.box == (1.0, 2.0, 10.0, 11.0) and matte.depth == 16 and matte.crop
    assert matte.request.options.guidance == "alpha"
    assert bytes(matte.pixels) == PIXELS and matte.image.key.startswith(SPEC["digest"])


def test_quality_options_default_to_the_1_0_behaviour_and_parse_when_given():
    plain = parse_request(_frames(_matte(), PIXELS), LIMITS).request.options
    assert (plain.refine, plain.refine_band, plain.foreground) == (None, None, False)
    options = {"refine": "classic", "refine_band": 12, "foreground": True}
    asked = parse_request(_frames(_matte(options=options), PIXELS), LIMITS).request.options
    assert (asked.refine, asked.refine_band, asked.foreground) == ("classic", 12, True)


def test_a_band_is_refused_before_queueing_unless_the_pipeline_refines():
    wide = _error(_frames(_matte(options={"refine": "classic", "refine_band": 10 ** 6}), PIXELS))
    assert wide.code == "bad_request" and "options.refine_band" in wide.message and "[1, 256]" in wide.message
    alone = _error(_frames(_matte(options={"refine_band": 8}), PIXELS))
    assert "needs options.refine" in alone.message
    classic = parse_request(_frames(_matte(options={"refine_band": 8}), PIXELS), LIMITS, always_refines=True)
    assert (classic.request.options.refine, classic.request.options.refine_band) == ("classic", 8)


def test_digest_only_matte_and_points_and_mask():
    header = _matte(frames=["mask"], prompt={"points": [[0, 0, 1], [16, 12, 0]], "mask": {"width": 16, "height": 12}})
    matte = parse_request(_frames(header, bytes(16 * 12)), LIMITS)
    prompt = matte.request.prompt
    assert matte.pixels is None and prompt.points == ((0.0, 0.0, 1), (16.0, 12.0, 0))
    assert prompt.mask is not None and prompt.mask.shape == (12, 16) and not prompt.mask.any()


@pytest.mark.parametrize("frames,code,needle", [
    ([b"\xc1garbage"], "bad_message", "msgpack"),
    ([msgpack.packb({"v": 1, "id": "x", "type": "hello"})[:-3]], "bad_message", "msgpack"),
    ([msgpack.packb([1, 2, 3])], "bad_message", "map"),
    ([msgpack.packb({"v": 1, "type": "hello"})], "bad_message", "'id'"),
    ([msgpack.packb({"v": 1, "id": "x" * 65, "type": "hello"})], "bad_message", "'id'"),
    ([msgpack.packb({"v": 2, "id": "x", "type": "hello"})], "unsupported_version", "2"),
    ([msgpack.packb({"v": True, "id": "x", "type": "hello"})], "unsupported_version", "True"),
    ([msgpack.packb({"v": 1, "id": "x", "type": "paint"})], "unknown_type", "paint"),
    ([msgpack.packb({"v": 1, "id": "x", "type": "hello"}), b"extra"], "bad_message", "0 binary frame(s)"),
    (_frames(_matte()), "bad_message", "1 binary frame(s)"),
    (_frames(_matte(frames=["pixels", "pixels"]), PIXELS, PIXELS), "bad_message", "repeat"),
    (_frames(_matte(), PIXELS[:-1]), "bad_request", "767 bytes"),
    (_frames(_matte(), PIXELS + b"x"), "bad_request", "769 bytes"),
    (_frames(_matte(image={**SPEC, "width": 10 ** 6, "height": 10 ** 6}), PIXELS), "too_large", "max_pixels"),
    (_frames(_matte(image={**SPEC, "width": -4}), PIXELS), "bad_request", "positive"),
    (_frames(_matte(image={**SPEC, "format": "CMYK8"}), PIXELS), "bad_request", "CMYK8"),
    (_frames(_matte(image={**SPEC, "stride": 63}), PIXELS), "bad_request", "stride"),
    (_frames(_matte(image={**SPEC, "digest": "XYZ"}), PIXELS), "bad_request", "digest"),
    (_frames(_matte(prompt={"box": [-1, 0, 5, 5]}), PIXELS), "bad_request", "box"),
    (_frames(_matte(prompt={"box": [math.nan, 0, 5, 5]}), PIXELS), "bad_request", "finite"),
    (_frames(_matte(prompt={"box": [5, 0, 5, 5]}), PIXELS), "bad_request", "x0 < x1"),
    (_frames(_matte(prompt={"points": [[math.inf, 1, 1]]}), PIXELS), "bad_request", "finite"),
    (_frames(_matte(prompt={"points": [[-3, 1, 1]]}), PIXELS), "bad_request", "outside"),
    (_frames(_matte(prompt={"points": [[3, 1, 2]]}), PIXELS), "bad_request", "label"),
    (_frames(_matte(prompt={"points": [[1, 1, 1]] * 5}), PIXELS), "too_many_points", "max_points is 4"),
    (_frames(_matte(prompt={}), PIXELS), "bad_request", "at least one point"),
    ([msgpack.packb({"v": 1, "id": "x", "type": []})], "unknown_type", "[]"),
    ([msgpack.packb({"v": 1, "id": "x", "type": {"a": 1}})], "unknown_type", "{'a': 1}"),
    (_frames(_matte(image={**SPEC, "format": ["RGBA8"]}), PIXELS), "bad_request", "image.format"),
    (_frames(_matte(image={**SPEC, "format": {"RGBA8": 1}}), PIXELS), "bad_request", "image.format"),
    (_frames(_matte(prompt={"box": [1, 2, 17, 11]}), PIXELS), "bad_request", "x1 <= 16"),
    (_frames(_matte(prompt={"points": [[16.01, 1, 1]]}), PIXELS), "bad_request", "outside"),
    (_frames(_matte(prompt={"points": [[1, 1, True]]}), PIXELS), "bad_request", "label"),
    (_frames(_matte(frames=["pixels", "mask"], prompt={"mask": {"width": 16, "height": 12}}), PIXELS,
             bytes(192)), "bad_request", "mask: is empty"),
    (_frames(_matte(frames=["pixels", "mask"], prompt={"mask": {"width": 16, "height": 12}}), PIXELS,
             bytes([127]) * 192), "bad_request", "mask: is empty"),
    (_frames(_matte(prompt={"mask": {"width": 16, "height": 12}}), PIXELS), "bad_request", "mask"),
    (_frames(_matte(options={"depth": 12}), PIXELS), "bad_request", "depth"),
    (_frames(_matte(options={"guidance": "trimap"}), PIXELS), "bad_request", "guidance"),
    (_frames(_matte(options={"crop": 1}), PIXELS), "bad_request", "crop"),
    (_frames(_matte(options={"refine": "bilateral"}), PIXELS), "bad_request", "bilateral"),
    (_frames(_matte(options={"refine": 1}), PIXELS), "bad_request", "options.refine"),
    (_frames(_matte(options={"refine": "classic", "refine_band": "8"}), PIXELS), "bad_request", "refine_band"),
    (_frames(_matte(options={"refine": "classic", "refine_band": 8.0}), PIXELS), "bad_request", "refine_band"),
    (_frames(_matte(options={"refine": "classic", "refine_band": True}), PIXELS), "bad_request", "refine_band"),
    (_frames(_matte(options={"foreground": 1}), PIXELS), "bad_request", "foreground"),
    (_frames(_matte(image="nope"), PIXELS), "bad_request", "'image'"),
    ([msgpack.packb({"v": 1, "id": "x", "type": "cancel"})], "bad_request", "target"),
])
def test_bad_messages_get_a_named_error(frames, code, needle):
    err = _error(frames)
    assert err.code == code, err
    assert needle in err.message, err.message


def test_echoed_input_is_cut_to_200_characters():
    huge = "t" * ((1 << 20) - 1000)  # just under the header cap
    for header in ({"v": 1, "id": "x", "type": huge}, {"v": huge, "id": "x", "type": "hello"},
                   _matte(image={**SPEC, "format": huge}), _matte(prompt={"box": huge}),
                   _matte(options={"guidance": huge}), _matte(prompt={"points": [[huge, 1, 1]]})):
        frames = _frames(header, PIXELS) if header.get("type") == "matte" else _frames(header)
        with pytest.raises(ProtocolError) as caught:
            parse_request(frames, Limits(max_pixels=10_000, max_message_bytes=4 << 20))
        err = caught.value
        assert len(err.message) < 400 and "…" in err.message, err.message[:500]


def test_a_point_on_the_far_edge_is_accepted_by_the_daemon_and_the_engine_alike(tiny_engine):
    matte = parse_request(_frames(_matte(prompt={"points": [[16, 12, 1]]}), PIXELS), LIMITS)
    image = np.zeros((12, 16, 3), np.uint8)
    direct = tiny_engine.matte(image, points=[[16, 12, 1]])
    queued = tiny_engine.run(image, matte.request)
    assert np.array_equal(direct.alpha, queued.alpha)


def test_error_carries_the_request_id_when_known():
    assert _error(_frames(_matte(options={"depth": 12}), PIXELS)).request_id == "m1"
    assert _error([b"\xc1"]).request_id is None


def test_message_size_limit():
    big = Limits(max_pixels=10 ** 8, max_message_bytes=1000)
    spec = {**SPEC, "width": 16, "height": 16, "stride": 64}
    with pytest.raises(ProtocolError) as err:
        parse_request(_frames(_matte(image=spec), bytes(1024)), big)
    assert err.value.code == "too_large" and "max_message_bytes" in err.value.message


def test_image_store_evicts_least_recently_used_within_its_byte_bound():
    store = ImageStore(max_bytes=300)
    a, b, c = (np.zeros((10, 10, 1), np.uint8) for _ in range(3))
    store.put("a", a)
    store.put("b", b)
    store.get("a")  # a is now more recent than b
    store.put("c", c)
    store.put("d", c)
    assert "a" in store and "b" not in store and "c" in store and "d" in store
    assert store.stats()["bytes"] == 300
    store.put("huge", np.zeros((400,), np.uint8))
    assert "huge" not in store and store.stats()["bytes"] <= 300


def test_digest_verification_names_both_digests():
    check_digest(frame_digest(PIXELS), SPEC["digest"])
    with pytest.raises(ProtocolError) as err:
        check_digest(frame_digest(PIXELS[::-1]), SPEC["digest"])
    assert err.value.code == "bad_request" and SPEC["digest"] in err.value.message


@pytest.mark.parametrize("endpoint,local", [
    ("tcp://127.0.0.1:5757", True), ("tcp://127.3.2.1:1", True), ("tcp://localhost:5757", True),
    ("tcp://[::1]:5757", True), ("ipc:///tmp/mam.sock", True),
    ("tcp://0.0.0.0:5757", False), ("tcp://*:5757", False), ("tcp://192.168.1.4:5757", False),
    ("tcp://eth0:5757", False), ("tcp://example.org:5757", False), ("pgm://eth0;239.1.1.1:5555", False),
])
def test_only_loopback_and_ipc_count_as_local(endpoint, local):
    assert endpoint_is_local(endpoint) is local
