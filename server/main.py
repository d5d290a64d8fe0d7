"""`mam-server` command line: build the engine, check the endpoint is safe, serve until SIGINT/SIGTERM.

Exit codes: 0 clean shutdown, 2 the endpoint is in use or the configuration is refused, 1 the model
could not be loaded.
"""
from __future__ import annotations

import argparse
import logging
import signal
import sys
import threading

from mam_engine.pipelines import PIPELINES, EngineSettings, pipeline_class
from mam_engine.request import Limits

from .backend_choice import AUTO, FETCH_HINT, BackendChoice, choose_backend
from .daemon import BindError, Daemon
from .image_store import ImageStore
from .security import CurveConfig, SecurityConfigError, check_endpoint

DEFAULT_ENDPOINT = "tcp://127.0.0.1:5757"


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="mam-server", description="Matting Anything daemon for the Krita and GIMP "
                                                               "plugins (ZeroMQ ROUTER, protocol v1).")
    p.add_argument("--endpoint", default=DEFAULT_ENDPOINT,
                   help="ZeroMQ endpoint to bind (default %(default)s; ipc:///path works on Unix). A non-loopback "
                        "address requires --curve-secret-key and --curve-authorized-keys.")
    m = p.add_argument_group("model")
    m.add_argument("--backend", default=AUTO, choices=[AUTO, *PIPELINES],
                   help="auto (default): mam when its weights are in the weights folder, else classic, said in "
                        "the log and in hello; mam: SAM + Mask-to-Matte; sam: SAM's mask only (use the classic "
                        "refinement); classic: GrabCut + closed-form matting, needs no checkpoints at all")
    m.add_argument("--model-type", default="vit_b", help="SAM variant: vit_b, vit_l, vit_h, or tiny (tests)")
    m.add_argument("--sam-checkpoint", help="SAM checkpoint .pth (default: the per-user weights cache)")
    m.add_argument("--m2m-checkpoint", help="MAM M2M checkpoint .pth (default: the per-user weights cache)")
    m.add_argument("--device", default="auto", help="auto, cpu, cuda, cuda:N, mps (default %(default)s)")
    m.add_argument("--random-weights", type=int, metavar="SEED",
                   help="use randomly initialised weights from SEED instead of checkpoints (tests only: the "
                        "mattes are meaningless; hello says so)")
    m.add_argument("--path", default="fast", help="engine computation: fast (default; same numbers within float "
                                                  "rounding) or reference (MAM's literal computation)")
    m.add_argument("--precision", default="fp32", help="fp32 (default, exact), bf16 (CPU/CUDA) or fp16 (CUDA): "
                                                       "lower precisions change the mattes slightly")
    m.add_argument("--embedding-cache-bytes", type=int, default=1 << 30,
                   help="bytes of image embeddings kept (default %(default)s)")
    lim = p.add_argument_group("limits")
    d = Limits()
    lim.add_argument("--max-pixels", type=int, default=d.max_pixels, help="largest image, in pixels (default "
                                                                           "%(default)s)")
    lim.add_argument("--max-message-bytes", type=int, default=d.max_message_bytes,
                     help="largest request message (default %(default)s)")
    lim.add_argument("--max-points", type=int, default=d.max_points, help="most prompt points (default %(default)s)")
    lim.add_argument("--max-queue", type=int, default=d.max_queue, help="most queued requests, all clients "
                                                                         "together (default %(default)s)")
    lim.add_argument("--max-queued-bytes", type=int, default=d.max_queued_bytes,
                     help="most bytes of pixel/mask frames held by waiting requests (default %(default)s)")
    lim.add_argument("--image-cache-bytes", type=int, default=1 << 30,
                     help="bytes of converted images kept for digest-only requests (default %(default)s)")
    sec = p.add_argument_group("remote use (CURVE)")
    sec.add_argument("--curve-secret-key", metavar="FILE", help="the server's secret certificate (zmq.auth format)")
    sec.add_argument("--curve-authorized-keys", metavar="DIR", help="directory of allowed clients' public "
                                                                    "certificates")
    pool = p.add_argument_group("studio pool (Ray Serve, docs/CLUSTER.md; needs the cluster extra)")
    pool.add_argument("--ray", metavar="ADDRESS", help="run the mattes on a Ray cluster: 'auto' or the head's "
                                                       "host:port; this process stays the ZeroMQ front")
    pool.add_argument("--replicas", type=int, help="with --ray: engines in the pool (default: one per GPU of the "
                                                   "cluster, else 1)")
    p.add_argument("--log-level", default="INFO", choices=["DEBUG", "INFO", "WARNING", "ERROR"])
    return p


def _curve(args: argparse.Namespace) -> CurveConfig | None:
    if (args.curve_secret_key is None) != (args.curve_authorized_keys is None):
        raise SecurityConfigError("--curve-secret-key and --curve-authorized-keys go together")
    if args.curve_secret_key is None:
        return None
    return CurveConfig(args.curve_secret_key, args.curve_authorized_keys)


def _limits(args: argparse.Namespace) -> Limits:
    try:
        return Limits(max_pixels=args.max_pixels, max_message_bytes=args.max_message_bytes,
                      max_points=args.max_points, max_queue=args.max_queue, max_queued_bytes=args.max_queued_bytes)
    except ValueError as exc:
        raise SecurityConfigError(str(exc)) from None


def _settings(args: argparse.Namespace) -> EngineSettings:
    return EngineSettings(model_type=args.model_type, device=args.device, sam_checkpoint=args.sam_checkpoint,
                          m2m_checkpoint=args.m2m_checkpoint, random_weights_seed=args.random_weights,
                          path=args.path, precision=args.precision, cache_bytes=args.embedding_cache_bytes)


def _mode_info(choice: BackendChoice, engine) -> dict:
    """hello's backend_requested, and for auto its reason appended to model.mode (the line plugins show)."""
    if choice.requested != AUTO:
        return {"backend_requested": choice.requested}
    mode = engine.describe().get("mode", choice.backend)   # the plugins flag backend "classic" loudly themselves
    return {"backend_requested": AUTO, "mode": f"{mode} — chosen by --backend auto: {choice.reason}"}


def _warm_up_classic(log: logging.Logger) -> None:
    """mam_engine.classic's public warm-up (issue 14): loads pymatting's cached kernels (about a second), or
    compiles them once after an install (about a minute on two cores), before the daemon listens."""
    from mam_engine.classic.refine import warm_up

    log.info("event=warm_up note='loading the classic matting kernels (compiling them on the first run only)'")
    log.info("event=warm_up_done seconds=%.2f", warm_up())


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=args.log_level, stream=sys.stderr,
                        format="%(asctime)s %(levelname)s %(name)s %(message)s")
    log = logging.getLogger("mam.server")
    try:
        curve = _curve(args)
        limits = _limits(args)
        check_endpoint(args.endpoint, curve)
        settings = _settings(args)
        explicit = bool(args.sam_checkpoint or args.m2m_checkpoint or args.random_weights is not None)
        choice = choose_backend(args.backend, args.model_type, explicit)
        pipeline_class(choice.backend).check_settings(settings)
    except (SecurityConfigError, ValueError) as exc:
        print(f"mam-server: {exc}", file=sys.stderr)
        return 2
    stop = threading.Event()  # set from now on, so a signal during the model load still exits cleanly
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    if choice.fell_back:
        log.warning("event=backend_auto backend=classic note=%r", "CLASSIC MODE: " + choice.reason)
    elif choice.requested == AUTO:
        log.info("event=backend_auto backend=%s note=%r", choice.backend, choice.reason)
    log.info("event=loading_model backend=%s model_type=%s device=%s", choice.backend, args.model_type, args.device)
    from mam_engine import MattingEngine  # after argument checks: importing torch takes seconds

    try:
        if args.ray:  # the studio pool: same front, the mattes run on Ray Serve replicas
            from .ray_pool import PoolEngine

            engine = PoolEngine.start(args.ray, settings, choice.backend, args.replicas,
                                      image_bytes=args.image_cache_bytes)
        else:
            engine = MattingEngine.from_settings(settings, choice.backend)
    except Exception as exc:  # missing/corrupt checkpoints, unknown model or device: say which, no traceback
        print(f"mam-server: cannot load the model: {exc}", file=sys.stderr)
        if choice.backend != "classic":
            print(f"mam-server: to fetch the weights: {FETCH_HINT}. To start without any weights now: "
                  "mam-server --backend classic (GrabCut + closed-form matting)", file=sys.stderr)
        return 1
    # --- pymatting JIT warm-up (issue 14): the single call site. The classic backend and the classic edge
    # refinement compile pymatting's numba kernels on first use (about a minute, once per machine); warming
    # them here means no artist's first matte pays for it. ---
    _warm_up_classic(log)
    model_info = {"random_weights": args.random_weights is not None,
                  "random_weights_seed": args.random_weights, **_mode_info(choice, engine)}
    if args.random_weights is not None:
        log.warning("event=random_weights seed=%d note='mattes are meaningless; for tests only'", args.random_weights)
    if stop.is_set():
        return 0
    daemon = Daemon(engine, args.endpoint, limits, ImageStore(args.image_cache_bytes), curve, model_info, stop)
    try:
        daemon.bind()
    except (BindError, SecurityConfigError) as exc:
        print(f"mam-server: {exc}", file=sys.stderr)
        return 2
    daemon.serve()
    if args.ray:
        engine.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
