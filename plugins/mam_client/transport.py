"""Pick the wire implementation: pyzmq + msgpack when importable, else the pure-Python pair.

Both transports expose the same four things — `send`, `recv`, `pack`, `unpack` (plus `close`
and a `name`) — so the client never knows which one it talks through. Set the environment
variable MAM_CLIENT_PURE_PYTHON=1 (or pass ``pure_python=True``) to force the standard-library
path, e.g. to test exactly what runs inside Krita or GIMP.

Both keep ZeroMQ heartbeats going (docs/PROTOCOL.md, "Heartbeats"): a daemon that freezes or
becomes unreachable mid-request ends the wait with HeartbeatTimeout within about 6–8 s, instead of
the request's whole timeout, and an idle connection stays up because the daemon's PINGs are answered.
"""
from __future__ import annotations

import collections
import os
import threading
import time
import weakref
from dataclasses import dataclass
from typing import Any, Callable, List, Optional, Sequence, Union

from . import msgpack_lite
from .msgpack_lite import MsgpackError
from .zmtp import HEARTBEAT_IVL_S, HEARTBEAT_TIMEOUT_S, HEARTBEAT_TTL_S, HeartbeatTimeout, ZmtpDealer, parse_endpoint

__all__ = ["CurveKeys", "Transport", "open_transport", "pure_python_forced", "PURE_PYTHON_ENV", "HeartbeatTimeout"]

PURE_PYTHON_ENV = "MAM_CLIENT_PURE_PYTHON"
_CLOSE_LINGER_MS = 200
_IDLE_POLL_S = 0.5        # how often the pure-Python keeper answers PINGs between calls (daemon drops us after 6 s)
_DROP_DIAGNOSIS_S = 0.6   # after a drop, how long the pyzmq transport watches libzmq's reconnect to tell why
BytesLike = Union[bytes, bytearray, memoryview]


@dataclass(frozen=True)
class CurveKeys:
    """Keys for a daemon that requires ZeroMQ CURVE (remote use): Z85 text or 32 raw bytes each."""

    server_public: bytes
    client_public: bytes
    client_secret: bytes

    @classmethod
    def from_files(cls, server_key_file: str, client_secret_file: str) -> CurveKeys:
        """Read zmq.auth certificate files: the daemon's public `.key`, this client's `.key_secret`."""
        import zmq.auth

        server_public, _ = zmq.auth.load_certificate(server_key_file)
        client_public, client_secret = zmq.auth.load_certificate(client_secret_file)
        if not client_secret:
            raise ValueError(f"{client_secret_file} holds no secret key (pass the client's .key_secret file)")
        return cls(server_public, client_public, client_secret)


def pure_python_forced() -> bool:
    return os.environ.get(PURE_PYTHON_ENV, "").strip().lower() not in ("", "0", "false", "no")


def _codec(pure_python: bool) -> tuple[str, Callable[[Any], bytes], Callable[[BytesLike], Any]]:
    """(name, pack, unpack); both unpackers raise MsgpackError on bad input."""
    if not pure_python:
        try:
            import msgpack
        except ImportError:
            pass
        else:
            def unpack(data: BytesLike) -> Any:
                try:
                    return msgpack.unpackb(data, raw=False)
                except Exception as exc:  # msgpack raises several unrelated types for bad input
                    raise MsgpackError(f"invalid msgpack ({type(exc).__name__}: {exc})") from None
            return "msgpack", lambda obj: msgpack.packb(obj, use_bin_type=True), unpack
    return "msgpack_lite", msgpack_lite.pack, msgpack_lite.unpack


class Transport:
    """One DEALER connection plus the header codec that goes with it."""

    name = "transport"

    def __init__(self, codec: tuple[str, Callable[[Any], bytes], Callable[[BytesLike], Any]]) -> None:
        self.codec_name, self.pack, self.unpack = codec

    def send(self, frames: Sequence[BytesLike], timeout: Optional[float]) -> None:
        raise NotImplementedError

    def recv(self, timeout: Optional[float]) -> Optional[List[bytes]]:
        """The next message, None on timeout; ConnectionError once the daemon's connection is gone."""
        raise NotImplementedError

    def alive(self) -> bool:
        """Between calls: drop stale messages and tell whether the connection still stands, so a
        daemon that stopped (or restarted) while the plugin was idle costs no failed request."""
        raise NotImplementedError

    def close(self) -> None:
        raise NotImplementedError


class PurePythonTransport(Transport):
    """The standard-library ZMTP client: what runs inside the editors.

    A daemon thread keeps the connection alive between calls: it answers the daemon's PINGs (the
    daemon drops a client that stays silent for 6 s), pings in turn, and keeps any message that
    arrives meanwhile for the next `recv`. Every use of the connection holds one lock.
    """

    name = "pure-python"

    def __init__(self, endpoint: str, connect_timeout: float, identity: bytes = b"",
                 curve: Optional[CurveKeys] = None) -> None:
        if curve is not None:
            raise ValueError("CURVE encryption needs pyzmq; the pure-Python transport speaks only the NULL "
                             "mechanism (install pyzmq into the editor's Python for remote daemons)")
        super().__init__(_codec(pure_python=True))
        self._dealer = ZmtpDealer.connect(endpoint, timeout=connect_timeout, identity=identity)
        self._lock = threading.Lock()
        self._inbox: collections.deque[List[bytes]] = collections.deque()
        self._broken: Optional[OSError] = None  # what ended the connection while nobody was waiting
        self._stop = threading.Event()
        self._keeper: Optional[threading.Thread] = None
        if self._dealer.heartbeats:
            # The thread holds the transport weakly: a client dropped without close() still lets it go.
            self._keeper = threading.Thread(target=_keep_alive, args=(weakref.ref(self), self._stop),
                                            name="mam-client-heartbeat", daemon=True)
            self._keeper.start()

    def _service(self) -> bool:
        """Between calls: answer PINGs, send ours, keep messages for the next recv; False once done."""
        if not self._lock.acquire(blocking=False):
            return True  # a call is using the connection, and answers PINGs itself
        try:
            if self._dealer.closed:
                return False
            while True:
                message = self._dealer.recv_multipart(timeout=0)
                if message is None:
                    return True
                self._inbox.append(message)
        except OSError as exc:
            self._broken = exc
            return False
        finally:
            self._lock.release()

    def send(self, frames: Sequence[BytesLike], timeout: Optional[float]) -> None:
        with self._lock:
            if self._broken is not None:
                raise self._broken
            self._dealer.send_multipart(frames, timeout=timeout)

    def recv(self, timeout: Optional[float]) -> Optional[List[bytes]]:
        with self._lock:
            if self._inbox:
                return self._inbox.popleft()
            if self._broken is not None:
                raise self._broken
            return self._dealer.recv_multipart(timeout=timeout)

    def alive(self) -> bool:
        with self._lock:
            self._inbox.clear()
            if self._broken is not None:
                return False
            try:
                while self._dealer.recv_multipart(timeout=0) is not None:
                    pass
            except OSError:
                return False
            return True

    def close(self) -> None:
        self._stop.set()
        if self._keeper is not None and self._keeper is not threading.current_thread():
            self._keeper.join(5)
        with self._lock:
            self._dealer.close()


def _keep_alive(ref: weakref.ref[PurePythonTransport], stop: threading.Event) -> None:
    while not stop.wait(_IDLE_POLL_S):
        transport = ref()
        if transport is None or not transport._service():
            return
        del transport


class PyZmqTransport(Transport):
    """pyzmq's DEALER, watched by a socket monitor so a vanished daemon is an error, not a silent wait.

    libzmq reconnects quietly by design; a plugin instead needs to know at once that the daemon
    is down (connect) or died (mid-request), so connection events end the wait. libzmq's own
    heartbeats (ZMQ_HEARTBEAT_*) drop a connection whose daemon stopped answering; its monitor
    reports that drop as DISCONNECTED like any other, so libzmq's reconnect attempt right after
    tells the two apart (see `_lost`).
    """

    name = "pyzmq"

    def __init__(self, endpoint: str, connect_timeout: float, identity: bytes = b"",
                 curve: Optional[CurveKeys] = None) -> None:
        import zmq
        from zmq.utils.monitor import recv_monitor_message

        super().__init__(_codec(pure_python=False))
        parse_endpoint(endpoint)  # same endpoint rules (and errors) as the pure-Python path
        self._zmq = zmq
        self._recv_event = recv_monitor_message
        self._ctx = zmq.Context()
        self._sock = self._ctx.socket(zmq.DEALER)
        self._sock.setsockopt(zmq.LINGER, 0)
        self._sock.setsockopt(zmq.HEARTBEAT_IVL, int(HEARTBEAT_IVL_S * 1000))
        self._sock.setsockopt(zmq.HEARTBEAT_TIMEOUT, int(HEARTBEAT_TIMEOUT_S * 1000))
        self._sock.setsockopt(zmq.HEARTBEAT_TTL, int(HEARTBEAT_TTL_S * 1000))
        if identity:
            self._sock.setsockopt(zmq.IDENTITY, identity)
        if curve is not None:
            self._sock.curve_serverkey = curve.server_public
            self._sock.curve_publickey = curve.client_public
            self._sock.curve_secretkey = curve.client_secret
        self._monitor = self._sock.get_monitor_socket(
            zmq.EVENT_HANDSHAKE_SUCCEEDED | zmq.EVENT_DISCONNECTED | zmq.EVENT_CONNECT_RETRIED | zmq.EVENT_CONNECTED
            | zmq.EVENT_CLOSED | zmq.EVENT_HANDSHAKE_FAILED_NO_DETAIL | zmq.EVENT_HANDSHAKE_FAILED_PROTOCOL
            | zmq.EVENT_HANDSHAKE_FAILED_AUTH)
        self._connected = False
        self._poller = zmq.Poller()
        self._poller.register(self._sock, zmq.POLLIN)
        self._poller.register(self._monitor, zmq.POLLIN)
        try:
            self._sock.connect(endpoint)
            self._await_handshake(connect_timeout)
        except BaseException:
            self.close()
            raise

    def _await_handshake(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while True:
            remaining_ms = int(max(deadline - time.monotonic(), 0) * 1000)
            if not self._monitor.poll(remaining_ms):
                raise TimeoutError(f"no ZeroMQ handshake within {timeout:g} s")
            event = self._recv_event(self._monitor)["event"]
            if event == self._zmq.EVENT_HANDSHAKE_SUCCEEDED:
                self._connected = True
                return
            if event == self._zmq.EVENT_HANDSHAKE_FAILED_AUTH:
                raise PermissionError("the daemon refused this client's CURVE key")
            if event in (self._zmq.EVENT_CONNECT_RETRIED, self._zmq.EVENT_HANDSHAKE_FAILED_NO_DETAIL,
                         self._zmq.EVENT_HANDSHAKE_FAILED_PROTOCOL):
                raise ConnectionRefusedError("connection refused (nothing is listening there)"
                                             if event == self._zmq.EVENT_CONNECT_RETRIED
                                             else "the peer is not a compatible ZeroMQ endpoint")

    def send(self, frames: Sequence[BytesLike], timeout: Optional[float]) -> None:
        self._sock.setsockopt(self._zmq.SNDTIMEO, -1 if timeout is None else int(timeout * 1000))
        try:
            self._sock.send_multipart(frames, copy=False)
        except self._zmq.Again:
            raise TimeoutError("the daemon did not accept the message in time") from None

    def recv(self, timeout: Optional[float]) -> Optional[List[bytes]]:
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            remaining = None if deadline is None else int(max(deadline - time.monotonic(), 0) * 1000)
            ready = dict(self._poller.poll(remaining))
            if self._sock in ready:
                return self._sock.recv_multipart()
            if self._monitor in ready:
                after_drop = self._track_events()
                if after_drop is not None:  # even if libzmq already reconnected: that daemon lost the request
                    raise self._lost(after_drop)
                continue
            return None

    def _track_events(self) -> Optional[List[int]]:
        """Apply pending monitor events; None if the connection stood, else the events since it dropped.
        libzmq reconnects by itself, so a daemon restarted meanwhile shows up as connected again."""
        after_drop: Optional[List[int]] = None
        while self._monitor.poll(0):
            event = self._recv_event(self._monitor)["event"]
            if after_drop is not None:
                after_drop.append(event)
            if event in (self._zmq.EVENT_DISCONNECTED, self._zmq.EVENT_CLOSED):
                self._connected = False
                if after_drop is None:
                    after_drop = []
            elif event == self._zmq.EVENT_HANDSHAKE_SUCCEEDED:
                self._connected = True
        return after_drop

    def _lost(self, after_drop: List[int]) -> OSError:
        """Why the connection dropped, judged by libzmq's reconnect 0.1-0.2 s after it (monitor events:
        DISCONNECTED, CONNECT_RETRIED = reconnect scheduled, then the attempt). Refused (CLOSED) or a fresh
        handshake means the daemon closed the connection; an attempt that the kernel accepts but nobody
        handshakes on (a stopped process), or that hangs (a network gone), means the daemon is frozen or
        unreachable: libzmq's heartbeat timeout dropped it."""
        zmq = self._zmq
        deadline = time.monotonic() + _DROP_DIAGNOSIS_S
        events = list(after_drop)
        while True:
            for event in events:
                if event == zmq.EVENT_HANDSHAKE_SUCCEEDED:
                    self._connected = True
                    return ConnectionResetError("the daemon closed the connection")
                if event in (zmq.EVENT_CLOSED, zmq.EVENT_DISCONNECTED):
                    return ConnectionResetError("the daemon closed the connection")
            remaining_ms = int((deadline - time.monotonic()) * 1000)
            if remaining_ms <= 0 or not self._monitor.poll(remaining_ms):
                return HeartbeatTimeout(f"the daemon stopped answering heartbeats (nothing received for "
                                        f"{HEARTBEAT_TIMEOUT_S:g} s or more)", HEARTBEAT_TIMEOUT_S)
            events = [self._recv_event(self._monitor)["event"]]

    def alive(self) -> bool:
        while self._sock.poll(0):
            self._sock.recv_multipart()
        dropped = self._track_events() is not None  # a daemon that restarted meanwhile gets a fresh hello
        return self._connected and not dropped

    def close(self) -> None:
        self._sock.disable_monitor()
        self._monitor.close(linger=0)
        self._sock.close(linger=_CLOSE_LINGER_MS)  # time for a last cancel to leave; bounded if the daemon is gone
        self._ctx.term()


def open_transport(endpoint: str, connect_timeout: float, pure_python: Optional[bool] = None,
                   identity: bytes = b"", curve: Optional[CurveKeys] = None) -> Transport:
    """Connect to `endpoint`; pure_python=None means: pyzmq if importable, unless the env var forces."""
    if pure_python is None:
        pure_python = pure_python_forced()
    if not pure_python:
        try:
            import zmq  # noqa: F401  (probe only)
        except ImportError:
            pure_python = True
    cls = PurePythonTransport if pure_python else PyZmqTransport
    return cls(endpoint, connect_timeout, identity, curve)
