"""Benchmark: what moving canvases over the wire costs next to inference.

Starts a real daemon process (random weights, so no checkpoints are needed), sends RGBA8 canvases
over TCP loopback as raw frames and compares the client's wall-clock round trip with the engine's own
`timings["total"]`. Everything outside the engine — upload, digest check, pixel conversion, queue
hand-off, alpha quantisation, download — is "transport overhead". Each repeat uses fresh pixels, so
no cache is hit. Usage: python benchmarks/transport_bench.py [--sizes 1024 4096 8192] [--model-type tiny]
"""
from __future__ import annotations

import argparse
import hashlib
import os
import platform
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import msgpack
import numpy as np
import zmq

ROOT = Path(__file__).resolve().parents[1]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _start_daemon(endpoint: str, model_type: str, log_path: Path) -> subprocess.Popen:
    log = open(log_path, "wb")
    return subprocess.Popen([sys.executable, "-m", "mam_server.main", "--endpoint", endpoint,
                             "--model-type", model_type, "--random-weights", "0", "--device", "cpu",
                             "--log-level", "WARNING"],
                            cwd=ROOT, stdout=log, stderr=subprocess.STDOUT)


def _recv(sock: zmq.Socket, timeout_s: float) -> tuple[dict, list[zmq.Frame]]:
    if not sock.poll(int(timeout_s * 1000)):
        raise TimeoutError(f"no reply in {timeout_s}s")
    first, *rest = sock.recv_multipart(copy=False)
    return msgpack.unpackb(first.bytes), rest


def _wait_hello(sock: zmq.Socket, proc: subprocess.Popen, log_path: Path) -> dict:
    sock.send(msgpack.packb({"v": 1, "id": "hello", "type": "hello", "client": "bench_transport"}))
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"daemon exited:\n{log_path.read_text()}")
        if sock.poll(500):
            return _recv(sock, 1)[0]
    raise SystemExit("daemon did not answer hello")


def measure(sock: zmq.Socket, size: int, seed: int) -> dict[str, float]:
    """One matte with fresh pixels; returns seconds for wall, engine, upload (until accepted) and the rest."""
    pixels = np.random.default_rng(seed).integers(0, 256, (size, size, 4), dtype=np.uint8)
    digest = hashlib.blake2b(pixels.data, digest_size=16).hexdigest()
    header = {"v": 1, "id": f"s{size}-{seed}", "type": "matte",
              "image": {"width": size, "height": size, "format": "RGBA8", "stride": size * 4, "digest": digest},
              "prompt": {"box": [size * 0.25, size * 0.25, size * 0.75, size * 0.75]},
              "options": {"depth": 8}, "frames": ["pixels"]}
    t0 = time.perf_counter()
    sock.send_multipart([msgpack.packb(header), pixels], copy=False)
    accepted = None
    while True:
        reply, frames = _recv(sock, 1800)
        if reply["type"] == "progress" and reply["stage"] == "queued":
            accepted = time.perf_counter()
        if reply["type"] in ("result", "error"):
            break
    wall = time.perf_counter() - t0
    if reply["type"] == "error":
        raise SystemExit(f"{size}²: {reply['code']}: {reply['message']}")
    assert len(frames[0]) == size * size
    engine = reply["timings"]["total"]
    return {"wall": wall, "engine": engine, "upload": accepted - t0, "convert": reply["server_timings"]["convert"],
            "overhead": wall - engine}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--sizes", type=int, nargs="+", default=[1024, 4096, 8192], help="square canvas sides")
    p.add_argument("--repeats", type=int, default=2, help="runs per size (median reported)")
    p.add_argument("--model-type", default="tiny", help="random-weight model to time inference with")
    args = p.parse_args(argv)
    endpoint = f"tcp://127.0.0.1:{_free_port()}"
    with tempfile.TemporaryDirectory() as tmp:
        log_path = Path(tmp) / "daemon.log"
        proc = _start_daemon(endpoint, args.model_type, log_path)
        ctx = zmq.Context()
        sock = ctx.socket(zmq.DEALER)
        sock.setsockopt(zmq.LINGER, 0)
        sock.connect(endpoint)
        try:
            hello = _wait_hello(sock, proc, log_path)
            print(f"daemon {hello['server_version']} model={hello['model']['model_type']} "
                  f"({hello['model']['weights']}) device={hello['model']['device']} endpoint={endpoint}")
            print(f"machine: {platform.platform()}, {os.cpu_count()} CPUs, python {platform.python_version()}, "
                  f"pyzmq {zmq.__version__}, libzmq {zmq.zmq_version()}")
            print(f"{'canvas':>11} {'MB up':>7} {'MB down':>8} {'wall s':>8} {'engine s':>9} {'upload s':>9} "
                  f"{'convert s':>10} {'overhead s':>11} {'overhead/engine':>16}")
            for size in args.sizes:
                runs = [measure(sock, size, seed) for seed in range(args.repeats)]
                med = {k: float(np.median([r[k] for r in runs])) for k in runs[0]}
                print(f"{size:>5}x{size:<5} {size * size * 4 / 1e6:7.1f} {size * size / 1e6:8.1f} {med['wall']:8.3f} "
                      f"{med['engine']:9.3f} {med['upload']:9.3f} {med['convert']:10.3f} {med['overhead']:11.3f} "
                      f"{100 * med['overhead'] / med['engine']:15.1f}%", flush=True)
        finally:
            sock.close()
            ctx.term()
            proc.send_signal(signal.SIGTERM)
            proc.wait(120)
    return 0


if __name__ == "__main__":
    sys.exit(main())
