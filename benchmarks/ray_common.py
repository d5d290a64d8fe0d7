"""Shared by the Ray benchmarks: a loopback Ray head in its own process group, started and stopped here."""
from __future__ import annotations

import os
import platform
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from contextlib import contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared" / "data"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def machine() -> str:
    return f"{platform.node()}, {os.cpu_count()} CPUs, {platform.python_version()}, {time.strftime('%Y-%m-%d')}"


@contextmanager
def ray_head(num_cpus: int):
    """Yields the head's host:port once a driver can connect."""
    port = free_port()
    temp = Path(tempfile.mkdtemp(prefix="ray", dir="/tmp"))
    log = open(temp / "head.log", "wb")
    proc = subprocess.Popen([str(Path(sys.executable).with_name("ray")), "start", "--head", "--block",
                             "--node-ip-address", "127.0.0.1", "--port", str(port), "--num-cpus", str(num_cpus),
                             "--num-gpus", "0", "--include-dashboard", "false", "--disable-usage-stats",
                             "--temp-dir", str(temp), "--object-store-memory", str(512 << 20)],
                            stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    address = f"127.0.0.1:{port}"
    probe = f"import ray; ray.init(address={address!r}, logging_level='ERROR'); ray.shutdown()"
    try:
        while subprocess.run([sys.executable, "-c", probe], capture_output=True).returncode != 0:
            if proc.poll() is not None:
                raise RuntimeError((temp / "head.log").read_text())
            time.sleep(1)
        yield address
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(60)
            except subprocess.TimeoutExpired:
                pass
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        proc.wait()
        log.close()
        shutil.rmtree(temp, ignore_errors=True)
