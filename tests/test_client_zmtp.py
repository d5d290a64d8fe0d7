"""The plugins' pure-Python ZMTP DEALER against real libzmq (pyzmq ROUTER) and against scripted raw peers."""
from __future__ import annotations

import socket
import struct
import threading
import time
from contextlib import contextmanager

import pytest
import zmq

from plugins.mam_client.zmtp import HeartbeatTimeout, ZmtpDealer, ZmtpError, parse_endpoint

BIG = 64 * 1024 * 1024


@pytest.fixture
def ctx():
    context = zmq.Context()
    yield context
    context.destroy(linger=0)


class Bound:
    """A libzmq socket and the endpoint it is bound to."""

    def __init__(self, ctx, kind: int, **options: int) -> None:
        self.sock = ctx.socket(kind)
        self.sock.setsockopt(zmq.LINGER, 0)
        for name, value in options.items():
            self.sock.setsockopt(getattr(zmq, name), value)
        self.endpoint = f"tcp://127.0.0.1:{self.sock.bind_to_random_port('tcp://127.0.0.1')}"


@pytest.fixture
def router(ctx):
    return Bound(ctx, zmq.ROUTER)


def recv(sock, timeout_s: float = 30.0) -> list:
    assert sock.poll(int(timeout_s * 1000)), "the pyzmq side received nothing"
    return sock.recv_multipart()


def pattern(n: int, seed: int) -> bytes:
    """Non-repeating-ish content, so a misplaced chunk cannot go unnoticed."""
    block = bytes((i * 7 + seed) % 251 for i in range(251))
    return (block * (n // 251 + 1))[:n]


def test_handshake_with_libzmq_router(router):
    with_dealer = ZmtpDealer.connect(router.endpoint, timeout=5)
    try:
        assert with_dealer.peer_version[0] == 3
        assert with_dealer.peer_socket_type == "ROUTER"
    finally:
        with_dealer.close()


def test_identity_reaches_the_router(router):
    named = ZmtpDealer.connect(router.endpoint, timeout=5, identity=b"krita-1")
    anonymous = ZmtpDealer.connect(router.endpoint, timeout=5)
    try:
        named.send_multipart([b"from named"])
        anonymous.send_multipart([b"from anonymous"])
        by_body = {m[1]: m[0] for m in (recv(router.sock), recv(router.sock))}
        assert by_body[b"from named"] == b"krita-1"
        generated = by_body[b"from anonymous"]
        assert generated[:1] == b"\x00" and len(generated) == 5  # libzmq's own routing id
        router.sock.send_multipart([b"krita-1", b"reply"])
        assert named.recv_multipart(timeout=5) == [b"reply"]
    finally:
        named.close()
        anonymous.close()


@pytest.mark.parametrize("identity", [b"\x00abc", b"x" * 256])
def test_invalid_identity_is_refused(router, identity):
    with pytest.raises(ValueError, match="identity"):
        ZmtpDealer.connect(router.endpoint, timeout=5, identity=identity)


SIZES = [0, 1, 254, 255, 256, 257, 65535, 65536, 70001]  # around the short/long and coalescing boundaries


def test_multipart_both_directions(router):
    dealer = ZmtpDealer.connect(router.endpoint, timeout=5, identity=b"d")
    try:
        frames = [pattern(n, i) for i, n in enumerate(SIZES)]
        dealer.send_multipart([bytearray(frames[0]), memoryview(frames[1]), *frames[2:]])
        assert recv(router.sock) == [b"d", *frames]
        router.sock.send_multipart([b"d", *reversed(frames)])
        assert dealer.recv_multipart(timeout=5) == list(reversed(frames))
        router.sock.send_multipart([b"d", b"second message"])
        assert dealer.recv_multipart(timeout=5) == [b"second message"]
    finally:
        dealer.close()


def test_64mb_frames_both_directions(router):
    dealer = ZmtpDealer.connect(router.endpoint, timeout=5, identity=b"d")
    try:
        big = pattern(BIG, 3)
        dealer.send_multipart([b"header", big], timeout=60)
        got = recv(router.sock, 60)
        assert len(got) == 3 and got[1] == b"header" and got[2] == big
        router.sock.send_multipart([b"d", b"header", big, b"tail"])
        message = dealer.recv_multipart(timeout=60)
        assert len(message) == 3 and message[0] == b"header" and message[1] == big and message[2] == b"tail"
    finally:
        dealer.close()


def test_timeouts_mid_message_resume_where_they_stopped(router):
    dealer = ZmtpDealer.connect(router.endpoint, timeout=5, identity=b"d")
    try:
        assert dealer.recv_multipart(timeout=0.05) is None
        frames = [b"h", pattern(16 * 1024 * 1024, 5), pattern(300, 6), pattern(8 * 1024 * 1024, 7)]
        router.sock.send_multipart([b"d", *frames])
        empty_polls, message = 0, None
        deadline = time.monotonic() + 60
        while message is None and time.monotonic() < deadline:
            message = dealer.recv_multipart(timeout=0.0005)
            empty_polls += message is None
        assert message == frames
        assert empty_polls > 0  # the message really arrived across several calls
        router.sock.send_multipart([b"d", b"next"])
        assert dealer.recv_multipart(timeout=5) == [b"next"]
    finally:
        dealer.close()


def test_ipc_endpoint(ctx, tmp_path):
    sock = ctx.socket(zmq.ROUTER)
    sock.setsockopt(zmq.LINGER, 0)
    endpoint = f"ipc://{tmp_path}/mam.sock"
    sock.bind(endpoint)
    dealer = ZmtpDealer.connect(endpoint, timeout=5, identity=b"ipc")
    try:
        dealer.send_multipart([b"over", b"ipc"])
        assert recv(sock) == [b"ipc", b"over", b"ipc"]
    finally:
        dealer.close()


def test_answers_heartbeat_pings(ctx):
    """libzmq drops a peer that does not answer PING within HEARTBEAT_TIMEOUT; the control dealer,
    which never reads (so never answers), shows the router really enforces it."""
    bound = Bound(ctx, zmq.ROUTER, HEARTBEAT_IVL=50, HEARTBEAT_TIMEOUT=300)
    sock, endpoint = bound.sock, bound.endpoint
    reading = ZmtpDealer.connect(endpoint, timeout=5, identity=b"reader")
    idle = ZmtpDealer.connect(endpoint, timeout=5, identity=b"idle")
    try:
        end = time.monotonic() + 1.5
        while time.monotonic() < end:
            assert reading.recv_multipart(timeout=0.05) is None
        sock.send_multipart([b"reader", b"still connected"])
        assert reading.recv_multipart(timeout=5) == [b"still connected"]
        with pytest.raises(ConnectionError):
            idle.recv_multipart(timeout=5)
    finally:
        reading.close()
        idle.close()


def test_incompatible_socket_type_is_refused(ctx):
    pub = Bound(ctx, zmq.PUB)
    # libzmq may hang up before its READY (naming the type) is read: both outcomes name the problem
    with pytest.raises(ZmtpError, match="PUB socket|a socket type a DEALER cannot talk to"):
        ZmtpDealer.connect(pub.endpoint, timeout=5)


def test_nobody_listening_is_connection_refused():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with pytest.raises(ConnectionRefusedError):
        ZmtpDealer.connect(f"tcp://127.0.0.1:{port}", timeout=5)


# ---- scripted raw peers: the misbehaviours libzmq never produces --------------------------------

def server_greeting(major: int = 3, minor: int = 1, mechanism: bytes = b"NULL") -> bytes:
    return b"\xff" + bytes(8) + b"\x7f" + bytes((major, minor)) + mechanism.ljust(20, b"\x00") + b"\x01" + bytes(31)


def command_frame(name: bytes, body: bytes) -> bytes:
    payload = bytes((len(name),)) + name + body
    return bytes((0x04, len(payload))) + payload


def ready_command(socket_type: bytes = b"ROUTER") -> bytes:
    return command_frame(b"READY", b"\x0bSocket-Type" + struct.pack(">I", len(socket_type)) + socket_type)


def read_client_handshake(conn: socket.socket) -> bytes:
    """Consume the client's greeting and READY; returns the greeting."""
    data = b""
    while len(data) < 64 + 2:
        data += conn.recv(4096)
    ready_len = data[65]
    while len(data) < 66 + ready_len:
        data += conn.recv(4096)
    return data[:64]


@contextmanager
def raw_peer(script):
    """A TCP listener that runs `script(conn)` on the first connection, in a thread."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(1)
    done = threading.Event()

    def run() -> None:
        try:
            conn, _ = server.accept()
            with conn:
                script(conn)
                done.wait(10)
        except OSError:
            pass

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    try:
        yield f"tcp://127.0.0.1:{server.getsockname()[1]}"
    finally:
        done.set()
        server.close()
        thread.join(10)


def handshaken(*after: bytes, close: bool = False):
    def script(conn: socket.socket) -> None:
        conn.sendall(server_greeting())
        read_client_handshake(conn)
        conn.sendall(ready_command())
        for chunk in after:
            conn.sendall(chunk)
        if close:
            conn.shutdown(socket.SHUT_RDWR)
    return script


def test_client_greeting_follows_rfc23():
    seen = {}

    def script(conn):
        conn.sendall(server_greeting())
        seen["greeting"] = read_client_handshake(conn)
        conn.sendall(ready_command())

    with raw_peer(script) as endpoint:
        ZmtpDealer.connect(endpoint, timeout=5).close()
    g = seen["greeting"]
    assert g[0] == 0xFF and g[9] == 0x7F and g[10:12] == b"\x03\x01"
    assert g[12:32] == b"NULL" + bytes(16) and g[32] == 0 and g[33:] == bytes(31)


@pytest.mark.parametrize("reply,match", [
    (b"HTTP/1.1 400 Bad Request\r\n\r\n" + bytes(64), "not a ZeroMQ 3.x"),
    (server_greeting(major=2, minor=0), "ZMTP 2.0"),
    (server_greeting(mechanism=b"CURVE"), "CURVE"),
    (server_greeting() + command_frame(b"ERROR", b"\x0baccess deny"), "refused the handshake: access deny"),
    (server_greeting() + command_frame(b"HELLO", b""), "expected READY"),
    (server_greeting() + b"\x00\x05hello", "message before completing the handshake"),
    (server_greeting() + ready_command(b"SUB"), "SUB socket"),
])
def test_bad_handshakes_name_the_problem(reply, match):
    def script(conn):
        conn.sendall(reply)
    with raw_peer(script) as endpoint:
        with pytest.raises(ZmtpError, match=match):
            ZmtpDealer.connect(endpoint, timeout=5)


def test_silent_peer_times_out_in_the_handshake():
    with raw_peer(lambda conn: None) as endpoint:
        with pytest.raises(TimeoutError, match="greeting"):
            ZmtpDealer.connect(endpoint, timeout=0.3)


def test_commands_between_frames_are_handled():
    ping = command_frame(b"PING", b"\x00\x0aCTX")
    unknown = command_frame(b"FUTURE", b"whatever")
    message = b"\x01\x01a" + ping + unknown + b"\x00\x01b"
    with raw_peer(handshaken(message)) as endpoint:
        dealer = ZmtpDealer.connect(endpoint, timeout=5)
        try:
            assert dealer.recv_multipart(timeout=5) == [b"a", b"b"]
        finally:
            dealer.close()


@pytest.mark.parametrize("ping_body,context", [
    (b"\x00\x0aCTX", b"CTX"),
    (b"\x00\x3c" + bytes(range(16)), bytes(range(16))),  # TTL 6 s, the longest context RFC 37 allows
    (b"\x00\x00", b""),                                   # no TTL, no context
])
def test_pong_echoes_the_ping_context(ping_body, context):
    seen = {}

    def script(conn):
        handshaken(command_frame(b"PING", ping_body))(conn)
        seen["frames"] = peer_frames(conn, 1.0, stop_after=1)

    with raw_peer(script) as endpoint:
        dealer = ZmtpDealer.connect(endpoint, timeout=5)
        try:
            assert dealer.recv_multipart(timeout=0.5) is None  # the PING is consumed, no message
            assert dealer.pings_answered == 1
        finally:
            dealer.close()
    assert seen["frames"] == [(0x04, b"\x04PONG" + context)]


def peer_frames(conn: socket.socket, seconds: float, answer_pings: bool = False, stop_after: int = 0) -> list:
    """The (flags, body) frames the client sends within `seconds` (short frames only), until it hangs
    up or `stop_after` frames came; with `answer_pings` each PING gets its PONG."""
    conn.settimeout(0.02)
    buf, frames = b"", []
    end = time.monotonic() + seconds
    while time.monotonic() < end and not (stop_after and len(frames) >= stop_after):
        try:
            chunk = conn.recv(4096)
        except TimeoutError:
            continue
        except OSError:
            break
        if not chunk:
            break
        buf += chunk
        while len(buf) >= 2 and len(buf) >= 2 + buf[1]:
            assert not buf[0] & 0x02, "a long frame: not expected from the client here"
            flags, body, buf = buf[0], buf[2:2 + buf[1]], buf[2 + buf[1]:]
            frames.append((flags, body))
            if answer_pings and flags & 0x04 and body.startswith(b"\x04PING"):
                conn.sendall(command_frame(b"PONG", body[7:]))
    return frames


FAST = {"heartbeat_ivl": 0.1, "heartbeat_timeout": 0.4, "heartbeat_ttl": 0.5}


def test_unanswered_pings_to_a_zmtp31_peer_end_the_wait():
    """A peer that handshakes, then never sends another byte (a frozen process, a half-open
    connection): PINGs go out while the client waits, and the wait ends with HeartbeatTimeout."""
    seen = {}

    def script(conn):
        handshaken()(conn)
        seen["frames"] = peer_frames(conn, 5)

    with raw_peer(script) as endpoint:
        dealer = ZmtpDealer.connect(endpoint, timeout=5, **FAST)
        assert dealer.heartbeats
        started = time.monotonic()
        with pytest.raises(HeartbeatTimeout, match="stopped answering heartbeats") as info:
            dealer.recv_multipart(timeout=30)
        waited = time.monotonic() - started
        assert dealer.closed and 0.4 <= waited < 2, waited
        assert info.value.silent_s >= 0.4
    pings = seen["frames"]
    assert len(pings) >= 2 and dealer.pings_sent == len(pings)
    assert set(pings) == {(0x04, b"\x04PING\x00\x05")}  # RFC 37: TTL in tenths of a second, empty context


def test_answered_pings_keep_a_quiet_peer_alive():
    """Silence with PONGs is a peer at work (a long matte), not a dead one."""
    seen = {}

    def script(conn):
        handshaken()(conn)
        seen["frames"] = peer_frames(conn, 1.2, answer_pings=True)
        conn.sendall(b"\x00\x04done")

    with raw_peer(script) as endpoint:
        dealer = ZmtpDealer.connect(endpoint, timeout=5, **FAST)
        try:
            assert dealer.recv_multipart(timeout=1.0) is None  # 2.5 heartbeat timeouts, no error
            assert dealer.recv_multipart(timeout=5) == [b"done"]
        finally:
            dealer.close()
    assert len(seen["frames"]) >= 5


def test_zmtp30_peer_gets_no_pings_and_its_silence_is_no_error():
    """ZMTP 3.0 knows no PING: such a peer is never pinged nor judged by its silence."""
    seen = {}

    def script(conn):
        conn.sendall(server_greeting(minor=0))
        read_client_handshake(conn)
        conn.sendall(ready_command())
        seen["frames"] = peer_frames(conn, 1.2)

    with raw_peer(script) as endpoint:
        dealer = ZmtpDealer.connect(endpoint, timeout=5, **FAST)
        try:
            assert dealer.peer_version == (3, 0) and not dealer.heartbeats
            assert dealer.recv_multipart(timeout=1.0) is None
            assert not dealer.closed and dealer.pings_sent == 0
        finally:
            dealer.close()
    assert seen["frames"] == []


def test_heartbeats_can_be_turned_off():
    with raw_peer(handshaken()) as endpoint:
        dealer = ZmtpDealer.connect(endpoint, timeout=5, heartbeat_ivl=None, heartbeat_timeout=0.2)
        try:
            assert not dealer.heartbeats
            assert dealer.recv_multipart(timeout=0.6) is None and dealer.pings_sent == 0
        finally:
            dealer.close()


@pytest.mark.parametrize("after,match", [
    (command_frame(b"ERROR", b"\x07goodbye"), "closed the connection with an error: goodbye"),
    (b"\x10\x01x", "reserved flag bits"),
    (b"\x02" + struct.pack(">Q", 1 << 40), "announced a 1099511627776-byte frame"),
])
def test_bad_frames_name_the_problem(after, match):
    with raw_peer(handshaken(after)) as endpoint:
        dealer = ZmtpDealer.connect(endpoint, timeout=5)
        with pytest.raises(ZmtpError, match=match):
            dealer.recv_multipart(timeout=5)
        assert dealer.closed


def test_peer_closing_mid_message_is_a_connection_error():
    with raw_peer(handshaken(b"\x03" + struct.pack(">Q", 1000) + b"partial", close=True)) as endpoint:
        dealer = ZmtpDealer.connect(endpoint, timeout=5)
        with pytest.raises(ConnectionError, match="closed the connection"):
            dealer.recv_multipart(timeout=5)
        with pytest.raises(ConnectionError, match="closed"):
            dealer.send_multipart([b"after"])


@pytest.mark.parametrize("endpoint,expected", [
    ("tcp://127.0.0.1:5757", (socket.AF_INET, ("127.0.0.1", 5757))),
    ("tcp://localhost:1", (socket.AF_INET, ("localhost", 1))),
    ("tcp://[::1]:5757", (socket.AF_INET6, ("::1", 5757))),
    ("ipc:///tmp/mam.sock", (socket.AF_UNIX, "/tmp/mam.sock")),
    ("ipc://@mam", (socket.AF_UNIX, b"\x00mam")),
])
def test_parse_endpoint(endpoint, expected):
    assert parse_endpoint(endpoint) == expected


@pytest.mark.parametrize("endpoint", ["tcp://127.0.0.1", "tcp://:5757", "tcp://host:0", "tcp://host:99999",
                                      "tcp://host:port", "ipc://", "udp://127.0.0.1:5757", "127.0.0.1:5757"])
def test_parse_endpoint_rejects(endpoint):
    with pytest.raises(ValueError, match="endpoint"):
        parse_endpoint(endpoint)
