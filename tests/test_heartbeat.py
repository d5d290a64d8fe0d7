"""ZeroMQ heartbeats against a real daemon process (tiny random model), in both client transports: a frozen
daemon (SIGSTOP) ends a running matte with DaemonUnavailable within seconds, not after the request's timeout;
an idle connection outlives the daemon's heartbeat timeout because the client answers its PINGs."""
from __future__ import annotations

import os
import signal
import time

import numpy as np
import pytest

from plugins.mam_client import DaemonUnavailable, MamClient
from plugins.mam_client.zmtp import HEARTBEAT_TIMEOUT_S, ZmtpDealer
from support.daemon_harness import running_daemon

TRANSPORTS = {"pure-python": True, "pyzmq": False}
REPORT_WITHIN_S = 10.0  # the correctness bound on error reporting (heartbeat timeout 6 s + one 2 s interval + slack)
WIDTH, HEIGHT = 1024, 768  # the tiny model needs ~2 s for this on two cores: the request is surely still running


@pytest.fixture(scope="module")
def heartbeat_daemon():
    with running_daemon() as d:
        yield d


def pixels(seed: int, width: int = WIDTH, height: int = HEIGHT) -> bytes:
    return np.random.default_rng(seed).integers(0, 256, (height, width, 4), np.uint8).tobytes()


@pytest.mark.timeout(120)
@pytest.mark.parametrize("transport", sorted(TRANSPORTS))
def test_frozen_daemon_mid_request_is_reported_within_seconds(heartbeat_daemon, transport):
    pid = heartbeat_daemon.proc.pid
    stopped_at = []

    def freeze(stage: str, fraction: float) -> None:
        if stage != "queued" and not stopped_at:  # the worker has taken the request: it is running
            os.kill(pid, signal.SIGSTOP)
            stopped_at.append(time.monotonic())

    client = MamClient(heartbeat_daemon.endpoint, pure_python=TRANSPORTS[transport], matte_timeout=120)
    try:
        client.connect()
        with pytest.raises(DaemonUnavailable) as info:
            client.matte(WIDTH, HEIGHT, "RGBA8", pixels(1), box=[100, 80, 900, 700], on_progress=freeze)
        reported_after = time.monotonic() - stopped_at[0]
    finally:
        os.kill(pid, signal.SIGCONT)
        client.close()
    assert stopped_at, "the daemon was never stopped: no progress arrived"
    assert reported_after < REPORT_WITHIN_S, f"took {reported_after:.1f} s"
    assert reported_after >= HEARTBEAT_TIMEOUT_S - 1  # the heartbeat ended the wait, not something else
    message = str(info.value)
    assert "stopped answering heartbeats" in message and heartbeat_daemon.endpoint in message, message
    assert client.transport_name is None  # the dead connection was dropped

    # resumed, the daemon serves a fresh client as before
    with MamClient(heartbeat_daemon.endpoint, pure_python=TRANSPORTS[transport]) as fresh:
        assert fresh.hello()["protocol"] == 1
        result = fresh.matte(64, 48, "RGBA8", pixels(2, 64, 48), box=[4, 4, 60, 44])
        assert len(result.alpha) == 64 * 48


@pytest.mark.timeout(120)
def test_idle_connections_outlive_the_daemons_heartbeat_timeout(heartbeat_daemon):
    """Idle for longer than the daemon's heartbeat timeout, both clients keep their connection (the same
    transport object, no reconnect); a bare ZMTP peer that never answers PINGs is dropped meanwhile,
    which shows the daemon really enforces heartbeats."""
    endpoint = heartbeat_daemon.endpoint
    with MamClient(endpoint, pure_python=True) as pure, MamClient(endpoint, pure_python=False) as pyz:
        pure.connect()
        pyz.connect()
        transports = (pure._transport, pyz._transport)
        silent = ZmtpDealer.connect(endpoint, timeout=5, heartbeat_ivl=None)  # never reads, never answers
        try:
            time.sleep(HEARTBEAT_TIMEOUT_S + 2)
            assert pure.status()["uptime_s"] > 0 and pyz.status()["uptime_s"] > 0
            assert (pure._transport, pyz._transport) == transports  # no reconnect happened
            assert pure._transport._dealer.pings_answered >= 2  # type: ignore[union-attr]
            result = pure.matte(64, 48, "RGBA8", pixels(3, 64, 48), box=[4, 4, 60, 44])
            assert result.sent_pixels and pure._transport is transports[0]
            with pytest.raises(ConnectionError):
                silent.recv_multipart(timeout=5)  # the PINGs it got, then the daemon's hang-up
        finally:
            silent.close()


def test_heartbeat_thread_ends_with_its_transport():
    """The pure-Python transport's keeper thread ends on close(), and also when a transport that was never
    closed is garbage-collected (it holds the transport weakly)."""
    import gc

    import zmq

    from plugins.mam_client.transport import PurePythonTransport

    ctx = zmq.Context()
    router = ctx.socket(zmq.ROUTER)
    router.setsockopt(zmq.LINGER, 0)
    endpoint = f"tcp://127.0.0.1:{router.bind_to_random_port('tcp://127.0.0.1')}"
    try:
        closed = PurePythonTransport(endpoint, connect_timeout=5)
        keeper = closed._keeper
        assert keeper is not None and keeper.is_alive()
        closed.close()
        assert not keeper.is_alive()

        dropped = PurePythonTransport(endpoint, connect_timeout=5)
        keeper = dropped._keeper
        del dropped
        gc.collect()
        keeper.join(5)
        assert not keeper.is_alive()
    finally:
        ctx.destroy(linger=0)
