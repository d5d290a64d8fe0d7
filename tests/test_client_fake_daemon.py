"""MamClient against a scripted ROUTER peer: the replies a healthy daemon never sends (another
protocol version, stale or malformed replies, silence) and the exact messages the client sends."""
from __future__ import annotations

import hashlib
import socket
import threading
import time
from typing import Callable, List, Tuple

import msgpack
import pytest
import zmq

from plugins.mam_client import (
    CurveKeys,
    DaemonTimeout,
    DaemonUnavailable,
    MamClient,
    MamError,
    MatteCancelled,
    ProtocolMismatch,
)
from plugins.mam_client.transport import PURE_PYTHON_ENV

Reply = Tuple[dict, List[bytes]]
HELLO = {"server_version": "fake", "protocol": 1, "model": {},
         "limits": {"max_pixels": 1000, "max_message_bytes": 5000}, "pixel_formats": ["RGBA8"]}
TRANSPORTS = {"pure-python": True, "pyzmq": False}


class FakeDaemon:
    """A ROUTER that answers each request with what `handler(header, frames)` returns."""

    def __init__(self, handler: Callable[[dict, List[bytes]], List[Reply]]) -> None:
        self.handler = handler
        self.requests: List[Reply] = []
        self._ctx = zmq.Context()
        self._sock = self._ctx.socket(zmq.ROUTER)
        self._sock.setsockopt(zmq.LINGER, 0)
        self.endpoint = f"tcp://127.0.0.1:{self._sock.bind_to_random_port('tcp://127.0.0.1')}"
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        while not self._stop.is_set():
            if not self._sock.poll(20):
                continue
            identity, raw, *frames = self._sock.recv_multipart()
            header = msgpack.unpackb(raw)
            self.requests.append((header, frames))
            for reply, reply_frames in self.handler(header, frames):
                self._sock.send_multipart([identity, msgpack.packb(reply), *reply_frames])

    def of_type(self, rtype: str) -> List[Reply]:
        return [r for r in self.requests if r[0]["type"] == rtype]

    def cancel_targets(self, expected: int) -> List[str]:
        """Targets of the cancels received, once `expected` of them arrived (they are fire-and-forget)."""
        deadline = time.monotonic() + 10
        while len(self.of_type("cancel")) < expected and time.monotonic() < deadline:
            time.sleep(0.01)
        return [h["target"] for h, _ in self.of_type("cancel")]

    def close(self) -> None:
        self._stop.set()
        self._thread.join(5)
        self._ctx.destroy(linger=0)


def reply(header: dict, rtype: str, v: int = 1, **fields) -> dict:
    return {"v": v, "id": header["id"], "type": rtype, **fields}


def standard(header: dict, frames: List[bytes]) -> List[Reply]:
    """hello/status/cancel like the daemon; matte gets an all-255 2x2 alpha."""
    if header["type"] == "hello":
        return [(reply(header, "hello", **HELLO), [])]
    if header["type"] == "cancel":
        return [(reply(header, "ok", target=header["target"], state="unknown"), [])]
    if header["type"] == "matte":
        return [(reply(header, "result", width=2, height=2, x=0, y=0, depth=8, score=0.5,
                       digest=header["image"]["digest"], timings={}, notes=[], frames=["alpha"]), [b"\xff" * 4])]
    return [(reply(header, "error", code="unknown_type", message="no"), [])]


@pytest.fixture(params=sorted(TRANSPORTS))
def transport(request) -> bool:
    return TRANSPORTS[request.param]


@pytest.fixture
def fake(request):
    daemons: List[FakeDaemon] = []

    def start(handler=standard) -> FakeDaemon:
        daemons.append(FakeDaemon(handler))
        return daemons[-1]
    yield start
    for d in daemons:
        d.close()


PIXELS = bytes(range(16))  # 2x2 RGBA8


def matte(client: MamClient, **kwargs):
    return client.matte(2, 2, "RGBA8", PIXELS, box=[0, 0, 2, 2], **kwargs)


def test_transport_choice_follows_argument_and_environment(fake, monkeypatch):
    daemon = fake()
    monkeypatch.delenv(PURE_PYTHON_ENV, raising=False)
    with MamClient(daemon.endpoint) as default, MamClient(daemon.endpoint, pure_python=True) as forced:
        assert default.connect()["server_version"] == forced.connect()["server_version"] == "fake"
        assert (default.transport_name, forced.transport_name) == ("pyzmq", "pure-python")
    monkeypatch.setenv(PURE_PYTHON_ENV, "1")
    with MamClient(daemon.endpoint) as from_env:
        from_env.connect()
        assert from_env.transport_name == "pure-python"


def test_newer_protocol_in_hello_is_a_clear_mismatch(fake, transport):
    daemon = fake(lambda h, f: [(reply(h, "hello", v=99, **dict(HELLO, protocol=99)), [])])
    with MamClient(daemon.endpoint, pure_python=transport) as client:
        with pytest.raises(ProtocolMismatch, match="protocol version 99, this plugin speaks 1.*update"):
            client.hello()
        assert client.transport_name is None  # a daemon we cannot talk to is not kept connected


def test_hello_announcing_another_protocol_is_a_mismatch(fake, transport):
    daemon = fake(lambda h, f: [(reply(h, "hello", **dict(HELLO, protocol=2)), [])])
    with MamClient(daemon.endpoint, pure_python=transport) as client:
        with pytest.raises(ProtocolMismatch, match="version 2"):
            client.status()


def test_unsupported_version_error_is_a_mismatch(fake, transport):
    daemon = fake(lambda h, f: [(reply(h, "error", code="unsupported_version",
                                       message="protocol version 1 is not supported; this daemon speaks [2]"), [])])
    with MamClient(daemon.endpoint, pure_python=transport) as client:
        with pytest.raises(ProtocolMismatch, match="daemon speaks \\[2\\].*update") as info:
            client.hello()
    assert info.value.code == "unsupported_version"


class NoBufferProtocol:
    """Like bindings whose byte arrays convert with bytes() but expose no buffer."""

    def __init__(self, data: bytes) -> None:
        self.data = data

    def __bytes__(self) -> bytes:
        return self.data


def test_pixels_from_any_buffer_are_sent_as_given(fake):
    daemon = fake()
    strided = memoryview(bytes(range(32)))[::2]  # 16 bytes, not contiguous
    with MamClient(daemon.endpoint, pure_python=True) as client:
        matte(client)
        client.matte(2, 2, "RGBA8", NoBufferProtocol(PIXELS[::-1]), box=[0, 0, 2, 2])
        client.matte(2, 2, "RGBA8", strided, box=[0, 0, 2, 2])
    sent = [frames[0] for _, frames in daemon.of_type("matte")]
    assert sent == [PIXELS, PIXELS[::-1], strided.tobytes()]


def test_requests_follow_the_protocol(fake, transport):
    daemon = fake()
    mask = bytes([0, 255, 255, 0])
    with MamClient(daemon.endpoint, pure_python=transport, client_name="unit") as client:
        result = client.matte(2, 2, "RGBA8", PIXELS, points=[(1, 1, True), (0.5, 0, 0)], mask=mask,
                              guidance="mask", depth=8, crop=True, request_id="mine-1")
    assert result.request_id == "mine-1" and result.alpha == b"\xff" * 4 and result.sent_pixels
    hello, _ = daemon.of_type("hello")[0]
    assert hello["v"] == 1 and hello["client"] == "unit"
    header, frames = daemon.of_type("matte")[0]
    assert header["id"] == "mine-1"
    assert header["image"] == {"width": 2, "height": 2, "format": "RGBA8", "stride": 8,
                               "digest": hashlib.blake2b(PIXELS, digest_size=16).hexdigest()}
    assert header["prompt"] == {"points": [[1, 1, 1], [0.5, 0, 0]], "mask": {"width": 2, "height": 2}}
    assert header["options"] == {"guidance": "mask", "depth": 8, "crop": True}
    assert header["frames"] == ["pixels", "mask"] and frames == [PIXELS, mask]


def test_digest_first_then_pixels_on_unknown_image(fake, transport):
    held = set()

    def forgetful(header, frames):
        if header["type"] != "matte":
            return standard(header, frames)
        if "pixels" not in header["frames"] and len(held) == 1 and header["id"].endswith("-forgot"):
            return [(reply(header, "error", code="unknown_image", message="evicted"), [])]
        held.add(header["image"]["digest"])
        return standard(header, frames)

    daemon = fake(forgetful)
    with MamClient(daemon.endpoint, pure_python=transport) as client:
        first = matte(client)
        second = matte(client)
        third = matte(client, request_id="x-forgot")
        as_gray = client.matte(4, 4, "GRAY8", PIXELS, box=[0, 0, 2, 2])  # same bytes, another image
    assert (first.sent_pixels, second.sent_pixels, third.sent_pixels, as_gray.sent_pixels) == (True, False, True, True)
    sent = [(h["id"], h["frames"], len(f)) for h, f in daemon.of_type("matte")]
    assert [s[1:] for s in sent] == [(["pixels"], 1), ([], 0), ([], 0), (["pixels"], 1), (["pixels"], 1)]
    assert sent[2][0] == sent[3][0] == "x-forgot"  # the re-send keeps the caller's request id


def test_malformed_progress_is_bad_reply(fake):
    daemon = fake(lambda h, f: standard(h, f) if h["type"] != "matte" else
                  [(reply(h, "progress", stage="encode", fraction=None), [])])
    with MamClient(daemon.endpoint, pure_python=True) as client:
        with pytest.raises(MamError, match="stage name and a fraction") as info:
            matte(client, on_progress=lambda s, f: None)
    assert info.value.code == "bad_reply"


def test_stale_replies_are_skipped(fake, transport):
    def chatty(header, frames):
        if header["type"] != "matte":
            return standard(header, frames)
        old = dict(header, id="old-request")
        stale = standard(old, frames)[0]
        return [(reply(old, "progress", stage="m2m", fraction=0.5), []), (stale[0], [b"\x00" * 4]),
                (reply(header, "progress", stage="encode", fraction=0.25), [])] + standard(header, frames)

    daemon = fake(chatty)
    seen = []
    with MamClient(daemon.endpoint, pure_python=transport) as client:
        result = matte(client, on_progress=lambda stage, fraction: seen.append((stage, fraction)))
    assert result.alpha == b"\xff" * 4 and seen == [("encode", 0.25)]


@pytest.mark.parametrize("fields,frames,match", [
    ({"width": 2, "height": 2, "depth": 8, "frames": ["alpha"]}, [b"\xff" * 3], "alpha frame is 3 bytes"),
    ({"width": 2, "height": 2, "depth": 16, "frames": ["alpha"]}, [b"\xff" * 4], "2x2 at 16 bit = 8"),
    ({"width": 2, "height": 2, "depth": 8, "frames": []}, [], r"must carry the frames \['alpha'\]"),
    ({"width": "2", "height": 2, "depth": 8, "frames": ["alpha"]}, [b"\xff" * 4], "width/height/depth"),
])
def test_malformed_results_are_bad_reply(fake, fields, frames, match):
    daemon = fake(lambda h, f: standard(h, f) if h["type"] != "matte" else [(reply(h, "result", **fields), frames)])
    with MamClient(daemon.endpoint, pure_python=True) as client:
        with pytest.raises(MamError, match=match) as info:
            matte(client)
    assert info.value.code == "bad_reply"


def test_error_replies_become_mam_errors(fake, transport):
    def refuse(header, frames):
        if header["type"] != "matte":
            return standard(header, frames)
        code = "superseded" if header["id"].startswith("s") else "queue_full"
        return [(reply(header, "error", code=code, message=f"{code} here"), [])]

    daemon = fake(refuse)
    with MamClient(daemon.endpoint, pure_python=transport) as client:
        with pytest.raises(MamError, match="queue_full: queue_full here") as info:
            matte(client, request_id="q1")
        assert type(info.value) is MamError and info.value.code == "queue_full" and info.value.request_id == "q1"
        with pytest.raises(MatteCancelled, match="superseded"):
            matte(client, request_id="s1")


def test_silent_daemon_times_out_and_is_asked_to_cancel(fake, transport):
    daemon = fake(lambda h, f: standard(h, f) if h["type"] != "matte" else [])
    with MamClient(daemon.endpoint, pure_python=transport) as client:
        with pytest.raises(DaemonTimeout, match="no result for matte request t1"):
            matte(client, request_id="t1", timeout=0.3)
        assert client.hello()["server_version"] == "fake"  # the client is still usable
    assert daemon.cancel_targets(1) == ["t1"]


def test_cancel_from_another_thread_does_not_wait_for_the_running_matte(fake, transport):
    daemon = fake(lambda h, f: standard(h, f) if h["type"] != "matte" else
                  [(reply(h, "progress", stage="queued", fraction=0.0), [])])
    with MamClient(daemon.endpoint, pure_python=transport) as client:
        started = threading.Event()
        threading.Thread(target=lambda: (started.wait(10), client.cancel("c1")), daemon=True).start()
        with pytest.raises(MatteCancelled, match="cancelled by the caller"):
            matte(client, request_id="c1", timeout=30, on_progress=lambda s, f: started.set())
        assert client.cancel("some-other") == "unknown"  # nothing running now: sent and answered directly
    assert daemon.cancel_targets(2) == ["c1", "some-other"]


def test_progress_callback_exception_cancels_and_propagates(fake, transport):
    daemon = fake(lambda h, f: standard(h, f) if h["type"] != "matte" else
                  [(reply(h, "progress", stage="encode", fraction=0.1), [])])

    def boom(stage, fraction):
        raise KeyboardInterrupt

    with MamClient(daemon.endpoint, pure_python=transport) as client:
        with pytest.raises(KeyboardInterrupt):
            matte(client, request_id="p1", on_progress=boom, timeout=30)
    assert daemon.cancel_targets(1) == ["p1"]


@pytest.mark.parametrize("width,height,fmt,match", [
    (40, 40, "GRAY8", "40x40 = 1600 pixels; the daemon accepts at most 1000"),
    (20, 20, "RGBAF32", "6400 bytes of pixels and mask; the daemon accepts at most 5000"),
])
def test_requests_over_the_announced_limits_are_refused_before_sending(fake, width, height, fmt, match):
    daemon = fake()
    size = width * height * {"GRAY8": 1, "RGBAF32": 16}[fmt]
    with MamClient(daemon.endpoint, pure_python=True) as client:
        with pytest.raises(MamError, match=match) as info:
            client.matte(width, height, fmt, bytes(size), box=[0, 0, 1, 1])
    assert info.value.code == "too_large" and not daemon.of_type("matte")


def test_curve_needs_pyzmq():
    keys = CurveKeys(b"s" * 40, b"p" * 40, b"k" * 40)
    with pytest.raises(ValueError, match="CURVE encryption needs pyzmq"):
        MamClient("tcp://127.0.0.1:1", pure_python=True, curve=keys).hello()


@pytest.mark.parametrize("kwargs,match", [
    ({"fmt": "CMYK8"}, "pixel format 'CMYK8'"),
    ({"width": 0}, "positive integers"),
    ({"pixels": bytes(15)}, "pixels are 15 bytes; 2 rows x stride 8 = 16"),
    ({"stride": 4}, "stride 4 is shorter"),
    ({"stride": 10}, "pixels are 16 bytes; 2 rows x stride 10 = 20"),
    ({"mask": bytes(3)}, "mask is 3 bytes"),
    ({"pixels": 16}, "pixels must be a bytes-like object"),
    ({"mask": "text"}, "mask must be a bytes-like object"),
    ({"box": None}, "needs a prompt"),
    ({"box": [0, 0, 1]}, "box must be"),
    ({"box": None, "points": [(1, 1)]}, "triples"),
    ({"guidance": "trimap"}, "guidance"),
    ({"depth": 12}, "depth must be 8 or 16"),
])
def test_caller_mistakes_are_value_errors(kwargs, match):
    args = dict(width=2, height=2, fmt="RGBA8", pixels=PIXELS, box=[0, 0, 2, 2])
    args.update(kwargs)
    client = MamClient("tcp://127.0.0.1:1")  # never contacted: the arguments are checked first
    with pytest.raises(ValueError, match=match):
        client.matte(**args)


def test_listener_that_never_handshakes_is_unavailable_quickly(transport):
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen(1)
        endpoint = f"tcp://127.0.0.1:{server.getsockname()[1]}"
        with MamClient(endpoint, pure_python=transport, connect_timeout=0.5) as client:
            with pytest.raises(DaemonUnavailable, match="no answer within 0.5 s.*mam-server --endpoint"):
                client.hello()


def test_plain_matte_sends_no_quality_options_and_an_older_daemon_is_refused_them(fake, transport):
    daemon = fake()  # a 1.0 daemon: its hello lists no features, and it would silently ignore the options
    with MamClient(daemon.endpoint, pure_python=transport) as client:
        plain = matte(client)
        with pytest.raises(MamError) as info:
            matte(client, foreground=True)
        with pytest.raises(MamError, match="refine:classic"):
            matte(client, refine="classic")
    assert plain.foreground is None
    assert info.value.code == "unsupported_feature" and "update the daemon" in info.value.message
    sent = daemon.of_type("matte")
    assert len(sent) == 1 and sent[0][0]["options"] == {"guidance": "alpha", "depth": 8, "crop": False}


def with_features(result_frames: List[bytes], names: List[str]) -> Callable[[dict, List[bytes]], List[Reply]]:
    """A 1.1 daemon answering every matte with `names` frames holding `result_frames`."""
    def handler(header: dict, frames: List[bytes]) -> List[Reply]:
        if header["type"] == "hello":
            return [(reply(header, "hello", **HELLO, features=["refine:classic", "foreground"]), [])]
        if header["type"] == "matte":
            return [(reply(header, "result", width=2, height=2, x=0, y=0, depth=8, score=0.5,
                           digest=header["image"]["digest"], timings={}, notes=[], frames=names), result_frames)]
        return standard(header, frames)
    return handler


def test_quality_options_travel_and_the_foreground_frame_is_checked(fake, transport):
    colours = bytes(range(12))  # 2x2 RGB8
    good = fake(with_features([b"\xff" * 4, colours], ["alpha", "foreground"]))
    short = fake(with_features([b"\xff" * 4, colours[:-1]], ["alpha", "foreground"]))
    missing = fake(with_features([b"\xff" * 4], ["alpha"]))
    with MamClient(good.endpoint, pure_python=transport) as client:
        result = matte(client, refine="classic", refine_band=5, foreground=True)
    assert result.foreground == colours
    assert good.of_type("matte")[0][0]["options"] == {"guidance": "alpha", "depth": 8, "crop": False,
                                                      "refine": "classic", "refine_band": 5, "foreground": True}
    for daemon, needle in ((short, "11 bytes"), (missing, "'foreground'")):
        with MamClient(daemon.endpoint, pure_python=transport) as client:
            with pytest.raises(MamError, match=needle) as info:
                matte(client, foreground=True)
        assert info.value.code == "bad_reply"


@pytest.mark.parametrize("kwargs,needle", [
    ({"refine": 3}, "refine must be"), ({"refine_band": 2.5}, "refine_band"), ({"refine_band": True}, "refine_band"),
    ({"foreground": "yes"}, "foreground"),
])
def test_ill_typed_quality_options_fail_before_sending(fake, kwargs, needle):
    daemon = fake()
    with MamClient(daemon.endpoint, pure_python=True) as client:
        with pytest.raises(ValueError, match=needle):
            matte(client, **kwargs)
    assert daemon.of_type("matte") == []
