"""The socket loop: one ROUTER for clients, one inproc PULL for the worker's replies, polled together.

It only validates, answers the cheap requests (hello, status, cancel) and hands `matte` and `prepare` jobs to
the worker, so a long inference never delays another client's hello, cancel or progress message.
"""
from __future__ import annotations

import logging
import threading
import time
from collections import OrderedDict

import zmq
from zmq.auth.thread import ThreadAuthenticator

from mam_engine.request import GUIDANCES, Limits, clip

from . import __version__
from .image_store import ImageStore, check_digest, frame_digest
from .protocol import (
    DEPTHS,
    PIXEL_FORMATS,
    PROTOCOL_VERSION,
    SUPPORTED_VERSIONS,
    CancelMessage,
    HelloMessage,
    MatteMessage,
    PrepareMessage,
    ProtocolError,
    StatusMessage,
    error_header,
    features,
    parse_request,
    reply_header,
    text_available,
)
from .security import CurveConfig, enable_curve
from .worker import Job, Worker

log = logging.getLogger("mam.server")

RESULTS_ENDPOINT = "inproc://mam-worker-results"
CLIENT_MEMORY = 1024     # identities remembered for status' client count (bounded)
CLIENT_IDLE_S = 600.0    # a client unseen this long no longer counts as connected
BATCH = 64               # client messages handled per loop turn, so worker replies are not starved


class BindError(Exception):
    """The endpoint is taken (another daemon?) or invalid; main turns this into exit code 2."""


class Daemon:
    def __init__(self, engine, endpoint: str, limits: Limits, store: ImageStore,
                 curve: CurveConfig | None = None, model_info: dict | None = None,
                 stop_event: threading.Event | None = None) -> None:
        self.engine = engine
        self.endpoint = endpoint
        self.limits = limits
        self.store = store
        self.curve = curve
        self.model_info = model_info or {}
        self.started = time.monotonic()
        self.stop_event = stop_event or threading.Event()
        self._clients: OrderedDict[bytes, float] = OrderedDict()
        self.context = zmq.Context()
        self.router = self.context.socket(zmq.ROUTER)
        self.results = self.context.socket(zmq.PULL)
        self.auth: ThreadAuthenticator | None = None
        self.worker = Worker(engine, store, self.context, RESULTS_ENDPOINT, limits)

    def bind(self) -> None:
        """Bind both sockets; raises BindError when the endpoint is taken or invalid."""
        self.router.setsockopt(zmq.LINGER, 500)
        # libzmq drops a peer whose single frame exceeds this, before it is ever buffered whole.
        self.router.setsockopt(zmq.MAXMSGSIZE, self.limits.max_message_bytes)
        # Heartbeats (docs/PROTOCOL.md "Heartbeats"): a PING to every client each 2 s; one that sends nothing
        # back for 6 s (crashed, asleep, network gone) is dropped; the TTL asks clients to drop us alike.
        self.router.setsockopt(zmq.HEARTBEAT_IVL, 2000)
        self.router.setsockopt(zmq.HEARTBEAT_TIMEOUT, 6000)
        self.router.setsockopt(zmq.HEARTBEAT_TTL, 6000)
        if self.curve is not None:
            self.auth = enable_curve(self.context, self.router, self.curve)
        try:
            self.router.bind(self.endpoint)
        except zmq.ZMQError as exc:
            self._close_sockets()
            if exc.errno == zmq.EADDRINUSE:
                raise BindError(f"cannot bind {self.endpoint}: address already in use (is another mam-server "
                                "running? stop it or pass --endpoint with another port)") from None
            raise BindError(f"cannot bind {self.endpoint}: {exc.strerror}") from None
        self.results.bind(RESULTS_ENDPOINT)

    def serve(self) -> None:
        """Run until `stop_event` is set (by SIGINT/SIGTERM), then shut down cleanly."""
        self.worker.start()
        log.info("event=listening endpoint=%s auth=%s protocol=%d limits=%s", self.endpoint,
                 "curve" if self.curve else "none", PROTOCOL_VERSION, self.limits.as_dict())
        poller = zmq.Poller()
        poller.register(self.router, zmq.POLLIN)
        poller.register(self.results, zmq.POLLIN)
        try:
            while not self.stop_event.is_set():
                ready = dict(poller.poll(100))
                if self.results in ready:
                    self._forward_results()
                if self.router in ready:
                    for _ in range(BATCH):
                        try:
                            frames = self.router.recv_multipart(zmq.NOBLOCK, copy=False)
                        except zmq.Again:
                            break
                        self._handle(frames)
        finally:
            self._shutdown()

    # --- messages -----------------------------------------------------------------------------
    def _forward_results(self) -> None:
        """Pass every reply the worker has produced on to its client (the worker makes a few per job)."""
        while True:
            try:
                frames = self.results.recv_multipart(zmq.NOBLOCK, copy=False)
            except zmq.Again:
                return
            self.router.send_multipart(frames, copy=False)

    def _send(self, client: bytes, header: bytes, *frames) -> None:
        self.router.send_multipart([client, header, *frames], copy=False)

    def _handle(self, frames: list[zmq.Frame]) -> None:
        client = frames[0].bytes
        self._seen(client)
        try:
            message = parse_request([f.buffer for f in frames[1:]], self.limits, self.engine.pipeline.always_refines,
                                    lambda: text_available(self.engine))
            if isinstance(message, HelloMessage):
                log.info("event=hello client=%s name=%r", client.hex(), message.client)
                self._send(client, self._hello(message))
            elif isinstance(message, StatusMessage):
                self._send(client, reply_header("status", message.id, **self._status()))
            elif isinstance(message, CancelMessage):
                self._cancel(client, message)
            elif isinstance(message, MatteMessage):
                self._matte(client, message)
            elif isinstance(message, PrepareMessage):
                self._prepare(client, message)
        except ProtocolError as exc:
            log.info("event=rejected client=%s id=%s code=%s message=%r bytes=%d", client.hex(), exc.request_id,
                     exc.code, clip(exc.message), sum(len(f) for f in frames[1:]))
            self._send(client, error_header(exc.code, exc.message, exc.request_id))
        except Exception as exc:  # a daemon bug must cost one request, never the socket loop
            log.exception("event=handler_error client=%s", client.hex())
            self._send(client, error_header("internal", clip(f"{type(exc).__name__}: {exc}", 500), None))

    def _hello(self, request: HelloMessage) -> bytes:
        return reply_header("hello", request.id, server_version=__version__, protocol=PROTOCOL_VERSION,
                            protocol_versions=list(SUPPORTED_VERSIONS), model=self._model(),
                            limits=self.limits.as_dict(), pixel_formats=list(PIXEL_FORMATS),
                            depths=list(DEPTHS), guidances=list(GUIDANCES), features=features(self.engine),
                            auth="curve" if self.curve else "none", **self._pool())

    def _pool(self) -> dict:
        """hello's `pool`, only when the mattes run on a Ray Serve pool (mam-server --ray)."""
        pool_info = getattr(self.engine, "pool_info", None)
        return {"pool": pool_info()} if pool_info is not None else {}

    def _model(self) -> dict:
        described = {str(k): v for k, v in self.engine.describe().items()
                     if isinstance(v, (str, int, float, bool, type(None)))}
        return {**described, **self.model_info}

    def _status(self) -> dict:
        cutoff = time.monotonic() - CLIENT_IDLE_S
        return {**self.worker.counts(), "clients": sum(1 for t in self._clients.values() if t >= cutoff),
                "cache": self.store.stats(), "uptime_s": round(time.monotonic() - self.started, 3)}

    def _seen(self, client: bytes) -> None:
        self._clients[client] = time.monotonic()
        self._clients.move_to_end(client)
        while len(self._clients) > CLIENT_MEMORY:
            self._clients.popitem(last=False)

    def _cancel(self, client: bytes, request: CancelMessage) -> None:
        state, job = self.worker.cancel(client, request.target)
        log.info("event=cancel client=%s id=%s target=%s state=%s", client.hex(), request.id, request.target, state)
        if state == "queued":
            self._send(client, error_header("cancelled", f"request {request.target} was cancelled", request.target))
        self._send(client, reply_header("ok", request.id, target=request.target, state=state))

    def _check_image(self, request: MatteMessage | PrepareMessage) -> None:
        """The pixels hash to the header's digest, or (digest-only) the image is held or on its way."""
        spec = request.image
        if request.pixels is not None:
            # Verified here, before `queued`, so a wrong digest is refused alone and the cache never holds a wrong
            # image. BLAKE2b runs at about 1 GB/s: 50 ms for a 12-MP RGBA8 canvas.
            try:
                check_digest(frame_digest(request.pixels), spec.digest)
            except ProtocolError as exc:
                exc.request_id = request.id
                raise
        elif spec.key not in self.store and not self.worker.will_have_image(spec.key):
            raise ProtocolError("unknown_image", f"no image with digest {spec.digest} ({spec.format} "
                                                 f"{spec.width}x{spec.height}) is held; send the pixels", request.id)

    def _matte(self, client: bytes, request: MatteMessage) -> None:
        self._check_image(request)
        spec = request.image
        superseded = self.worker.submit(Job(client, request, pixels_sent=request.pixels is not None))
        prompt, options = request.request.prompt, request.request.options
        log.info("event=matte_queued client=%s id=%s size=%dx%d format=%s stride=%d pixels_sent=%s box=%s points=%d "
                 "mask=%s guidance=%s depth=%d crop=%s preview=%s", client.hex(), request.id, spec.width,
                 spec.height, spec.format, spec.stride, request.pixels is not None, prompt.box, len(prompt.points),
                 prompt.mask is not None, options.guidance, request.depth, request.crop, request.preview)
        self._queued(client, request, superseded)

    def _prepare(self, client: bytes, request: PrepareMessage) -> None:
        """Queue a low-priority encode; a backend without an embedding answers at once (`prepared: false`)."""
        self._check_image(request)
        spec = request.image
        if not getattr(self.engine, "can_prepare", False):
            log.info("event=prepare_skipped client=%s id=%s size=%dx%d", client.hex(), request.id, spec.width,
                     spec.height)
            reason = ("the mattes run on a Ray pool, whose replicas encode an image on its first matte"
                      if self._pool() else
                      f"the {self._model().get('backend', 'running')} backend has no image embedding to compute ahead")
            self._send(client, reply_header("ok", request.id, digest=spec.digest, prepared=False, reason=reason,
                                            timings={}))
            return
        superseded = self.worker.submit(Job(client, request, pixels_sent=request.pixels is not None))
        log.info("event=prepare_queued client=%s id=%s size=%dx%d format=%s stride=%d pixels_sent=%s", client.hex(),
                 request.id, spec.width, spec.height, spec.format, spec.stride, request.pixels is not None)
        self._queued(client, request, superseded)

    def _queued(self, client: bytes, request: MatteMessage | PrepareMessage, superseded: list[Job]) -> None:
        """Answer the requests `request` superseded, then its own `queued` progress."""
        for old in superseded:
            self._send(client, error_header("superseded", f"request {old.request.id} was replaced by {request.id}",
                                            old.request.id))
        position = self.worker.counts()["queued"]
        self._send(client, reply_header("progress", request.id, stage="queued", fraction=0.0, position=position))

    # --- shutdown -----------------------------------------------------------------------------
    def _shutdown(self) -> None:
        log.info("event=stopping")
        for job in self.worker.stop():
            self._send(job.client, error_header("shutting_down", "the daemon is shutting down", job.request.id))
        if self.worker.is_alive():
            self.worker.join(timeout=30)
        self._forward_results()
        if not self.worker.is_alive():  # term() would wait forever on a worker stuck inside the model
            self._close_sockets()
        log.info("event=stopped")

    def _close_sockets(self) -> None:
        if self.auth is not None:
            self.auth.stop()
        self.router.close()
        self.results.close(linger=0)
        self.context.term()
