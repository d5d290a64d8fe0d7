"""The model worker: one thread per device running `MattingEngine.run` off a bounded queue.

The socket loop never waits for it: jobs go in through `submit` (a lock, no I/O), replies come back as
whole ZeroMQ messages on an inproc PUSH socket the loop polls next to its ROUTER. Interactive use
produces bursts of requests, so a newer `matte` from the same client replaces its queued older ones, and
`cancel` stops a running one at the next stage boundary (the engine's `on_progress` hook raises).
A `prepare` (encode a canvas ahead of its first prompt) is low priority: the worker takes it only when no `matte`
waits, and a newer prepare of the same client replaces its queued one. A running prepare is one encoder call and
is not interrupted; a matte that arrives meanwhile waits for it.
Every job was validated (prompt, options, digest) before it was queued, so a failure here is a bug: `internal`.

An engine with a `concurrency` attribute above 1 (the Ray Serve pool, server/ray_pool.py) gets that many jobs at
once, each on its own thread; the queue, its limits, supersede and cancel are the same for all of them.
"""
from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass, field

import numpy as np
import zmq

from mam_engine import MatteResult, StopMatte
from mam_engine.request import Limits, clip

from .alpha_frame import encode_alpha, encode_foreground
from .image_store import ImageStore
from .pixels import to_rgb8
from .preview import preview_scale, shrink
from .protocol import MatteMessage, PrepareMessage, ProtocolError, error_header, reply_header, text_result

log = logging.getLogger("mam.server.worker")


@dataclass(eq=False)
class Job:
    """One accepted `matte` or `prepare`; `client` is the ROUTER identity replies go back to."""

    client: bytes
    request: MatteMessage | PrepareMessage
    received: float = field(default_factory=time.monotonic)
    pixels_sent: bool = False  # for the log: `request.pixels` is released once converted
    cancel_reason: str | None = None  # "cancelled" or "shutting_down", set by the socket loop's thread

    @property
    def frame_bytes(self) -> int:
        """Receive buffers this job keeps alive while it waits."""
        return (0 if self.request.pixels is None else len(self.request.pixels)) + self.request.mask_bytes

    @property
    def is_prepare(self) -> bool:
        return isinstance(self.request, PrepareMessage)

    def replaces(self, other: Job) -> bool:
        """A new request supersedes the same client's queued requests of its own kind (matte or prepare)."""
        return other.client == self.client and other.is_prepare == self.is_prepare


class Worker(threading.Thread):
    """Runs jobs in arrival order, `concurrency` at a time (1 for an in-process engine); every reply for a job is
    sent from the thread that runs it, on its own PUSH socket to `results_endpoint`."""

    def __init__(self, engine, store: ImageStore, context: zmq.Context, results_endpoint: str,
                 limits: Limits) -> None:
        super().__init__(name="mam-worker", daemon=True)
        self.engine = engine
        self.store = store
        self.context = context
        self.results_endpoint = results_endpoint
        self.limits = limits
        self._queue: list[Job] = []
        self._running: list[Job] = []
        self.concurrency = max(1, int(getattr(engine, "concurrency", 1)))
        self._stopping = False
        self._cond = threading.Condition()

    # --- called from the socket loop's thread -------------------------------------------------
    def submit(self, job: Job) -> list[Job]:
        """Queue `job`; return the same client's queued jobs it supersedes (the caller answers them)."""
        with self._cond:
            if self._stopping:
                raise ProtocolError("shutting_down", "the daemon is shutting down")
            kept = [j for j in self._queue if not job.replaces(j)]
            if len(kept) >= self.limits.max_queue:
                raise ProtocolError("queue_full", f"{len(kept)} requests are queued; max_queue is "
                                                  f"{self.limits.max_queue}; retry later")
            held = sum(j.frame_bytes for j in kept)
            if kept and held + job.frame_bytes > self.limits.max_queued_bytes:
                raise ProtocolError("queue_full", f"queued requests hold {held} bytes of frames; with this one "
                                                  f"{held + job.frame_bytes} > max_queued_bytes "
                                                  f"{self.limits.max_queued_bytes}; retry later")
            older = [j for j in self._queue if job.replaces(j)]
            self._queue = kept
            if job.request.pixels is None:
                # A digest-only follow-up may replace the very request that carried the pixels, or (a matte) run
                # before the queued prepare that carries them: it shares that prepare's buffer.
                lenders = older + ([] if job.is_prepare else [j for j in kept if j.is_prepare])
                donor = next((j for j in lenders if j.request.pixels is not None
                              and j.request.image.key == job.request.image.key), None)
                if donor is not None:
                    job.request.pixels = donor.request.pixels
            self._queue.append(job)
            self._cond.notify()
            return older

    def cancel(self, client: bytes, target: str) -> tuple[str, Job | None]:
        """Cancel `target` of `client`: ("queued", job) removed now, ("running", job) flagged, or ("unknown", None)."""
        with self._cond:
            for job in self._queue:
                if job.client == client and job.request.id == target:
                    self._queue.remove(job)
                    return "queued", job
            for running in self._running:
                if running.client == client and running.request.id == target:
                    running.cancel_reason = "cancelled"
                    return "running", running
            return "unknown", None

    def will_have_image(self, key: str) -> bool:
        """True when a queued or running job brings the pixels for `key` (a digest-only request may follow it)."""
        with self._cond:
            jobs = self._queue + self._running
            return any(j.request.image.key == key and j.request.pixels is not None for j in jobs)

    def counts(self) -> dict[str, int]:
        with self._cond:
            return {"queued": len(self._queue), "running": len(self._running)}

    def stop(self) -> list[Job]:
        """Stop taking work; flag the running job; return the queued jobs for the caller to answer."""
        with self._cond:
            self._stopping = True
            dropped, self._queue = self._queue, []
            for running in self._running:
                running.cancel_reason = "shutting_down"
            self._cond.notify_all()
            return dropped

    # --- the worker thread ----------------------------------------------------------------------
    def run(self) -> None:
        others = [threading.Thread(target=self._serve, name=f"mam-worker-{i}", daemon=True)
                  for i in range(1, self.concurrency)]
        for thread in others:
            thread.start()
        self._serve()
        for thread in others:
            thread.join()

    def _serve(self) -> None:
        push = self.context.socket(zmq.PUSH)
        push.setsockopt(zmq.LINGER, 1000)
        push.connect(self.results_endpoint)
        try:
            while True:
                with self._cond:
                    while not self._queue and not self._stopping:
                        self._cond.wait()
                    if not self._queue:
                        return
                    job = self._queue.pop(self._next_index())
                    self._running.append(job)
                try:
                    final = self._run_job(job, push)
                finally:
                    with self._cond:
                        self._running.remove(job)
                # Sent after clearing `_running`, so a status asked after the answer never shows the job.
                push.send_multipart(final, copy=False)
        finally:
            push.close()

    def _next_index(self) -> int:
        """The oldest queued matte, else the oldest prepare: a prepare never delays a matte that waits."""
        return next((i for i, j in enumerate(self._queue) if not j.is_prepare), 0)

    def _run_job(self, job: Job, push: zmq.Socket) -> list:
        """Run one job, sending its progress on `push`; return its final message (result, ok or error)."""
        req = job.request
        started = time.monotonic()
        try:
            image = self._image(req)
            converted = time.monotonic()

            def on_progress(stage: str, fraction: float) -> None:
                if job.cancel_reason:
                    raise StopMatte(job.cancel_reason)
                push.send_multipart([job.client, reply_header("progress", req.id, stage=str(stage),
                                                              fraction=float(fraction))])

            on_progress("start", 0.0)
            server_timings = {"queue_wait": started - job.received, "convert": converted - started}
            if isinstance(req, PrepareMessage):
                timings = self.engine.prepare(image, on_progress=on_progress, image_key=req.image.key)
                return self._prepared(job, timings, server_timings)
            result = self.engine.run(image, req.request, on_progress=on_progress, image_key=req.image.key)
            return self._result(job, result, server_timings)
        except Exception as exc:  # every failure becomes an error reply; the worker keeps serving
            code, message = self._failure(job, exc)
            log.info("event=matte_failed id=%s client=%s code=%s message=%r", req.id, job.client.hex(), code,
                     clip(message))
            return [job.client, error_header(code, message, req.id)]

    @staticmethod
    def _prepared(job: Job, timings: dict[str, float] | None, server_timings: dict[str, float]) -> list:
        """The `ok` that ends a prepare: the embedding is cached (`timings` has `encode` unless it already was)."""
        req = job.request
        server_timings = _rounded({**server_timings, "total": time.monotonic() - job.received})
        timings = {str(k): float(v) for k, v in (timings or {}).items()}
        log.info("event=prepare_done id=%s client=%s size=%dx%d format=%s pixels_sent=%s timings=%s "
                 "server_timings=%s", req.id, job.client.hex(), req.image.width, req.image.height, req.image.format,
                 job.pixels_sent, _fmt(timings), _fmt(server_timings))
        return [job.client, reply_header("ok", req.id, digest=req.image.digest, prepared=True, timings=timings,
                                         server_timings=server_timings)]

    @staticmethod
    def _result(job: Job, result: MatteResult, server_timings: dict[str, float]) -> list:
        req = job.request
        assert isinstance(req, MatteMessage)
        options = req.request.options
        samples, x, y = encode_alpha(result.alpha, req.depth, req.crop)
        window_height, window_width = samples.shape
        scale = 1 if req.preview is None else preview_scale(window_width, window_height, req.preview)
        samples = shrink(samples, scale)
        frames = [samples]
        if options.foreground:
            if result.foreground is None:
                raise RuntimeError("the engine returned no foreground although it was asked for one")
            frames.append(encode_foreground(result.foreground, x, y, window_width, window_height))
        # Text prompts: the instances' entries and (with instances="all") their alpha frames, right after `alpha`.
        text, names, instance_frames = text_result(req, result, (x, y, int(samples.shape[1]), int(samples.shape[0])))
        frames[1:1] = instance_frames
        server_timings = _rounded({**server_timings, "total": time.monotonic() - job.received})
        timings = {str(k): float(v) for k, v in result.timings.items()}
        header = reply_header("result", req.id, width=int(samples.shape[1]), height=int(samples.shape[0]), x=x, y=y,
                              scale=scale, window_width=window_width, window_height=window_height, depth=req.depth,
                              score=float(result.score), digest=req.image.digest,
                              image_width=req.image.width, image_height=req.image.height, timings=timings,
                              server_timings=server_timings, notes=[str(n) for n in result.notes],
                              frames=["alpha", *names, *(["foreground"] if options.foreground else [])], **text)
        log.info("event=matte_done id=%s client=%s size=%dx%d format=%s pixels_sent=%s alpha=%dx%d@%d,%d scale=%d "
                 "depth=%d refine=%s foreground=%s score=%.4f timings=%s server_timings=%s", req.id, job.client.hex(),
                 req.image.width, req.image.height, req.image.format, job.pixels_sent, samples.shape[1],
                 samples.shape[0], x, y, scale, req.depth, options.refine, options.foreground, float(result.score),
                 _fmt(timings), _fmt(server_timings))
        return [job.client, header, *frames]

    def _image(self, req: MatteMessage | PrepareMessage) -> np.ndarray:
        """The converted image: from the pixels (their digest was verified before queueing) or from the store."""
        key = req.image.key
        image = self.store.get(key)
        if req.pixels is not None:
            if image is None:
                image = to_rgb8(req.pixels, req.image)
            self.store.put(key, image)
            req.pixels = None  # let the receive buffer go as soon as it is converted
        if image is None:
            raise ProtocolError("unknown_image", f"no image with digest {req.image.digest} "
                                                 f"({req.image.format} {req.image.width}x{req.image.height}) "
                                                 "is held; send the pixels")
        return image

    @staticmethod
    def _failure(job: Job, exc: Exception) -> tuple[str, str]:
        if job.cancel_reason == "cancelled":
            return "cancelled", f"request {job.request.id} was cancelled"
        if job.cancel_reason == "shutting_down":
            return "shutting_down", "the daemon is shutting down"
        if isinstance(exc, ProtocolError):  # unknown_image: the store evicted the image while the job waited
            return exc.code, exc.message
        log.exception("event=matte_error id=%s", job.request.id)
        return "internal", clip(f"{type(exc).__name__}: {exc}", 500)


def _rounded(timings: dict[str, float]) -> dict[str, float]:
    return {k: round(v, 6) for k, v in timings.items()}


def _fmt(timings: dict[str, float]) -> str:
    return ",".join(f"{k}:{v:.4f}" for k, v in timings.items())
