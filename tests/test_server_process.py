"""The daemon as a process: exit codes, signals, and the remote-use policy (CURVE)."""
from __future__ import annotations

import signal
import socket
import subprocess
import time
from pathlib import Path

import numpy as np
import pytest

from support.daemon_harness import WireClient, free_port, running_daemon, start_process


def _run_to_exit(args: list[str], tmp_path: Path, timeout: float = 120) -> tuple[int, str]:
    log = tmp_path / "daemon.log"
    proc = start_process(*args, log_path=log)
    try:
        proc.wait(timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
        raise
    return proc.returncode, log.read_text()


def test_port_in_use_exits_2_with_a_clear_message(tmp_path):
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        port = holder.getsockname()[1]
        rc, out = _run_to_exit(["--endpoint", f"tcp://127.0.0.1:{port}", "--model-type", "tiny",
                                "--random-weights", "0", "--device", "cpu"], tmp_path)
    assert rc == 2, out
    assert f"cannot bind tcp://127.0.0.1:{port}: address already in use" in out
    assert "Traceback" not in out


def test_non_loopback_endpoint_without_curve_is_refused(tmp_path):
    rc, out = _run_to_exit(["--endpoint", f"tcp://0.0.0.0:{free_port()}", "--model-type", "tiny",
                            "--random-weights", "0"], tmp_path)
    assert rc == 2, out
    assert "refusing to bind" in out and "--curve-secret-key" in out and "Traceback" not in out


def test_unknown_model_type_is_a_refused_configuration_exit_2(tmp_path):
    rc, out = _run_to_exit(["--endpoint", f"tcp://127.0.0.1:{free_port()}", "--model-type", "vit_q",
                            "--random-weights", "0"], tmp_path)
    assert rc == 2, out
    assert "unknown model_type 'vit_q'" in out and "Traceback" not in out


def test_model_that_cannot_load_exits_1_with_the_reason(tmp_path):
    missing = tmp_path / "no_such_sam.pth"
    rc, out = _run_to_exit(["--endpoint", f"tcp://127.0.0.1:{free_port()}", "--model-type", "tiny",
                            "--backend", "sam", "--sam-checkpoint", str(missing)], tmp_path)
    assert rc == 1, out
    assert "cannot load the model" in out and str(missing) in out and "Traceback" not in out


def test_sigterm_while_the_model_loads_exits_0(tmp_path):
    log = tmp_path / "daemon.log"
    proc = start_process("--endpoint", f"tcp://127.0.0.1:{free_port()}", "--model-type", "tiny",
                         "--random-weights", "0", "--device", "cpu", log_path=log)
    deadline = time.monotonic() + 60
    while "event=loading_model" not in log.read_text() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert proc.poll() is None, log.read_text()  # still inside the torch import / model build
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(120) == 0, log.read_text()


def test_sigterm_ends_running_and_queued_requests_and_exits_0():
    image = np.random.default_rng(11).integers(0, 256, (40, 40, 3), dtype=np.uint8)
    with running_daemon("--device", "cpu") as daemon:
        with WireClient(daemon.endpoint) as a, WireClient(daemon.endpoint) as b:
            a.matte("running", image)
            header = {}
            while header.get("stage") != "encode":  # the worker is inside the encoder now
                header, _ = a.recv(60)
            b.matte("queued", image)
            assert b.recv(60)[0]["stage"] == "queued"
            daemon.proc.send_signal(signal.SIGTERM)
            queued, running = b.wait_for("queued", timeout=60), a.wait_for("running", timeout=60)
        rc = daemon.proc.wait(60)
        log = daemon.log()
    assert queued.type == "error" and queued.header["code"] == "shutting_down", (queued.header, log)
    assert running.type == "error" and running.header["code"] == "shutting_down", (running.header, log)
    assert rc == 0 and "event=stopped" in log, log


def test_ipc_endpoint_serves(tmp_path):
    endpoint = f"ipc://{tmp_path}/mam.sock"
    with running_daemon("--device", "cpu", endpoint=endpoint) as daemon:
        with WireClient(endpoint) as c:
            assert c.hello().header["protocol"] == 1
        assert daemon.stop() == 0


def test_curve_admits_authorized_clients_only(certificates):
    args = ("--curve-secret-key", certificates["secret_file"], "--curve-authorized-keys", certificates["allowed"])
    with running_daemon(*args, curve_client=certificates["client"]) as daemon:
        with WireClient(daemon.endpoint, curve=certificates["client"]) as c:
            assert c.hello().header["auth"] == "curve"
        with WireClient(daemon.endpoint, curve=certificates["stranger"]) as c:
            c.send({"id": "h", "type": "hello"})
            with pytest.raises(TimeoutError):
                c.recv(timeout=3)
        with WireClient(daemon.endpoint) as c:  # no CURVE at all
            c.send({"id": "h", "type": "hello"})
            with pytest.raises(TimeoutError):
                c.recv(timeout=3)
