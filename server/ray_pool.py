"""The studio pool: `mam-server --ray ADDRESS` keeps its ZeroMQ front and runs mattes on a Ray Serve deployment.

`PoolEngine` has the engine surface the daemon uses (`check`, `run`, `describe`, `has_embedding`,
`pipeline.always_refines`) plus `concurrency` (the worker runs that many jobs at once) and `pool_info` (hello's
`pool`), so the daemon's validation, limits, image store, supersede and cancel are the same code as without Ray.

Affinity. Requests for one image must reach the replica that holds its embedding. Serve's model multiplexing does
exactly that: the front sends each request with `multiplexed_model_id` = the image key (digest, format, size,
stride), and a replica "loads" that id (`@serve.multiplexed`) by simply remembering it; Serve's router then prefers
the replicas that hold the id, and each replica's LRU of ids mirrors its engine's embedding cache. No custom router:
the stock one already routes by key, balances the keys it has never seen, and falls back to another replica when
the holder is gone or saturated (the request is still correct, it just runs the encoder again).

Pixels. The front converts the pixels once (as without Ray) and keeps the array in Ray's object store under the
image key (a bounded LRU of object refs); a request carries only the ref, nested so that Ray does not resolve it,
and the replica fetches it only when it does not hold the image already: a re-prompt moves no pixels.

Progress, cancel, failures. The replica's method is a streaming generator: one item per stage boundary, then the
result. The front's worker thread reads it and calls the daemon's `on_progress` for each item, which raises
`StopMatte` on cancel/shutdown exactly as in-process; the front then cancels the Serve request, and the replica
stops its engine at its next stage boundary. A replica that dies mid-request surfaces as a Ray actor error while
the stream is read: that request gets a coded error at once and Ray Serve starts a replacement.
"""
from __future__ import annotations

import asyncio
import logging
import os
import threading
import time
from collections import OrderedDict
from types import SimpleNamespace
from typing import Any, Callable

import numpy as np
import ray
from ray import serve

from mam_engine.pipelines import EngineSettings, MatteResult, StopMatte, pipeline_class
from mam_engine.request import NO_LIMITS, Limits, MatteRequest, check_request

from .protocol import ProtocolError

log = logging.getLogger("mam.server.pool")

APP = "mam-pool"
KEYS_PER_REPLICA = 16  # image keys a replica claims for routing; its embedding cache is bounded in bytes apart


class MatteReplica:
    """One engine on one device (a GPU, or `cpus` CPU threads). Deployed by `PoolEngine.start`."""

    def __init__(self, settings: dict[str, Any], backend: str, cpus: int, image_bytes: int) -> None:
        if cpus:  # CPU results depend on the thread count: match what the replica was given
            import cv2
            import torch

            torch.set_num_threads(cpus)
            cv2.setNumThreads(cpus)
        from mam_engine.engine import MattingEngine
        from mam_engine.lru import BytesLRU

        self.engine = MattingEngine.from_settings(EngineSettings(**settings), backend)
        self.images: BytesLRU = BytesLRU(image_bytes)
        self.pid = os.getpid()

    def describe(self) -> dict[str, Any]:
        return {**self.engine.describe(), "pid": self.pid,
                "replica": serve.get_replica_context().replica_id.unique_id}

    @serve.multiplexed(max_num_models_per_replica=KEYS_PER_REPLICA)
    async def _claim(self, key: str) -> str:
        """Tell Serve's router this replica holds `key` (its embedding is cached once the first matte ran)."""
        return key

    async def run(self, image_ref: list, request: MatteRequest):
        key = serve.get_multiplexed_model_id()
        await self._claim(key)
        image = self.images.get(key)
        if image is None:
            image = await image_ref[0]  # only a replica that does not hold the image fetches its pixels
            self.images.put(key, image)
        yield ("running", self.pid)
        loop = asyncio.get_running_loop()
        items: asyncio.Queue = asyncio.Queue()
        stop = threading.Event()

        def on_progress(stage: str, fraction: float) -> None:
            if stop.is_set():
                raise StopMatte("cancelled")
            loop.call_soon_threadsafe(items.put_nowait, ("progress", stage, fraction))

        def matte() -> None:
            try:
                result = self.engine.run(image, request, on_progress, key)
                loop.call_soon_threadsafe(items.put_nowait, ("result", result))
            except BaseException as exc:  # noqa: B902 (handed to the event loop, raised there)
                loop.call_soon_threadsafe(items.put_nowait, ("error", exc))

        thread = threading.Thread(target=matte, name="mam-replica-matte", daemon=True)
        thread.start()
        try:
            while True:
                item = await items.get()
                if item[0] == "error":
                    raise item[1]
                yield item
                if item[0] == "result":
                    return
        finally:
            stop.set()  # a cancelled request (the front stopped reading) ends at the engine's next stage boundary


class _ImageRefs:
    """Object refs of converted images by key, bounded in bytes (the pixels live in Ray's object store)."""

    def __init__(self, max_bytes: int) -> None:
        self.max_bytes = max_bytes
        self._refs: OrderedDict[str, tuple[Any, int]] = OrderedDict()
        self._lock = threading.Lock()

    def ref(self, key: str, image: np.ndarray) -> Any:
        with self._lock:
            if key in self._refs:
                self._refs.move_to_end(key)
                return self._refs[key][0]
        ref = ray.put(image)
        with self._lock:
            self._refs[key] = (ref, image.nbytes)
            while len(self._refs) > 1 and sum(n for _, n in self._refs.values()) > self.max_bytes:
                self._refs.popitem(last=False)
        return ref


class PoolEngine:
    """The engine surface of `MattingEngine`, run on a Ray Serve deployment of `replicas` MatteReplica."""

    def __init__(self, handle: Any, backend: str, replicas: int, address: str, image_bytes: int) -> None:
        self.handle = handle
        self.backend = backend
        self.concurrency = replicas
        self.address = address
        self.pipeline = SimpleNamespace(always_refines=pipeline_class(backend).always_refines)
        self._refs = _ImageRefs(image_bytes)
        self._described = self._survey(replicas)

    @classmethod
    def start(cls, address: str, settings: EngineSettings, backend: str, replicas: int | None = None,
              cpus_per_replica: int = 1, image_bytes: int = 1 << 30) -> PoolEngine:
        """Connect to the cluster at `address`, deploy the replicas (one per GPU when the cluster has GPUs and
        the device allows them, else `replicas` CPU replicas), wait until they are up."""
        if not ray.is_initialized():
            ray.init(address=address, logging_level=logging.WARNING, namespace="mam")
        gpus = int(ray.cluster_resources().get("GPU", 0))
        use_gpus = bool(gpus) and (settings.device in ("auto", "cuda") or settings.device.startswith("cuda:"))
        count = replicas or (gpus if use_gpus else 1)
        options = {"num_gpus": 1, "num_cpus": cpus_per_replica} if use_gpus else {"num_cpus": cpus_per_replica}
        serve.start(proxy_location="Disabled")
        deployment = serve.deployment(name="MatteReplica", num_replicas=count, ray_actor_options=options,
                                      max_ongoing_requests=4, health_check_period_s=2, health_check_timeout_s=10,
                                      graceful_shutdown_timeout_s=5)(MatteReplica)
        app = deployment.bind(settings.__dict__.copy(), backend, 0 if use_gpus else cpus_per_replica, image_bytes)
        handle = serve.run(app, name=APP, route_prefix=None)
        log.info("event=pool_ready address=%s replicas=%d gpus_per_replica=%d", address, count, int(use_gpus))
        return cls(handle, backend, count, address, image_bytes)

    def _survey(self, replicas: int, timeout: float = 30.0) -> dict[str, dict[str, Any]]:
        """Ask replicas to describe themselves until all `replicas` have answered (the router spreads the calls)."""
        seen: dict[str, dict[str, Any]] = {}
        deadline = time.monotonic() + timeout
        while len(seen) < replicas and time.monotonic() < deadline:
            for d in [r.result() for r in [self.handle.describe.remote() for _ in range(2 * replicas)]]:
                seen[str(d["replica"])] = d
        return seen

    def close(self) -> None:
        """Remove the deployment (frees its GPUs), then disconnect from the cluster."""
        try:
            serve.delete(APP)
        finally:
            ray.shutdown()

    # --- the engine surface ---------------------------------------------------------------------------------
    def describe(self) -> dict[str, object]:
        first = next(iter(self._described.values()))
        return {k: v for k, v in first.items() if k not in ("pid", "replica")}

    def pool_info(self) -> dict[str, object]:
        return {"kind": "ray-serve", "replicas": self.concurrency,
                "devices": sorted(str(d.get("device")) for d in self._described.values()),
                "affinity": "serve-multiplexed:image-digest"}

    def has_embedding(self, key: str) -> bool:
        return False  # held by some replica, unknown here

    def check(self, width: Any, height: Any, limits: Limits = NO_LIMITS, **prompt_and_options: Any) -> MatteRequest:
        return check_request(width, height, limits=limits, always_refines=self.pipeline.always_refines,
                             **prompt_and_options)

    def run(self, image: np.ndarray, request: MatteRequest, on_progress: Callable[[str, float], None] | None = None,
            image_key: str | None = None) -> MatteResult:
        from mam_engine.model.embedding_cache import image_digest

        key = image_key or image_digest(image)
        report = on_progress or (lambda stage, fraction: None)
        stream = self.handle.options(multiplexed_model_id=key, stream=True).run.remote([self._refs.ref(key, image)],
                                                                                        request)
        try:
            for item in stream:
                if item[0] == "running":
                    log.info("event=pool_running key=%s replica_pid=%s", key, item[1])
                elif item[0] == "progress":
                    report(item[1], item[2])  # raises StopMatte on cancel or shutdown
                elif item[0] == "result":
                    return item[1]
        except StopMatte:
            stream.cancel()
            raise
        except (ray.exceptions.RayActorError, ray.exceptions.ActorUnavailableError) as exc:
            log.warning("event=replica_lost key=%s error=%r", key, str(exc)[:300])
            raise ProtocolError("replica_lost", "the pool replica running this request died; Ray Serve is replacing "
                                            "it: send the request again") from None
        raise ProtocolError("internal", "the pool replica ended the request without a result")
