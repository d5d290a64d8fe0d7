"""Shared pieces of the daemon tests: start a real `python -m mam_server.main` process and talk to it with a
plain pyzmq DEALER (written here, independent of the plugins' client library). No tests in this module."""
from __future__ import annotations

import hashlib
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import msgpack
import numpy as np
import zmq

from support.missing_parts import skip_or_fail

ROOT = Path(__file__).resolve().parents[2]
DATA = ROOT.parent / "shared" / "data"
SEED = 0
TERMINAL = {"result", "error", "hello", "status", "ok"}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def digest(data: bytes) -> str:
    return hashlib.blake2b(data, digest_size=16).hexdigest()


def real_photo(name: str = "GT01.png") -> np.ndarray:
    from PIL import Image

    path = DATA / "alphamatting-lowres" / "input" / name
    if not path.exists():
        skip_or_fail(f"test photo {path} is absent (the shared data folder ../shared/data is not there)")
    return np.asarray(Image.open(path).convert("RGB"))


def small_photo(name: str = "GT01.png", factor: int = 3) -> np.ndarray:
    """A real photo shrunk by `factor` (GT01: 266x165), so the classic backend's mattes take well under a second."""
    from PIL import Image

    full = Image.fromarray(real_photo(name))
    return np.asarray(full.resize((full.width // factor, full.height // factor), Image.BILINEAR))


class WorkerThreadEngine:
    """An in-process MattingEngine called from one thread of its own, like the daemon's single worker thread.

    GrabCut (backend "classic") draws from OpenCV's per-thread random generator, so the daemon's n-th classic
    matte is reproduced by the n-th call here, on a fresh thread, not by a call on a thread that already ran one.
    """

    def __init__(self, **engine_args) -> None:
        from mam_engine import MattingEngine

        self.engine = MattingEngine(**engine_args)
        self._thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="reference-worker")

    def matte(self, image: np.ndarray, **kwargs):
        return self._thread.submit(self.engine.matte, image, **kwargs).result()

    def close(self) -> None:
        self._thread.shutdown()


def rgba8(image: np.ndarray) -> bytes:
    alpha = np.full(image.shape[:2] + (1,), 255, np.uint8)
    return np.concatenate([image, alpha], axis=2).tobytes()


def image_header(width: int, height: int, pixels: bytes, fmt: str = "RGBA8", stride: int | None = None) -> dict:
    return {"width": width, "height": height, "format": fmt, "stride": stride or len(pixels) // height,
            "digest": digest(pixels)}


@dataclass
class Daemon:
    endpoint: str
    proc: subprocess.Popen
    log_path: Path

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def stop(self, timeout: float = 60) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        return self.proc.returncode


def start_process(*args: str, log_path: Path) -> subprocess.Popen:
    with open(log_path, "wb") as log:
        return subprocess.Popen([sys.executable, "-m", "mam_server.main", *args], cwd=ROOT, stdout=log,
                                stderr=subprocess.STDOUT, env={**os.environ, "PYTHONUNBUFFERED": "1"})


TINY_RANDOM_MODEL = ("--model-type", "tiny", "--random-weights", str(SEED))
CLASSIC_BACKEND = ("--backend", "classic")  # no weights at all


@contextmanager
def running_daemon(*extra: str, endpoint: str | None = None, curve_client: dict | None = None,
                   model: tuple[str, ...] = TINY_RANDOM_MODEL):
    """A daemon (default: the tiny random model); yields once it answers hello; SIGTERMs it afterwards."""
    endpoint = endpoint or f"tcp://127.0.0.1:{free_port()}"
    with tempfile.TemporaryDirectory() as tmp:
        log_path = Path(tmp) / "daemon.log"
        proc = start_process("--endpoint", endpoint, *model, *extra, log_path=log_path)
        daemon = Daemon(endpoint, proc, log_path)
        try:
            wait_ready(daemon, curve_client)
            yield daemon
        finally:
            daemon.stop()


def wait_ready(daemon: Daemon, curve_client: dict | None = None, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    with WireClient(daemon.endpoint, curve=curve_client) as c:
        c.send({"id": "ready", "type": "hello", "client": "tests"})
        while time.monotonic() < deadline:
            if daemon.proc.poll() is not None:
                raise AssertionError(f"daemon exited with {daemon.proc.returncode}:\n{daemon.log()}")
            if c.sock.poll(200):
                c.wait_for("ready")
                return
    raise AssertionError(f"daemon did not answer hello in {timeout}s:\n{daemon.log()}")


@dataclass
class Reply:
    header: dict
    frames: list[bytes]
    progress: list[dict] = field(default_factory=list)

    @property
    def type(self) -> str:
        return self.header["type"]


class WireClient:
    """A bare DEALER speaking protocol v1; buffers replies by request id so interleaved answers are kept."""

    def __init__(self, endpoint: str, curve: dict | None = None) -> None:
        self.context = zmq.Context.instance()
        self.sock = self.context.socket(zmq.DEALER)
        self.sock.setsockopt(zmq.LINGER, 0)
        if curve:
            self.sock.curve_secretkey = curve["secret"]
            self.sock.curve_publickey = curve["public"]
            self.sock.curve_serverkey = curve["server"]
        self.sock.connect(endpoint)
        self.pending: dict[str | None, list[tuple[dict, list[bytes]]]] = {}

    def __enter__(self) -> WireClient:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        self.sock.close(linger=0)

    def send(self, header: dict, *frames: bytes) -> None:
        self.send_raw(msgpack.packb({"v": 1, **header}), *frames)

    def send_raw(self, *frames: bytes) -> None:
        self.sock.send_multipart(list(frames))

    def recv(self, timeout: float = 120) -> tuple[dict, list[bytes]]:
        if not self.sock.poll(int(timeout * 1000)):
            raise TimeoutError(f"no reply from the daemon in {timeout}s")
        first, *rest = self.sock.recv_multipart()
        return msgpack.unpackb(first), rest

    def wait_for(self, rid: str | None, timeout: float = 180) -> Reply:
        """Collect messages for `rid` until its terminal reply; progress messages are kept in order."""
        progress = []
        deadline = time.monotonic() + timeout
        while True:
            queue = self.pending.setdefault(rid, [])
            while queue:
                header, frames = queue.pop(0)
                if header["type"] == "progress":
                    progress.append(header)
                elif header["type"] in TERMINAL:
                    return Reply(header, frames, progress)
            header, frames = self.recv(max(0.01, deadline - time.monotonic()))
            self.pending.setdefault(header.get("id"), []).append((header, frames))

    def hello(self, rid: str = "h") -> Reply:
        self.send({"id": rid, "type": "hello", "client": "tests"})
        return self.wait_for(rid)

    def matte(self, rid: str, image: np.ndarray | None = None, pixels: bytes | None = None, spec: dict | None = None,
              prompt: dict | None = None, options: dict | None = None, send_pixels: bool = True) -> None:
        """Send one `matte` (RGBA8 of `image` unless `pixels`+`spec` are given); answers come via wait_for."""
        if pixels is None:
            pixels = rgba8(image)
            spec = image_header(image.shape[1], image.shape[0], pixels)
        h, w = spec["height"], spec["width"]
        header = {"id": rid, "type": "matte", "image": spec,
                  "prompt": prompt or {"box": [w * 0.25, h * 0.25, w * 0.75, h * 0.75]},
                  "options": options or {}, "frames": ["pixels"] if send_pixels else []}
        self.send(header, *([pixels] if send_pixels else []))


def alpha_array(reply: Reply) -> np.ndarray:
    h = reply.header
    dtype = np.uint8 if h["depth"] == 8 else np.dtype("<u2")
    return np.frombuffer(reply.frames[0], dtype=dtype).reshape(h["height"], h["width"])


def refined_and_plain_alphas(endpoint: str, pixels: bytes, spec: dict, box: list) -> dict:
    """Direct answers for one box with and without the classic edge refinement (guidance "mask", 8-bit, whole
    image), keyed "classic" and None: what an editor's "Refine edges (classic)" output must equal. Asserts the two
    differ, so a comparison against them cannot pass idly."""
    alphas = {}
    with WireClient(endpoint) as client:
        for refine in ("classic", None):
            client.matte(f"direct-{refine}", pixels=pixels, spec=spec, prompt={"box": box},
                         options={"guidance": "mask", "depth": 8, "crop": False, "refine": refine})
            reply = client.wait_for(f"direct-{refine}")
            assert reply.type == "result", reply.header
            alphas[refine] = alpha_array(reply)
    assert not np.array_equal(alphas["classic"], alphas[None]), "the refinement changes nothing: an idle check"
    return alphas
