"""A real single-node Ray cluster on loopback for the tests: `ray start --head --block` in its own process group,
started and stopped here (never `ray stop`, which would stop every Ray of this user on the machine). No tests here."""
from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from support.daemon_harness import free_port
from support.missing_parts import skip_or_fail


@dataclass
class RayCluster:
    address: str  # host:port of the head (GCS), what --ray takes
    temp_dir: Path

    def logs(self) -> Path:
        return self.temp_dir / "session_latest" / "logs"


def ray_cli() -> Path:
    path = Path(sys.executable).with_name("ray")
    if not path.exists():
        skip_or_fail("Ray is not installed (pip install -e '.[cluster]'; setup.sh does it)")
    return path


@contextmanager
def ray_head(num_cpus: int = 4):
    """A head node (GCS, raylet, object store) bound to 127.0.0.1; yields once a driver can connect."""
    cli = ray_cli()
    port = free_port()
    temp_dir = Path(tempfile.mkdtemp(prefix="ray", dir="/tmp"))  # short: Ray's socket paths must fit 107 bytes
    log = open(temp_dir / "head.log", "wb")
    proc = subprocess.Popen([str(cli), "start", "--head", "--block", "--node-ip-address", "127.0.0.1",
                             "--port", str(port), "--num-cpus", str(num_cpus), "--num-gpus", "0",
                             "--include-dashboard", "false", "--disable-usage-stats", "--temp-dir", str(temp_dir),
                             "--object-store-memory", str(512 << 20)],
                            stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
                            env={**os.environ, "RAY_USAGE_STATS_ENABLED": "0"})
    address = f"127.0.0.1:{port}"
    try:
        _wait_ready(address, proc, temp_dir)
        yield RayCluster(address, temp_dir)
    finally:
        _stop(proc)
        log.close()
        shutil.rmtree(temp_dir, ignore_errors=True)


def _wait_ready(address: str, proc: subprocess.Popen, temp_dir: Path, timeout: float = 120) -> None:
    probe = f"import ray; ray.init(address={address!r}, logging_level='ERROR'); ray.shutdown()"
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"ray start exited with {proc.returncode}:\n"
                                 f"{(temp_dir / 'head.log').read_text(errors='replace')}")
        if subprocess.run([sys.executable, "-c", probe], capture_output=True, timeout=60).returncode == 0:
            return
        time.sleep(1)
    raise AssertionError(f"Ray head at {address} not ready in {timeout}s")


def _stop(proc: subprocess.Popen) -> None:
    """SIGTERM to `ray start --block` makes it stop the node's processes; whatever is left of its group is killed."""
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
