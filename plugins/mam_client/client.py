"""MamClient: the call a plugin makes to turn canvas pixels + a prompt into an alpha matte.

It speaks protocol v1 (docs/PROTOCOL.md) over whichever transport `open_transport` picks, and
turns every failure into one of the exceptions in `errors.py` with a message fit for the user:
a daemon that is down or dies, a reply that does not come in time, a daemon of another protocol
version, or an `error` reply. Each canvas is sent once: later prompts on the same pixels send
only its digest, and the pixels follow only if the daemon answers `unknown_image`. `prepare` sends a canvas
ahead of the first click, so the daemon encodes it while the artist is still choosing where to click.
"""
from __future__ import annotations

import collections
import hashlib
import itertools
import os
import threading
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple, Union

from .errors import DaemonTimeout, DaemonUnavailable, MamError, MatteCancelled, ProtocolMismatch
from .msgpack_lite import MsgpackError
from .transport import CurveKeys, HeartbeatTimeout, Transport, open_transport

__all__ = ["MamClient", "DaemonMatte", "DaemonPrepare", "DEFAULT_ENDPOINT", "PROTOCOL_VERSION", "BYTES_PER_PIXEL"]

PROTOCOL_VERSION = 1
DEFAULT_ENDPOINT = "tcp://127.0.0.1:5757"
BYTES_PER_PIXEL = {"RGBA8": 4, "BGRA8": 4, "RGB8": 3, "GRAY8": 1, "RGBA16": 8, "BGRA16": 8,
                   "RGBAF16": 8, "RGBAF32": 16}
_POLL_S = 0.1            # how often a waiting call looks at cancel requests
_KNOWN_IMAGES = 16       # canvases we believe the daemon still holds, most recent last
_CANCELLED_CODES = ("cancelled", "superseded")
_FROZEN_HINT = ("If it was suspended (e.g. Ctrl+Z in its terminal) resume it; if it hangs, restart it:  "
                "mam-server --endpoint {endpoint}")
FOREGROUND_BYTES_PER_PIXEL = 3  # the foreground frame is RGB8, no padding
MIN_PREVIEW_SIDE = 16  # matte(preview=N): the smallest long side the daemon accepts

BytesLike = Union[bytes, bytearray, memoryview]
ImageKey = Tuple[str, str, int, int, int]  # (digest, format, width, height, stride): a canvas as sent
ProgressCallback = Callable[[str, float], Any]


@dataclass
class DaemonInstance:
    """One detection of a text prompt (protocol revision 1.3): its box in image pixels, the detector's `score`,
    the phrase words it matched (`label`), SAM's `mask_score`, and its own alpha (same layout as DaemonMatte's,
    placed at x, y; with instances="best" it is the result's alpha itself)."""

    box: List[float]
    score: float
    label: str
    mask_score: float
    x: int
    y: int
    width: int
    height: int
    alpha: bytes = field(repr=False)


@dataclass
class DaemonMatte:
    """The daemon's decoded reply to one matte (not mam_engine's MatteResult, which holds a float array):
    `alpha` holds `height` rows of `width` samples, 1 byte each (depth 8)
    or 2 little-endian bytes (depth 16), placed at (x, y) in the image (non-zero only with crop).
    `sent_pixels` says whether this call uploaded the canvas (False: the daemon reused it by digest).
    `foreground` (with matte(foreground=True)): `height` rows of `width` RGB8 pixels, no padding, over the same
    window as `alpha`: the subject's colours with the old background taken out of the soft edge.
    `scale` (with matte(preview=N)): each alpha sample is the mean of a `scale`×`scale` block of image pixels; the
    alpha covers `window_width`×`window_height` image pixels from (x, y) (the blocks on its right and bottom edges
    may be smaller). Without a preview `scale` is 1 and the window is `width`×`height`."""

    request_id: str
    width: int
    height: int
    x: int
    y: int
    depth: int
    score: float
    alpha: bytes = field(repr=False)
    digest: str = ""
    timings: Dict[str, float] = field(default_factory=dict)
    notes: List[str] = field(default_factory=list)
    sent_pixels: bool = True
    foreground: Optional[bytes] = field(default=None, repr=False)
    instances: List[DaemonInstance] = field(default_factory=list)  # text prompts: best first; alpha is their union
    scale: int = 1
    window_width: int = 0
    window_height: int = 0


@dataclass
class DaemonPrepare:
    """The answer to `prepare`. `prepared`: True when the daemon holds the image's embedding (the next matte on
    it skips the encoder), False when its backend has none to compute (`reason` says why; the classic backend),
    None when the call returned at `queued` without waiting (the daemon encodes when no matte waits)."""

    request_id: str
    digest: str
    prepared: Optional[bool]
    sent_pixels: bool = True
    timings: Dict[str, float] = field(default_factory=dict)  # `encode` when this request ran the encoder
    reason: str = ""


class MamClient:
    """A connection to one MAM daemon. Connects on first use and re-connects after a failure.

    Calls are serialised: one request at a time per client (other threads wait), except
    `cancel`, which never blocks on a running `matte` and may be called from any thread or
    from inside `on_progress`.
    """

    def __init__(self, endpoint: str = DEFAULT_ENDPOINT, timeout: float = 10.0, matte_timeout: float = 300.0,
                 connect_timeout: float = 2.0, pure_python: Optional[bool] = None,
                 client_name: str = "mam_client", curve: Optional[CurveKeys] = None) -> None:
        """`timeout` bounds hello/status/cancel, `matte_timeout` a whole matte (model time included);
        `pure_python` True forces the standard-library transport, None picks pyzmq when importable;
        `curve` holds the keys for a remote daemon that requires CURVE (pyzmq only)."""
        self.endpoint = endpoint
        self.timeout = timeout
        self.matte_timeout = matte_timeout
        self.connect_timeout = connect_timeout
        self.client_name = client_name
        self.server_info: Optional[Dict[str, Any]] = None
        self._pure_python = pure_python
        self._curve = curve
        self._transport: Optional[Transport] = None
        self._lock = threading.Lock()
        self._cancel_lock = threading.Lock()
        self._pending_cancels: List[str] = []
        self._known_images: collections.OrderedDict[ImageKey, None] = collections.OrderedDict()
        self._last_hashed: Tuple[Optional[bytes], str] = (None, "")   # the last immutable canvas and its digest
        self._id_prefix = os.urandom(4).hex()
        self._ids = itertools.count(1)

    # ---- public API ------------------------------------------------------------------------

    @property
    def transport_name(self) -> Optional[str]:
        """"pyzmq" or "pure-python" while connected, None before the first call or after close()."""
        return None if self._transport is None else self._transport.name

    def connect(self) -> Dict[str, Any]:
        """Connect now (instead of on first use) and return the daemon's hello."""
        with self._lock:
            self._ensure_connected()
            assert self.server_info is not None
            return self.server_info

    def hello(self, timeout: Optional[float] = None) -> Dict[str, Any]:
        """Versions, model, device, limits and pixel formats of the daemon (the `hello` reply)."""
        with self._lock:
            if self._ensure_connected():
                assert self.server_info is not None
                return self.server_info
            self.server_info = self._hello(self._timeout(timeout))
            return self.server_info

    def status(self, timeout: Optional[float] = None) -> Dict[str, Any]:
        """Queue length, running request, clients, cache use and uptime of the daemon."""
        with self._lock:
            self._ensure_connected()
            header, _ = self._roundtrip("status", {}, self._timeout(timeout))
            return _fields(header)

    def cancel(self, request_id: str, timeout: Optional[float] = None) -> Optional[str]:
        """Ask the daemon to stop `request_id` (a matte or prepare of this client) at its next stage boundary.

        Returns the daemon's `state` for it ("queued", "running" or "unknown"). If a `matte` is
        running on this client (in another thread, or this is called from its `on_progress`), the
        cancel is handed to it instead, sent within about 0.1 s, and None is returned; that matte
        then raises MatteCancelled if it is the target.
        """
        if not self._lock.acquire(blocking=False):
            with self._cancel_lock:
                self._pending_cancels.append(request_id)
            return None
        try:
            self._ensure_connected()
            header, _ = self._roundtrip("cancel", {"target": request_id}, self._timeout(timeout))
            return str(header.get("state", "unknown"))
        finally:
            self._lock.release()

    def matte(self, width: int, height: int, fmt: str, pixels: BytesLike, stride: Optional[int] = None,
              box: Optional[Sequence[float]] = None, points: Optional[Sequence[Sequence[float]]] = None,
              mask: Optional[BytesLike] = None, guidance: str = "alpha", depth: int = 8, crop: bool = False,
              on_progress: Optional[ProgressCallback] = None, cancel_event: Optional[threading.Event] = None,
              timeout: Optional[float] = None, request_id: Optional[str] = None, refine: Optional[str] = None,
              refine_band: Optional[int] = None, foreground: bool = False, text: Optional[str] = None,
              box_threshold: Optional[float] = None, text_threshold: Optional[float] = None,
              instances: Optional[str] = None, preview: Optional[int] = None) -> DaemonMatte:
        """Matte the subject that `box` / `points` ([x, y, label], label 1 = foreground) / `mask` pick.

        `pixels`: `height` rows of `stride` bytes (default width × bytes per pixel) in `fmt`
        (a key of BYTES_PER_PIXEL), straight alpha. `mask`: width × height GRAY8 bytes of an
        existing selection (>= 128 inside). `on_progress(stage, fraction)` runs in this thread;
        if it raises, the request is cancelled and the exception propagates. Setting
        `cancel_event` (from any thread) cancels: MatteCancelled is raised at once, and the daemon
        stops at its next stage boundary.

        `refine="classic"` re-solves the matte's edge at full resolution (`refine_band`: the band's half-width
        in pixels, None = scaled to the image); `foreground=True` also returns the decontaminated colours in
        `result.foreground`. Both need a daemon whose hello lists them in `features` (MamError
        "unsupported_feature" otherwise, before anything is sent).

        `text="the dog"` finds the subject by name (a box then limits where, points pick which);
        `box_threshold` / `text_threshold` default to 0.25 on the daemon; `instances="all"` mattes every
        detection: `result.instances` holds each one (box, score, label, alpha) and `result.alpha` their union.
        Needs `text` in the daemon's features (installed detector weights).

        `preview=N` (e.g. 1024) returns a quick-look alpha whose long side is at most N: block means over
        `result.scale`×`result.scale` image pixels of the alpha the same call without `preview` returns (not with
        `foreground` or `instances="all"`). A daemon without `preview` in its features returns the full alpha
        (`scale` 1).
        """
        view, mask_view = _check_matte_args(width, height, fmt, pixels, stride, mask, box, points, guidance, depth,
                                            text)
        quality = _quality_options(refine, refine_band, foreground)
        quality.update(_text_options(text, box_threshold, text_threshold, instances))
        if preview is not None:
            if isinstance(preview, bool) or not isinstance(preview, int) or preview < MIN_PREVIEW_SIDE:
                raise ValueError(f"preview must be None or an integer of at least {MIN_PREVIEW_SIDE} (the long side "
                                 f"in pixels), got {preview!r}")
            quality["preview"] = preview
        stride = len(view) // height
        digest = self._digest(pixels, view)
        rid = request_id or self._new_id()
        prompt: Dict[str, Any] = {}
        if box is not None:
            prompt["box"] = list(box)
        if points is not None:
            prompt["points"] = [[p[0], p[1], int(p[2])] for p in points]
        if mask_view is not None:
            prompt["mask"] = {"width": width, "height": height}
        if text is not None:
            prompt["text"] = text
        fields = {"image": {"width": width, "height": height, "format": fmt, "stride": stride, "digest": digest},
                  "prompt": prompt, "options": {"guidance": guidance, "depth": depth, "crop": crop,
                                                   **{k: v for k, v in quality.items() if k != "text"}}}
        deadline = time.monotonic() + (self.matte_timeout if timeout is None else timeout)
        image_key: ImageKey = (digest, fmt, width, height, stride)  # images the daemon should still hold
        with self._lock:
            self._ensure_connected()
            self._check_limits(width, height, len(view) + (0 if mask_view is None else len(mask_view)))
            self._check_features(quality)
            with_pixels = image_key not in self._known_images
            while True:
                names, frames = _matte_frames(view if with_pixels else None, mask_view)
                self._send(rid, "matte", dict(fields, frames=names), frames, deadline)
                try:
                    header, reply_frames = self._await_reply(rid, "matte", deadline, on_progress, cancel_event)
                except MamError as exc:
                    if exc.code != "unknown_image" or with_pixels:
                        raise
                    self._known_images.pop(image_key, None)
                    with_pixels = True
                    continue
                self._remember(image_key)
                return _matte_result(rid, header, reply_frames, with_pixels, foreground)

    def _digest(self, pixels: BytesLike, view: memoryview) -> str:
        """BLAKE2b-16 of the canvas; the same `bytes` object as last time (a click loop sends one canvas per click,
        36 ms to hash at 8 MP) is not hashed again: `bytes` cannot change, and holding it keeps its id unique."""
        last, digest = self._last_hashed
        if type(pixels) is bytes and pixels is last:
            return digest
        digest = hashlib.blake2b(view, digest_size=16).hexdigest()
        if type(pixels) is bytes:
            self._last_hashed = (pixels, digest)
        return digest

    def prepare(self, width: int, height: int, fmt: str, pixels: BytesLike, stride: Optional[int] = None,
                wait: bool = False, timeout: Optional[float] = None,
                request_id: Optional[str] = None) -> DaemonPrepare:
        """Send a canvas ahead of its first prompt so the daemon computes its embedding in the background.

        Call it when a canvas becomes current (a document opened, the tool picked): the first `matte` on the
        same pixels then sends only the digest and skips the encoder. The daemon runs it only when no matte
        waits; a newer `prepare` of this client replaces a queued older one. `wait=False` (the default) returns
        as soon as the daemon queued it (`prepared` None); `wait=True` waits for the encoder (`prepared` True,
        `timings["encode"]` when it ran). On a backend without an embedding (classic) the answer comes at once
        with `prepared` False. Arguments as for `matte`; `cancel(result.request_id)` drops a queued prepare.
        Needs `prepare` in the daemon's features (MamError "unsupported_feature" otherwise, nothing sent).
        """
        view, _ = _check_image_args(width, height, fmt, pixels, stride)
        stride = len(view) // height
        digest = self._digest(pixels, view)
        rid = request_id or self._new_id()
        fields = {"image": {"width": width, "height": height, "format": fmt, "stride": stride, "digest": digest}}
        deadline = time.monotonic() + (self.matte_timeout if timeout is None else timeout)
        image_key: ImageKey = (digest, fmt, width, height, stride)
        with self._lock:
            self._ensure_connected()
            self._check_limits(width, height, len(view))
            self._check_offered(["prepare"])
            with_pixels = image_key not in self._known_images
            while True:
                names, frames = _matte_frames(view if with_pixels else None, None)
                self._send(rid, "prepare", dict(fields, frames=names), frames, deadline)
                try:
                    header, _ = self._await_reply(rid, "prepare", deadline, until_queued=not wait)
                except MamError as exc:
                    if exc.code != "unknown_image" or with_pixels:
                        raise
                    self._known_images.pop(image_key, None)
                    with_pixels = True
                    continue
                return self._prepare_result(rid, header, image_key, digest, with_pixels)

    def close(self) -> None:
        """Drop the connection; the next call reconnects."""
        with self._lock:
            self._disconnect()

    def __enter__(self) -> MamClient:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    # ---- connection ------------------------------------------------------------------------

    def _timeout(self, timeout: Optional[float]) -> float:
        return self.timeout if timeout is None else timeout

    def _ensure_connected(self) -> bool:
        """Connect and check the protocol version; True when this call made the connection."""
        if self._transport is not None:
            if self._transport.alive():
                return False
            self._disconnect()
        try:
            self._transport = open_transport(self.endpoint, self.connect_timeout, self._pure_python, curve=self._curve)
        except ValueError:
            raise
        except TimeoutError:
            raise DaemonUnavailable(self.endpoint, f"no answer within {self.connect_timeout:g} s "
                                                   "(is it running, and is this the right endpoint?)") from None
        except (ConnectionRefusedError, FileNotFoundError) as exc:
            raise DaemonUnavailable(self.endpoint, f"not running ({_describe(exc)})") from None
        except OSError as exc:
            raise DaemonUnavailable(self.endpoint, f"cannot connect ({_describe(exc)})") from None
        self._known_images.clear()
        try:
            self.server_info = self._hello(self.timeout)
        except BaseException:
            self._disconnect()
            raise
        return True

    def _disconnect(self) -> None:
        if self._transport is not None:
            transport, self._transport = self._transport, None
            transport.close()

    def _hello(self, timeout: float) -> Dict[str, Any]:
        header, _ = self._roundtrip("hello", {"client": self.client_name}, timeout)
        if header.get("protocol") != PROTOCOL_VERSION:
            raise ProtocolMismatch("unsupported_version", _mismatch_message(header.get("protocol")), header.get("id"))
        return _fields(header)

    def _check_limits(self, width: int, height: int, frame_bytes: int) -> None:
        """Refuse what the daemon announced it would refuse, before megabytes travel (and because an
        oversized frame makes ZeroMQ drop the connection without any reply)."""
        limits = (self.server_info or {}).get("limits") or {}
        max_pixels, max_bytes = limits.get("max_pixels"), limits.get("max_message_bytes")
        if isinstance(max_pixels, int) and width * height > max_pixels:
            raise MamError("too_large", f"image is {width}x{height} = {width * height} pixels; the daemon "
                                        f"accepts at most {max_pixels} (its max_pixels limit)")
        if isinstance(max_bytes, int) and frame_bytes > max_bytes:
            raise MamError("too_large", f"the request carries {frame_bytes} bytes of pixels and mask; the daemon "
                                        f"accepts at most {max_bytes} (its max_message_bytes limit)")

    def _check_features(self, quality: Dict[str, Any]) -> None:
        """An older daemon ignores options it does not know: refuse them here rather than return less."""
        wanted = [f"refine:{quality['refine']}"] if "refine" in quality else []
        if quality.get("foreground"):
            wanted.append("foreground")
        if quality.get("text"):
            wanted.append("text")
        self._check_offered(wanted)

    def _check_offered(self, wanted: List[str]) -> None:
        offered = (self.server_info or {}).get("features") or []
        missing = [f for f in wanted if f not in offered]
        if missing:
            raise MamError("unsupported_feature", f"the daemon at {self.endpoint} does not offer {missing} "
                                                  f"(it offers {list(offered)}); update the daemon"
                                                  + ("; text prompts also need its detector weights (`mam-weights "
                                                     "download grounding-dino-tiny`)" if "text" in missing else ""))

    def _prepare_result(self, rid: str, header: Dict[str, Any], image_key: ImageKey, digest: str,
                        sent_pixels: bool) -> DaemonPrepare:
        """A `queued` progress or the final `ok`; the daemon holds the image in both cases unless prepared is
        False (a backend without an embedding keeps no pixels)."""
        if header.get("type") == "progress":
            prepared: Optional[bool] = None
        else:
            prepared = header.get("prepared")
            if not isinstance(prepared, bool):
                raise MamError("bad_reply", f"ok for prepare {rid} lacks 'prepared'", rid)
        if prepared is not False:
            self._remember(image_key)
        return DaemonPrepare(request_id=rid, digest=digest, prepared=prepared, sent_pixels=sent_pixels,
                             timings=dict(header.get("timings") or {}), reason=str(header.get("reason", "")))

    def _new_id(self) -> str:
        return f"{self._id_prefix}-{next(self._ids)}"

    def _remember(self, image_key: ImageKey) -> None:
        self._known_images[image_key] = None
        self._known_images.move_to_end(image_key)
        while len(self._known_images) > _KNOWN_IMAGES:
            self._known_images.popitem(last=False)

    # ---- messages --------------------------------------------------------------------------

    def _send(self, rid: str, rtype: str, fields: Dict[str, Any], frames: Sequence[BytesLike],
              deadline: float) -> None:
        transport = self._transport
        assert transport is not None
        header = transport.pack(dict(fields, v=PROTOCOL_VERSION, id=rid, type=rtype))
        try:
            transport.send([header, *frames], max(deadline - time.monotonic(), 0.0))
        except TimeoutError:
            self._disconnect()
            raise DaemonTimeout(f"MAM daemon at {self.endpoint} did not accept the '{rtype}' request "
                                f"{rid} in time; connection dropped") from None
        except OSError as exc:
            self._disconnect()
            raise DaemonUnavailable(self.endpoint, f"the connection broke while sending '{rtype}' request {rid} "
                                                   f"({_describe(exc)})") from None

    def _recv(self, rid: str, rtype: str, timeout: float) -> Optional[Tuple[Dict[str, Any], List[bytes]]]:
        """The next reply that belongs to `rid` (None if none came within `timeout`); stale replies
        to earlier, abandoned requests are dropped here."""
        transport = self._transport
        assert transport is not None
        end = time.monotonic() + timeout
        while True:
            try:
                message = transport.recv(max(end - time.monotonic(), 0.0))
            except HeartbeatTimeout as exc:
                self._disconnect()
                raise DaemonUnavailable(self.endpoint, f"the daemon stopped answering heartbeats for "
                                                       f"{exc.silent_s:.0f} s while '{rtype}' request {rid} waited "
                                                       "for its reply: it is frozen or suspended, or the network "
                                                       "to it is down", hint=_FROZEN_HINT.format(endpoint=self.endpoint)
                                        ) from None
            except OSError as exc:
                self._disconnect()
                raise DaemonUnavailable(self.endpoint, f"the connection was lost while waiting for the reply to "
                                                       f"'{rtype}' request {rid} ({_describe(exc)}); did the "
                                                       "daemon stop or crash?") from None
            if message is None:
                return None
            try:
                header = transport.unpack(message[0])
            except MsgpackError as exc:
                raise MamError("bad_reply", f"the daemon's reply header is not valid msgpack: {exc}", rid) from None
            if not isinstance(header, dict):
                raise MamError("bad_reply", f"the daemon's reply header is a {type(header).__name__}, not a map", rid)
            reply_id = header.get("id")
            if reply_id == rid or (reply_id is None and header.get("type") == "error"):
                if header.get("v") != PROTOCOL_VERSION:
                    raise ProtocolMismatch("unsupported_version", _mismatch_message(header.get("v")), rid)
                if header.get("type") == "error":
                    raise _error_from(header, rid)
                return header, message[1:]

    def _roundtrip(self, rtype: str, fields: Dict[str, Any], timeout: float) -> Tuple[Dict[str, Any], List[bytes]]:
        rid = self._new_id()
        deadline = time.monotonic() + timeout
        self._send(rid, rtype, fields, (), deadline)
        reply = self._recv(rid, rtype, max(deadline - time.monotonic(), 0.0))
        if reply is None:
            raise DaemonTimeout(f"MAM daemon at {self.endpoint} did not answer '{rtype}' request {rid} "
                                f"within {timeout:g} s")
        return reply

    def _await_reply(self, rid: str, rtype: str, deadline: float, on_progress: Optional[ProgressCallback] = None,
                     cancel_event: Optional[threading.Event] = None,
                     until_queued: bool = False) -> Tuple[Dict[str, Any], List[bytes]]:
        """Progress of a matte or prepare until its final reply (`result`, or `ok` for a prepare), or with
        `until_queued` until its `queued` progress."""
        final = "result" if rtype == "matte" else "ok"
        while True:
            if self._flush_cancels(rid, deadline) or (cancel_event is not None and cancel_event.is_set()):
                self._send_cancel(rid, deadline)
                raise MatteCancelled("cancelled", "cancelled by the caller", rid)
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                self._send_cancel(rid, time.monotonic() + self.connect_timeout)
                raise DaemonTimeout(f"MAM daemon at {self.endpoint} gave no result for {rtype} request {rid} "
                                    "in time (request cancelled); a larger matte_timeout may help on a slow CPU")
            try:
                reply = self._recv(rid, rtype, min(remaining, _POLL_S))
            except MamError as exc:
                if exc.code in _CANCELLED_CODES:
                    raise MatteCancelled(exc.code, exc.message, rid) from None
                raise
            if reply is None:
                continue
            header, frames = reply
            kind = header.get("type")
            if kind == final:
                return header, frames
            if kind != "progress":
                raise MamError("bad_reply", f"unexpected '{kind}' reply to {rtype} request {rid}", rid)
            stage, fraction = header.get("stage"), header.get("fraction")
            if not isinstance(stage, str) or not isinstance(fraction, (int, float)):
                raise MamError("bad_reply", f"progress for {rid} needs a stage name and a fraction, "
                                            f"got {stage!r}, {fraction!r}", rid)
            if until_queued and stage == "queued":
                return header, frames
            if on_progress is not None:
                try:
                    on_progress(stage, float(fraction))
                except BaseException:
                    self._send_cancel(rid, deadline)
                    raise

    def _flush_cancels(self, current: str, deadline: float) -> bool:
        """Send cancels other threads queued; True if one of them targets `current`."""
        with self._cancel_lock:
            targets, self._pending_cancels = self._pending_cancels, []
        for target in targets:
            if target != current:
                self._send_cancel(target, deadline)
        return current in targets

    def _send_cancel(self, target: str, deadline: float) -> None:
        """Fire and forget: the `ok` reply is dropped as stale by the next wait. Best effort, so a
        broken connection here never hides the reason the caller is cancelling."""
        if self._transport is None:
            return
        try:
            self._send(self._new_id(), "cancel", {"target": target}, (), max(deadline, time.monotonic() + 1.0))
        except (DaemonUnavailable, DaemonTimeout):
            pass


def _check_matte_args(width: int, height: int, fmt: str, pixels: BytesLike, stride: Optional[int],
                      mask: Optional[BytesLike], box: Optional[Sequence[float]],
                      points: Optional[Sequence[Sequence[float]]], guidance: str,
                      depth: int, text: Optional[str] = None) -> Tuple[memoryview, Optional[memoryview]]:
    """Catch caller mistakes before megabytes travel; the daemon re-checks everything."""
    view, mask_view = _check_image_args(width, height, fmt, pixels, stride, mask)
    if box is None and not points and mask is None and text is None:
        raise ValueError("a matte needs a prompt: a box, points, a mask or a text")
    if box is not None and len(box) != 4:
        raise ValueError(f"box must be (x0, y0, x1, y1), got {box!r}")
    if points is not None and any(len(p) != 3 for p in points):
        raise ValueError("points must be (x, y, label) triples, label 1 = foreground, 0 = background")
    if guidance not in ("alpha", "mask"):
        raise ValueError(f"guidance must be 'alpha' or 'mask', got {guidance!r}")
    if depth not in (8, 16):
        raise ValueError(f"depth must be 8 or 16, got {depth!r}")
    return view, mask_view


def _check_image_args(width: int, height: int, fmt: str, pixels: BytesLike, stride: Optional[int],
                      mask: Optional[BytesLike] = None) -> Tuple[memoryview, Optional[memoryview]]:
    """The canvas (and mask) as flat byte views, or ValueError naming what does not fit."""
    if fmt not in BYTES_PER_PIXEL:
        raise ValueError(f"pixel format {fmt!r} is not one of {sorted(BYTES_PER_PIXEL)}")
    if not (isinstance(width, int) and isinstance(height, int) and width > 0 and height > 0):
        raise ValueError(f"width and height must be positive integers, got {width!r} x {height!r}")
    row = width * BYTES_PER_PIXEL[fmt]
    stride = row if stride is None else stride
    if stride < row:
        raise ValueError(f"stride {stride} is shorter than a {fmt} row of {width} pixels ({row} bytes)")
    view = _byte_view(pixels, "pixels")
    if len(view) != stride * height:
        raise ValueError(f"pixels are {len(view)} bytes; {height} rows x stride {stride} = {stride * height} expected")
    mask_view = None
    if mask is not None:
        mask_view = _byte_view(mask, "mask")
        if len(mask_view) != width * height:
            raise ValueError(f"mask is {len(mask_view)} bytes; {width}x{height} = {width * height} expected (GRAY8)")
    return view, mask_view


def _quality_options(refine: Optional[str], refine_band: Optional[int], foreground: bool) -> Dict[str, Any]:
    """The protocol 1.1 options, only those asked for, so a plain request stays a 1.0 request."""
    if refine is not None and not isinstance(refine, str):
        raise ValueError(f"refine must be None or a method name such as 'classic', got {refine!r}")
    if refine_band is not None and (isinstance(refine_band, bool) or not isinstance(refine_band, int)):
        raise ValueError(f"refine_band must be None or an integer number of pixels, got {refine_band!r}")
    if not isinstance(foreground, bool):
        raise ValueError(f"foreground must be True or False, got {foreground!r}")
    options: Dict[str, Any] = {}
    if refine is not None:
        options["refine"] = refine
    if refine_band is not None:
        options["refine_band"] = refine_band
    if foreground:
        options["foreground"] = True
    return options


def _byte_view(data: Any, what: str) -> memoryview:
    """Flat bytes of any buffer; objects without the buffer protocol (e.g. some QByteArray
    bindings) and non-contiguous buffers are copied once via bytes()."""
    try:
        return memoryview(data).cast("B")
    except TypeError:
        pass
    if not isinstance(data, int):
        try:
            return memoryview(bytes(data))
        except TypeError:
            pass
    raise ValueError(f"{what} must be a bytes-like object (bytes, bytearray, memoryview, QByteArray), "
                     f"got {type(data).__name__}")


def _text_options(text: Optional[str], box_threshold: Optional[float], text_threshold: Optional[float],
                  instances: Optional[str]) -> Dict[str, Any]:
    """The text options for the header; "text": True only marks the feature check (removed before sending)."""
    if text is None:
        if box_threshold is not None or text_threshold is not None or instances is not None:
            raise ValueError("box_threshold, text_threshold and instances apply only with text=")
        return {}
    if not isinstance(text, str):
        raise ValueError(f"text must be a string, got {text!r}")
    options: Dict[str, Any] = {"text": True}
    for name, value in (("box_threshold", box_threshold), ("text_threshold", text_threshold)):
        if value is not None:
            options[name] = float(value)
    if instances is not None:
        if instances not in ("best", "all"):
            raise ValueError(f"instances must be 'best' or 'all', got {instances!r}")
        options["instances"] = instances
    return options


def _matte_frames(pixels: Optional[memoryview], mask: Optional[memoryview]) -> Tuple[List[str], List[memoryview]]:
    named = [("pixels", pixels), ("mask", mask)]
    return [n for n, f in named if f is not None], [f for _, f in named if f is not None]


def _matte_result(rid: str, header: Dict[str, Any], frames: List[bytes], sent_pixels: bool,
                  foreground: bool) -> DaemonMatte:
    width, height, depth = header.get("width"), header.get("height"), header.get("depth")
    if not (isinstance(width, int) and isinstance(height, int) and depth in (8, 16)):
        raise MamError("bad_reply", f"result for {rid} lacks a valid width/height/depth", rid)
    entries = header.get("instances") or []
    if not isinstance(entries, list) or not all(isinstance(e, dict) for e in entries):
        raise MamError("bad_reply", f"result for {rid} has a malformed 'instances' list", rid)
    extra = [str(e.get("frame")) for e in entries if e.get("frame") != "alpha"]
    names = ["alpha", *extra, *(["foreground"] if foreground else [])]
    if header.get("frames") != names or len(frames) != len(names):
        raise MamError("bad_reply", f"result for {rid} must carry the frames {names}, "
                                    f"got {header.get('frames')!r} and {len(frames)} frame(s)", rid)
    expected = width * height * depth // 8
    if len(frames[0]) != expected:
        raise MamError("bad_reply", f"alpha frame is {len(frames[0])} bytes; {width}x{height} at {depth} bit = "
                                    f"{expected} expected", rid)
    if foreground and len(frames[-1]) != width * height * FOREGROUND_BYTES_PER_PIXEL:  # after any instance frames
        raise MamError("bad_reply", f"foreground frame is {len(frames[-1])} bytes; {width}x{height} RGB8 = "
                                    f"{width * height * FOREGROUND_BYTES_PER_PIXEL} expected", rid)
    by_name = dict(zip(names, frames))
    found = []
    for e in entries:
        data = bytes(by_name[str(e.get("frame"))])
        w, h = int(e.get("width", 0)), int(e.get("height", 0))
        if len(data) != w * h * depth // 8:
            raise MamError("bad_reply", f"instance frame {e.get('frame')} is {len(data)} bytes; {w}x{h} at {depth} "
                                        "bit expected", rid)
        found.append(DaemonInstance(box=[float(v) for v in e.get("box", [])], score=float(e.get("score", 0.0)),
                                    label=str(e.get("label", "")), mask_score=float(e.get("mask_score", 0.0)),
                                    x=int(e.get("x", 0)), y=int(e.get("y", 0)), width=w, height=h, alpha=data))
    return DaemonMatte(request_id=rid, width=width, height=height, x=int(header.get("x", 0)),
                       y=int(header.get("y", 0)), depth=depth, score=float(header.get("score", 0.0)),
                       alpha=bytes(frames[0]), digest=str(header.get("digest", "")),
                       timings=dict(header.get("timings") or {}), notes=list(header.get("notes") or []),
                       sent_pixels=sent_pixels, foreground=bytes(by_name["foreground"]) if foreground else None,
                       instances=found, scale=int(header.get("scale", 1)),
                       window_width=int(header.get("window_width", width)),
                       window_height=int(header.get("window_height", height)))


def _error_from(header: Dict[str, Any], rid: str) -> MamError:
    code, message = str(header.get("code", "internal")), str(header.get("message", ""))
    if code == "unsupported_version":
        return ProtocolMismatch(code, message + " — update the plugin and the daemon together", rid)
    return MamError(code, message, rid)


def _mismatch_message(version: Any) -> str:
    return (f"the daemon speaks protocol version {version!r}, this plugin speaks {PROTOCOL_VERSION}; "
            "update the plugin and the daemon together")


def _fields(header: Dict[str, Any]) -> Dict[str, Any]:
    return {k: v for k, v in header.items() if k not in ("v", "id", "type")}


def _describe(exc: BaseException) -> str:
    text = str(exc) or type(exc).__name__
    return text if type(exc).__name__ in text else f"{type(exc).__name__}: {text}"
