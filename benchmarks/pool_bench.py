"""Benchmark: the studio pool (mam-server --ray, 2 Ray Serve replicas) against the plain daemon.

1. Re-prompt latency added: a digest-only re-prompt on a cached image, timed at the client; what is not engine
   time (client round trip − the engine's timings.total) is the front's and the transport's share. The pool's
   share minus the plain daemon's is what the front + Serve hop adds. Median of --repeats re-prompts each.
2. Affinity: --images distinct photos, 3 clients interleaved: client i % 3 sends image i's pixels, the two others
   then re-prompt it digest-only; a re-prompt whose timings have an `encode` ran on a replica without the
   embedding. Also how the images spread over the replicas (from the front's log).
Tiny random model (no checkpoints). Usage: python benchmarks/pool_bench.py [--images 20] [--repeats 20]
"""
from __future__ import annotations

import argparse
import hashlib
import os
import re
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from pathlib import Path

import msgpack
import numpy as np
import zmq
from PIL import Image
from ray_common import DATA, ROOT, free_port, machine, ray_head

MODEL = ["--model-type", "tiny", "--random-weights", "0", "--device", "cpu"]


def start(args: list[str], log: Path, env: dict | None = None) -> tuple[subprocess.Popen, str]:
    endpoint = f"tcp://127.0.0.1:{free_port()}"
    proc = subprocess.Popen([sys.executable, "-m", "mam_server.main", "--endpoint", endpoint, *MODEL, *args],
                            cwd=ROOT, stdout=open(log, "wb"), stderr=subprocess.STDOUT,
                            env={**os.environ, **(env or {})})
    with Client(endpoint) as c:
        c.call({"id": "h", "type": "hello"}, timeout=300)
    return proc, endpoint


class Client:
    def __init__(self, endpoint: str) -> None:
        self.sock = zmq.Context.instance().socket(zmq.DEALER)
        self.sock.setsockopt(zmq.LINGER, 0)
        self.sock.connect(endpoint)

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc) -> None:
        self.sock.close()

    def call(self, header: dict, *frames: bytes, timeout: float = 300) -> dict:
        self.sock.send_multipart([msgpack.packb({"v": 1, **header}), *frames])
        while True:
            if not self.sock.poll(int(timeout * 1000)):
                raise TimeoutError(header)
            reply = msgpack.unpackb(self.sock.recv_multipart()[0])
            if reply["type"] != "progress":
                return reply

    def matte(self, rid: str, image: np.ndarray, box: list[float], pixels: bool) -> dict:
        data = np.dstack([image, np.full(image.shape[:2], 255, np.uint8)]).tobytes()
        h, w = image.shape[:2]
        spec = {"width": w, "height": h, "format": "RGBA8", "stride": w * 4,
                "digest": hashlib.blake2b(data, digest_size=16).hexdigest()}
        reply = self.call({"id": rid, "type": "matte", "image": spec, "prompt": {"box": box},
                           "frames": ["pixels"] if pixels else []}, *([data] if pixels else []))
        if reply["type"] != "result":
            raise RuntimeError(reply)
        return reply


def photos(count: int, side: int) -> list[np.ndarray]:
    sources = sorted((DATA / "alphamatting-lowres" / "input").glob("*.png"))
    sources += sorted((DATA / "coco-tiny").rglob("*.jpg"))
    out = []
    for i in range(count):
        im = Image.open(sources[i % len(sources)]).convert("RGB")
        scale = side / max(im.size)
        im = im.resize((round(im.width * scale), round(im.height * scale)), Image.BILINEAR)
        out.append(np.asarray(im.transpose(Image.FLIP_LEFT_RIGHT) if i >= len(sources) else im))
    return out


def box(image: np.ndarray, k: int) -> list[float]:
    h, w = image.shape[:2]
    return [w * (0.1 + 0.02 * k), h * 0.1, w * 0.9, h * (0.9 - 0.02 * k)]


def added_latency(endpoint: str, image: np.ndarray, repeats: int) -> tuple[float, float]:
    """(median round trip, median round trip − engine total), in ms, over digest-only re-prompts."""
    with Client(endpoint) as c:
        c.matte("first", image, box(image, 0), pixels=True)
        trips, outside = [], []
        for k in range(repeats):
            t0 = time.perf_counter()
            r = c.matte(f"r{k}", image, box(image, k % 5), pixels=False)
            trip = time.perf_counter() - t0
            trips.append(trip * 1000)
            outside.append((trip - r["timings"]["total"]) * 1000)
    return statistics.median(trips), statistics.median(outside)


def affinity(endpoint: str, images: list[np.ndarray]) -> tuple[int, int]:
    """(re-prompts without encode, re-prompts) over 3 interleaved clients."""
    sent = [threading.Event() for _ in images]
    results: list[tuple[int, bool]] = []
    lock = threading.Lock()

    def artist(me: int) -> None:
        with Client(endpoint) as c:
            for i, image in enumerate(images):
                if i % 3 == me:
                    c.matte(f"{i}", image, box(image, 0), pixels=True)
                    sent[i].set()
            for i, image in enumerate(images):
                if i % 3 != me:
                    sent[i].wait(600)
                    r = c.matte(f"{i}-{me}", image, box(image, 1 + me), pixels=False)
                    with lock:
                        results.append((i, "encode" not in r["timings"]))

    threads = [threading.Thread(target=artist, args=(m,)) for m in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return sum(ok for _, ok in results), len(results)


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--images", type=int, default=20)
    p.add_argument("--repeats", type=int, default=20)
    p.add_argument("--side", type=int, default=256)
    args = p.parse_args()
    images = photos(args.images, args.side)
    print(f"# studio pool vs plain daemon; {machine()}; tiny random model, {args.side}-px photos")
    with tempfile.TemporaryDirectory() as tmp, ray_head(num_cpus=4) as address:
        plain, plain_ep = start([], Path(tmp) / "plain.log", env={"OMP_NUM_THREADS": "1"})
        try:
            plain_trip, plain_out = added_latency(plain_ep, images[0], args.repeats)
        finally:
            plain.terminate()
            plain.wait()
        front, front_ep = start(["--ray", address, "--replicas", "2"], Path(tmp) / "front.log")
        try:
            pool_trip, pool_out = added_latency(front_ep, images[0], args.repeats)
            hits, total = affinity(front_ep, images)
        finally:
            front.terminate()
            front.wait()
        log = (Path(tmp) / "front.log").read_text(errors="replace")
    spread = Counter(pid for _, pid in set(re.findall(r"event=pool_running key=(\S+) replica_pid=(\d+)", log)))
    print("| | median re-prompt round trip (ms) | median outside the engine (ms) |")
    print("|---|---|---|")
    print(f"| plain daemon (1 thread) | {plain_trip:.1f} | {plain_out:.1f} |")
    print(f"| pool front + Serve (2 replicas, 1 thread each) | {pool_trip:.1f} | {pool_out:.1f} |")
    print(f"added by the front + Serve: {pool_out - plain_out:.1f} ms (median of {args.repeats} re-prompts)")
    print(f"affinity: {hits}/{total} re-prompts from other clients ran without `encode` "
          f"({args.images} images, 3 clients); distinct images per replica: {sorted(spread.values())}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
