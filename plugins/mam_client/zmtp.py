"""A ZeroMQ DEALER peer speaking ZMTP 3.x (RFC 23 / RFC 37) over a plain stream socket.

Editor Pythons have no pyzmq, so the plugins talk to the daemon's ROUTER socket with this small
implementation of the wire format: the 64-byte greeting, the NULL security mechanism's READY
handshake (Socket-Type and Identity properties), message framing (MORE flag, short and long
sizes), and the commands a peer may send between messages (PING is answered with PONG, ERROR
ends the connection, unknown commands are ignored). Every blocking step takes a deadline, so a
silent peer can never hang the editor.

Heartbeats (RFC 37, only with a peer whose greeting says ZMTP 3.1): while `recv_multipart` waits,
a PING goes out every `heartbeat_ivl` seconds; when one stays unanswered — not a single byte from
the peer since it was sent — for `heartbeat_timeout` seconds, the connection is closed and
HeartbeatTimeout raised. A frozen peer, a suspended laptop or a vanished network is so reported
within seconds, although the kernel still calls the TCP connection open. Endpoints: ``tcp://host:port`` and, on Unix,
``ipc:///path`` (``ipc://@name`` for Linux abstract sockets).
"""
from __future__ import annotations

import socket
import struct
import time
from typing import Any, Dict, List, Optional, Sequence, Tuple, Union

__all__ = ["ZmtpError", "HeartbeatTimeout", "ZmtpDealer", "parse_endpoint", "HEARTBEAT_IVL_S",
           "HEARTBEAT_TIMEOUT_S", "HEARTBEAT_TTL_S"]

BytesLike = Union[bytes, bytearray, memoryview]

_FLAG_MORE, _FLAG_LONG, _FLAG_COMMAND = 0x01, 0x02, 0x04
_U32, _U64 = struct.Struct(">I"), struct.Struct(">Q")
_GREETING_SIZE = 64
# Signature padding carries (identity length + 1) so ZMTP 1.0 peers could parse it; 3.x ignores it.
_GREETING = (b"\xff" + b"\x00" * 7 + b"\x01" + b"\x7f" + bytes((3, 1))
             + b"NULL".ljust(20, b"\x00") + b"\x00" + b"\x00" * 31)
_COALESCE_BYTES = 1 << 16  # frames smaller than this are sent in one write with their neighbours
_RECV_CHUNK = 1 << 16
_COMPATIBLE_PEERS = (b"ROUTER", b"DEALER", b"REP")  # RFC 28: the peers a DEALER may talk to
DEFAULT_MAX_FRAME = 1 << 32  # refuse to allocate for a frame header announcing more than this
# Heartbeats, the same numbers as the daemon's ROUTER and the pyzmq transport (docs/PROTOCOL.md, "Heartbeats").
HEARTBEAT_IVL_S = 2.0       # a PING this often while waiting for the peer
HEARTBEAT_TIMEOUT_S = 6.0   # a PING unanswered (nothing at all received) this long: the peer is gone
HEARTBEAT_TTL_S = 6.0       # told to the peer in each PING: drop us after this long without a word
_COMMAND_SEND_S = 1.0       # a PING or PONG (a few bytes) that cannot leave within this: the peer stopped reading


class ZmtpError(ConnectionError):
    """The peer is not a compatible ZeroMQ endpoint or broke the ZMTP rules."""


class HeartbeatTimeout(ConnectionError):
    """The peer stopped answering heartbeats: frozen, suspended, or unreachable; the connection is closed.
    `silent_s`: seconds since the last byte from the peer."""

    def __init__(self, message: str, silent_s: float) -> None:
        super().__init__(message)
        self.silent_s = silent_s


def parse_endpoint(endpoint: str) -> Tuple[int, Union[Tuple[str, int], str, bytes]]:
    """``tcp://host:port`` or ``ipc://path`` → (address family, socket address)."""
    if endpoint.startswith("tcp://"):
        host, sep, port = endpoint[len("tcp://"):].rpartition(":")
        if host.startswith("[") and host.endswith("]"):
            host = host[1:-1]
        if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
            raise ValueError(f"bad tcp endpoint {endpoint!r}: expected tcp://HOST:PORT")
        return socket.AF_INET6 if ":" in host else socket.AF_INET, (host, int(port))
    if endpoint.startswith("ipc://"):
        if not hasattr(socket, "AF_UNIX"):
            raise ValueError(f"ipc:// endpoints need Unix domain sockets, which this platform lacks; "
                             f"use a tcp:// endpoint instead of {endpoint!r}")
        path = endpoint[len("ipc://"):]
        if not path:
            raise ValueError(f"bad ipc endpoint {endpoint!r}: expected ipc:///path/to/socket")
        # libzmq maps a leading '@' to Linux's abstract namespace (a leading NUL byte).
        return socket.AF_UNIX, (b"\x00" + path[1:].encode() if path.startswith("@") else path)
    raise ValueError(f"unsupported endpoint {endpoint!r}: use tcp://HOST:PORT or ipc:///PATH")


def _remaining(deadline: Optional[float]) -> Optional[float]:
    if deadline is None:
        return None
    return max(deadline - time.monotonic(), 0.0)


def _deadline(timeout: Optional[float]) -> Optional[float]:
    return None if timeout is None else time.monotonic() + timeout


def _command(name: bytes, body: bytes = b"") -> bytes:
    return bytes((len(name),)) + name + body


def _encode_properties(props: Dict[bytes, bytes]) -> bytes:
    out = bytearray()
    for name, value in props.items():
        out += bytes((len(name),)) + name + _U32.pack(len(value)) + value
    return bytes(out)


def _decode_properties(data: bytes) -> Dict[str, bytes]:
    """READY metadata → {lower-case name: value}; names are case-insensitive per RFC 23."""
    props: Dict[str, bytes] = {}
    pos = 0
    while pos < len(data):
        name_len = data[pos]
        name_end = pos + 1 + name_len
        if name_end + 4 > len(data):
            raise ZmtpError("peer's READY command has a truncated property")
        value_len = _U32.unpack_from(data, name_end)[0]
        value_end = name_end + 4 + value_len
        if value_end > len(data):
            raise ZmtpError("peer's READY command has a truncated property value")
        props[data[pos + 1:name_end].decode("ascii", "replace").lower()] = data[name_end + 4:value_end]
        pos = value_end
    return props


class ZmtpDealer:
    """One connected DEALER: `send_multipart` / `recv_multipart` with timeouts, like pyzmq's."""

    def __init__(self, sock: socket.socket, identity: bytes = b"", timeout: Optional[float] = 5.0,
                 max_frame: int = DEFAULT_MAX_FRAME, heartbeat_ivl: Optional[float] = HEARTBEAT_IVL_S,
                 heartbeat_timeout: float = HEARTBEAT_TIMEOUT_S, heartbeat_ttl: float = HEARTBEAT_TTL_S) -> None:
        """Take over a connected stream socket and run the handshake within `timeout` seconds.
        `heartbeat_ivl` None sends no PINGs (and so never raises HeartbeatTimeout)."""
        if identity[:1] == b"\x00" or len(identity) > 255:
            raise ValueError("identity must be at most 255 bytes and must not start with a zero byte")
        if heartbeat_ivl is not None and not 0 < heartbeat_ivl <= heartbeat_timeout:
            raise ValueError("heartbeat_ivl must be positive and at most heartbeat_timeout")
        if not 0 <= heartbeat_ttl <= 6553.5:
            raise ValueError("heartbeat_ttl must be 0..6553.5 s (RFC 37 sends it in tenths of a second)")
        self._sock = sock
        self._max_frame = max_frame
        self._buf = bytearray()            # bytes received but not parsed yet
        self._body: Optional[bytearray] = None  # a large frame body being filled in place
        self._body_filled = 0
        self._body_flags = 0
        self._partial: List[bytes] = []    # frames of a message whose last frame has not arrived
        self._closed = False
        self.peer_version: Tuple[int, int] = (0, 0)
        self.peer_properties: Dict[str, bytes] = {}
        self._heartbeat_ivl = heartbeat_ivl
        self._heartbeat_timeout = heartbeat_timeout
        self._ping_body = _command(b"PING", struct.pack(">H", int(round(heartbeat_ttl * 10))))
        self._last_heard = time.monotonic()       # when the last byte from the peer arrived
        self._ping_unanswered_since: Optional[float] = None  # our oldest PING with nothing heard since
        self._next_ping = 0.0
        self.pings_sent = 0      # counters, for logs and tests
        self.pings_answered = 0
        try:
            self._handshake(identity, _deadline(timeout))
        except BaseException:
            self.close()
            raise
        self._next_ping = time.monotonic() + (heartbeat_ivl or 0.0)

    @classmethod
    def connect(cls, endpoint: str, timeout: Optional[float] = 5.0, identity: bytes = b"",
                max_frame: int = DEFAULT_MAX_FRAME, **heartbeat: Any) -> ZmtpDealer:
        """Open the stream socket and handshake; OSError (e.g. ConnectionRefusedError) if nobody listens."""
        family, address = parse_endpoint(endpoint)
        deadline = _deadline(timeout)
        if family == socket.AF_UNIX:
            sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            try:
                sock.settimeout(timeout)
                sock.connect(address)
            except BaseException:
                sock.close()
                raise
        else:
            sock = socket.create_connection(address, timeout=timeout)  # type: ignore[arg-type]
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        return cls(sock, identity=identity, timeout=_remaining(deadline), max_frame=max_frame, **heartbeat)

    @property
    def closed(self) -> bool:
        return self._closed

    @property
    def heartbeats(self) -> bool:
        """Whether this connection sends PINGs: asked for, and the peer speaks ZMTP 3.1 or newer (a 3.0
        peer knows no heartbeat commands, so its silence while it works must not count as death)."""
        return self._heartbeat_ivl is not None and self.peer_version >= (3, 1)

    @property
    def peer_socket_type(self) -> str:
        return self.peer_properties.get("socket-type", b"").decode("ascii", "replace")

    def close(self) -> None:
        """Close gracefully: unread input would make the kernel answer with a reset, which can
        destroy a just-sent last message (a cancel) before the peer reads it."""
        if self._closed:
            return
        self._closed = True
        try:
            self._sock.setblocking(False)
            while self._sock.recv(_RECV_CHUNK):
                pass
        except OSError:
            pass
        try:
            self._sock.shutdown(socket.SHUT_WR)
        except OSError:
            pass
        self._sock.close()

    # ---- handshake -------------------------------------------------------------------------

    def _handshake(self, identity: bytes, deadline: Optional[float]) -> None:
        # Signature and major version first: libzmq then sends its whole greeting, so a peer with
        # another security mechanism is named before it sees ours and hangs up.
        self._send_chunks([_GREETING[:11]], deadline)
        signature = self._read_exact(10, deadline, "the ZMTP greeting")
        if signature[0] != 0xFF or not signature[9] & 0x01:
            raise ZmtpError("the peer is not a ZeroMQ 3.x endpoint (bad greeting signature)")
        rest = self._read_exact(_GREETING_SIZE - 10, deadline, "the ZMTP greeting")
        self.peer_version = (rest[0], rest[1])
        if rest[0] < 3:
            raise ZmtpError(f"the peer speaks ZMTP {rest[0]}.{rest[1]}; this client needs ZMTP 3.0 or newer")
        mechanism = bytes(rest[2:22]).rstrip(b"\x00").decode("ascii", "replace")
        if mechanism != "NULL":
            raise ZmtpError(f"the peer requires the {mechanism} security mechanism; this pure-Python client "
                            "supports NULL only (install pyzmq for CURVE)")
        self._send_chunks([_GREETING[11:]], deadline)
        ready = _command(b"READY", _encode_properties({b"Socket-Type": b"DEALER", b"Identity": identity}))
        self._send_chunks([self._frame_header(_FLAG_COMMAND, len(ready)) + ready], deadline)
        try:
            flags, body = self._read_frame_or_timeout(deadline, "the peer's READY command")
        except ConnectionResetError:
            # libzmq hangs up on an incompatible socket type, sometimes before its READY is read
            raise ZmtpError("the peer closed the connection during the ZMTP handshake; it may be a socket "
                            "type a DEALER cannot talk to") from None
        if not flags & _FLAG_COMMAND:
            raise ZmtpError("the peer sent a message before completing the handshake")
        name, data = self._split_command(body)
        if name == b"ERROR":
            raise ZmtpError(f"the peer refused the handshake: {self._error_reason(data)}")
        if name != b"READY":
            raise ZmtpError(f"expected READY from the peer, got the {name!r} command")
        self.peer_properties = _decode_properties(data)
        peer_type = self.peer_properties.get("socket-type", b"")
        if peer_type not in _COMPATIBLE_PEERS:
            raise ZmtpError(f"the peer is a {peer_type.decode('ascii', 'replace') or 'untyped'} socket; "
                            "a DEALER can only talk to ROUTER, DEALER or REP")

    @staticmethod
    def _split_command(body: bytes) -> Tuple[bytes, bytes]:
        if not body or body[0] + 1 > len(body):
            raise ZmtpError("the peer sent a malformed command frame")
        return bytes(body[1:1 + body[0]]), bytes(body[1 + body[0]:])

    @staticmethod
    def _error_reason(data: bytes) -> str:
        return bytes(data[1:1 + data[0]]).decode("utf-8", "replace") if data else "(no reason given)"

    # ---- sending ---------------------------------------------------------------------------

    @staticmethod
    def _frame_header(flags: int, size: int) -> bytes:
        if size > 255:
            return bytes((flags | _FLAG_LONG,)) + _U64.pack(size)
        return bytes((flags, size))

    def send_multipart(self, frames: Sequence[BytesLike], timeout: Optional[float] = None) -> None:
        """Send one message; large frames go out straight from the caller's buffer (no copy).

        A send that cannot finish within `timeout` leaves the stream mid-message, so the
        connection is closed before the TimeoutError propagates.
        """
        if not frames:
            raise ValueError("a ZeroMQ message needs at least one frame")
        chunks: List[BytesLike] = []
        pending = bytearray()
        last = len(frames) - 1
        for i, frame in enumerate(frames):
            view = memoryview(frame).cast("B")
            pending += self._frame_header(_FLAG_MORE if i < last else 0, len(view))
            if len(view) < _COALESCE_BYTES:
                pending += view
            else:
                chunks += [bytes(pending), view]
                pending = bytearray()
        if pending:
            chunks.append(bytes(pending))
        self._send_chunks(chunks, _deadline(timeout))

    def _send_chunks(self, chunks: Sequence[BytesLike], deadline: Optional[float]) -> None:
        self._check_open()
        try:
            for chunk in chunks:
                self._sock.settimeout(_remaining(deadline))
                self._sock.sendall(chunk)
        except (TimeoutError, BlockingIOError):
            self.close()
            raise TimeoutError("the peer did not accept the message in time; connection closed") from None
        except OSError:
            self.close()
            raise

    # ---- receiving -------------------------------------------------------------------------

    def recv_multipart(self, timeout: Optional[float] = None) -> Optional[List[bytes]]:
        """The next message's frames, or None if none completed within `timeout` seconds.

        Raises ConnectionError when the peer closes the connection or sends ERROR. Progress
        on a partly received message is kept, so a later call resumes where this one stopped.
        """
        deadline = _deadline(timeout)
        while True:
            frame = self._read_frame(self._heartbeat(deadline))
            if frame is None:
                if deadline is not None and time.monotonic() >= deadline:
                    return None
                continue  # woke up for the heartbeat
            flags, body = frame
            if flags & _FLAG_COMMAND:
                self._handle_command(body)
                continue
            self._partial.append(body)
            if not flags & _FLAG_MORE:
                message, self._partial = self._partial, []
                return message

    def _heartbeat(self, deadline: Optional[float]) -> Optional[float]:
        """Send a PING when one is due, fail when one went unanswered too long; returns the time to
        wake up at (the caller's deadline, or the next heartbeat step if that comes first)."""
        if not self.heartbeats:
            return deadline
        now = time.monotonic()
        since = self._ping_unanswered_since
        if since is not None and now - since >= self._heartbeat_timeout:
            silent = now - self._last_heard
            self.close()
            raise HeartbeatTimeout(f"the peer stopped answering heartbeats: nothing received for {silent:.1f} s "
                                   f"(a PING went unanswered for {now - since:.1f} s)", silent)
        if now >= self._next_ping:
            self._send_command(self._ping_body)
            self.pings_sent += 1
            self._next_ping = now + self._heartbeat_ivl  # type: ignore[operator]
            if since is None:
                self._ping_unanswered_since = since = now
        wake = self._next_ping if since is None else min(self._next_ping, since + self._heartbeat_timeout)
        return wake if deadline is None else min(deadline, wake)

    def _send_command(self, command: bytes) -> None:
        self._send_chunks([self._frame_header(_FLAG_COMMAND, len(command)) + command], _deadline(_COMMAND_SEND_S))

    def _handle_command(self, body: bytes) -> None:
        name, data = self._split_command(body)
        if name == b"PING":
            # RFC 37: PING = TTL (2 bytes, tenths of a second) + context (0..16 bytes); PONG echoes the context.
            self._send_command(_command(b"PONG", data[2:]))
            self.pings_answered += 1
        elif name == b"ERROR":
            self.close()
            raise ZmtpError(f"the peer closed the connection with an error: {self._error_reason(data)}")

    def _read_frame_or_timeout(self, deadline: Optional[float], what: str) -> Tuple[int, bytes]:
        frame = self._read_frame(deadline)
        if frame is None:
            self.close()
            raise TimeoutError(f"timed out waiting for {what}")
        return frame

    def _read_exact(self, n: int, deadline: Optional[float], what: str) -> bytes:
        while len(self._buf) < n:
            if not self._fill(deadline):
                self.close()
                raise TimeoutError(f"timed out waiting for {what}")
        data = bytes(self._buf[:n])
        del self._buf[:n]
        return data

    def _read_frame(self, deadline: Optional[float]) -> Optional[Tuple[int, bytes]]:
        """One complete frame (flags, body), or None on timeout; resumable across calls.

        The deadline holds even while data keeps flowing (a large frame stops part-way and
        continues on the next call), so callers can poll for cancellation during big transfers.
        """
        filled = False
        while True:
            if self._body is None:
                frame = self._take_buffered_frame()
                if frame is not None:
                    return frame
            if self._body is not None and self._body_filled == len(self._body):
                body, self._body = bytes(self._body), None
                return self._body_flags, body
            if filled and deadline is not None and time.monotonic() >= deadline:
                return None
            if not self._fill(deadline):
                return None
            filled = True

    def _take_buffered_frame(self) -> Optional[Tuple[int, bytes]]:
        """A small frame already buffered whole; a larger one starts filling its own buffer."""
        if not self._buf:
            return None
        flags = self._buf[0]
        if flags & ~(_FLAG_MORE | _FLAG_LONG | _FLAG_COMMAND):
            self.close()
            raise ZmtpError(f"the peer sent a frame with reserved flag bits set (0x{flags:02x})")
        header_size = 9 if flags & _FLAG_LONG else 2
        if len(self._buf) < header_size:
            return None
        size = _U64.unpack_from(self._buf, 1)[0] if flags & _FLAG_LONG else self._buf[1]
        if size > self._max_frame:
            self.close()
            raise ZmtpError(f"the peer announced a {size}-byte frame; the limit is {self._max_frame}")
        end = header_size + size
        if size < _RECV_CHUNK and len(self._buf) >= end:
            body = bytes(self._buf[header_size:end])
            del self._buf[:end]
            return flags, body
        if size >= _RECV_CHUNK:
            # Large bodies are received straight into their final buffer instead of via _buf.
            body_buf = bytearray(size)
            available = min(len(self._buf) - header_size, size)
            body_buf[:available] = self._buf[header_size:header_size + available]
            del self._buf[:header_size + available]
            self._body, self._body_filled, self._body_flags = body_buf, available, flags
        return None

    def _fill(self, deadline: Optional[float]) -> bool:
        """Receive more bytes (into the pending body when there is one); False on timeout."""
        self._check_open()
        self._sock.settimeout(_remaining(deadline))
        try:
            if self._body is not None:
                n = self._sock.recv_into(memoryview(self._body)[self._body_filled:])
                self._body_filled += n
            else:
                chunk = self._sock.recv(_RECV_CHUNK)
                n = len(chunk)
                self._buf += chunk
        except (TimeoutError, BlockingIOError):
            return False
        except OSError:
            self.close()
            raise
        if n == 0:
            self.close()
            raise ConnectionResetError("the peer closed the connection")
        self._last_heard = time.monotonic()
        self._ping_unanswered_since = None  # any byte is an answer: the peer is alive
        return True

    def _check_open(self) -> None:
        if self._closed:
            raise ConnectionError("this ZMTP connection is closed")
