"""The plugins' client library against the real daemon process (tiny random model), in both transports."""
from __future__ import annotations

import math
import shutil
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import numpy as np
import pytest

from plugins.mam_client import CurveKeys, DaemonTimeout, DaemonUnavailable, MamClient, MamError, MatteCancelled
from support.daemon_harness import free_port, real_photo, rgba8, running_daemon

TRANSPORTS = {"pure-python": True, "pyzmq": False}
CLIENT_PACKAGE = Path(__file__).resolve().parents[1] / "plugins" / "mam_client"


@pytest.fixture(scope="module")
def photo():
    image = real_photo("GT01.png")
    height, width = image.shape[:2]
    return width, height, rgba8(image), [width * 0.2, height * 0.15, width * 0.8, height * 0.95]


def wait_for_log(daemon, text: str, timeout: float = 120) -> str:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        log = daemon.log()
        if text in log:
            return log
        time.sleep(0.2)
    raise AssertionError(f"{text!r} never appeared in the daemon log:\n{daemon.log()[-3000:]}")


def test_real_photo_round_trip_is_identical_in_both_transports(daemon, photo):
    width, height, pixels, box = photo
    with MamClient(daemon.endpoint, pure_python=True) as pure, MamClient(daemon.endpoint, pure_python=False) as pyz:
        stages = []
        first = pure.matte(width, height, "RGBA8", pixels, box=box, on_progress=lambda s, f: stages.append((s, f)))
        assert pure.transport_name == "pure-python"
        second = pyz.matte(width, height, "RGBA8", memoryview(pixels), box=box)
        assert pyz.transport_name == "pyzmq"
        cropped = pure.matte(width, height, "RGBA8", pixels, box=box, depth=16, crop=True)

    assert (first.width, first.height, first.x, first.y, first.depth) == (width, height, 0, 0, 8)
    assert len(first.alpha) == width * height and math.isfinite(first.score) and first.timings
    assert stages and stages[-1][1] == 1.0 and all(0.0 <= f <= 1.0 for _, f in stages)
    assert second.alpha == first.alpha and second.score == first.score
    assert first.sent_pixels and second.sent_pixels and not cropped.sent_pixels  # same client, same canvas

    full = np.frombuffer(first.alpha, np.uint8).reshape(height, width)
    assert full.any(), "the tiny model produced an empty matte; the crop check below would prove nothing"
    crop = np.frombuffer(cropped.alpha, "<u2").reshape(cropped.height, cropped.width)
    x, y = cropped.x, cropped.y
    assert np.abs(np.round(crop / 257.0) - full[y:y + cropped.height, x:x + cropped.width]).max() <= 1
    outside = full.copy()
    outside[y:y + cropped.height, x:x + cropped.width] = 0
    assert not outside.any()  # the crop holds every non-zero alpha


def test_a_canvas_edited_in_place_is_hashed_again(daemon, photo):
    """The client skips re-hashing only the very same immutable `bytes`; a bytearray changed in place between two
    clicks is a new canvas (new digest, pixels sent again), and a new bytes object with old content is recognised."""
    width, height, pixels, box = photo
    with MamClient(daemon.endpoint, pure_python=True) as client:
        same = [client.matte(width, height, "RGBA8", pixels, box=box) for _ in range(2)]
        canvas = bytearray(pixels)
        before = client.matte(width, height, "RGBA8", canvas, box=box)
        canvas[: width * 4 * 10] = bytes(width * 4 * 10)          # ten rows painted black in place
        after = client.matte(width, height, "RGBA8", canvas, box=box)
        copy = client.matte(width, height, "RGBA8", bytes(pixels), box=box)
    assert same[0].digest == same[1].digest == before.digest == copy.digest and not same[1].sent_pixels
    assert not before.sent_pixels and not copy.sent_pixels
    assert after.digest != before.digest and after.sent_pixels


def test_copied_package_runs_on_the_standard_library_alone(daemon, tmp_path: Path):
    """What an editor does: copy the folder, import it from a Python without site-packages."""
    shutil.copytree(CLIENT_PACKAGE, tmp_path / "mam_client")
    script = textwrap.dedent(f"""
        import sys
        for name in ("zmq", "msgpack", "numpy"):
            try:
                __import__(name)
            except ImportError:
                pass
            else:
                sys.exit(name + " is importable: this would not test the standard-library path")
        sys.path.insert(0, {str(tmp_path)!r})  # as an editor puts its plugin folder on the path
        from mam_client import MamClient, MamError
        client = MamClient({daemon.endpoint!r})
        info = client.hello()
        assert client.transport_name == "pure-python", client.transport_name
        assert info["protocol"] == 1 and "queued" in client.status()
        try:
            client.matte(8, 4, "BGRA8", bytes(range(128)), box=[0, 0, 20, 20])
        except MamError as exc:
            assert exc.code == "bad_request" and "box" in exc.message, exc
        else:
            sys.exit("a box outside the image was accepted")
        client.close()
        print("stdlib client ok")
    """)
    run = subprocess.run([sys.executable, "-I", "-S", "-c", script], cwd=tmp_path, capture_output=True,
                         text=True, timeout=120)
    assert run.returncode == 0 and "stdlib client ok" in run.stdout, run.stdout + run.stderr


def test_modules_parse_as_python_3_8():
    import ast

    modules = sorted(CLIENT_PACKAGE.glob("*.py"))
    assert len(modules) >= 6
    for module in modules:
        source = module.read_text()
        ast.parse(source, filename=str(module), feature_version=(3, 8))
        if module.name != "__init__.py":  # annotations like dict[str, int] must stay unevaluated on 3.8
            assert "from __future__ import annotations" in source, module.name


@pytest.mark.parametrize("transport", sorted(TRANSPORTS))
def test_hello_status_and_error_replies(daemon, transport):
    with MamClient(daemon.endpoint, pure_python=TRANSPORTS[transport]) as client:
        info = client.hello()
        assert client.transport_name == transport
        assert info["protocol"] == 1 and info["model"]["model_type"] == "tiny" and "RGBA8" in info["pixel_formats"]
        status = client.status()
        assert {"queued", "running", "clients", "uptime_s"} <= set(status)
        with pytest.raises(MamError, match="box") as info:
            client.matte(4, 4, "GRAY8", bytes(16), box=[0, 0, 9, 9])
        assert info.value.code == "bad_request"
        assert client.status()["uptime_s"] >= status["uptime_s"]  # still in step after the error


def test_cancel_event_stops_the_daemon_and_client_stays_usable(daemon):
    width, height = 96, 64
    pixels = np.random.default_rng(1).integers(0, 256, (height, width, 4), np.uint8).tobytes()
    event = threading.Event()
    with MamClient(daemon.endpoint, pure_python=True) as client:
        with pytest.raises(MatteCancelled):
            client.matte(width, height, "RGBA8", pixels, box=[4, 4, 60, 50], request_id="client-cancel-1",
                         cancel_event=event, on_progress=lambda s, f: event.set())
        assert client.status()["uptime_s"] > 0
    log = wait_for_log(daemon, "event=matte_failed id=client-cancel-1 ")
    failed = next(line for line in log.splitlines() if "event=matte_failed id=client-cancel-1 " in line)
    assert "code=cancelled" in failed


def test_timeout_cancels_the_request_and_client_recovers(daemon):
    width, height = 80, 60
    pixels = np.random.default_rng(2).integers(0, 256, (height, width, 4), np.uint8).tobytes()
    with MamClient(daemon.endpoint, pure_python=False) as client:
        with pytest.raises(DaemonTimeout, match="client-timeout-1"):
            client.matte(width, height, "RGBA8", pixels, box=[4, 4, 60, 50], request_id="client-timeout-1",
                         timeout=0.2)
        assert client.hello()["protocol"] == 1
    wait_for_log(daemon, "target=client-timeout-1")


def test_evicted_image_is_sent_again():
    """A daemon that keeps no images answers every digest-only matte with unknown_image."""
    width, height = 64, 48
    pixels = np.random.default_rng(3).integers(0, 256, (height, width, 4), np.uint8).tobytes()
    with running_daemon("--image-cache-bytes", "1") as forgetful:
        with MamClient(forgetful.endpoint, pure_python=True) as client:
            first = client.matte(width, height, "RGBA8", pixels, box=[2, 2, 50, 40])
            second = client.matte(width, height, "RGBA8", pixels, box=[2, 2, 50, 40], request_id="again-1")
        log = forgetful.log()
    assert first.sent_pixels and second.sent_pixels and second.alpha == first.alpha
    assert "code=unknown_image" in log and log.count("id=again-1") >= 2


@pytest.mark.parametrize("transport", sorted(TRANSPORTS))
@pytest.mark.parametrize("kind", ["tcp", "ipc"])
def test_daemon_down_is_a_fast_clear_connection_error(transport, kind, tmp_path: Path):
    endpoint = f"tcp://127.0.0.1:{free_port()}" if kind == "tcp" else f"ipc://{tmp_path}/absent.sock"
    client = MamClient(endpoint, pure_python=TRANSPORTS[transport], connect_timeout=30)
    started = time.monotonic()
    with pytest.raises(ConnectionError) as info:
        client.hello()
    # a refused connection is reported at once, not after connect_timeout (30 s) runs out
    assert time.monotonic() - started < 10
    message = str(info.value)
    assert isinstance(info.value, DaemonUnavailable) and "not running" in message
    assert f"mam-server --endpoint {endpoint}" in message and "python -m mam_server.main" in message


def test_curve_daemon_admits_only_known_keys(certificates):
    with running_daemon("--curve-secret-key", certificates["secret_file"], "--curve-authorized-keys",
                        certificates["allowed"], curve_client=certificates["client"]) as secured:
        server_public = certificates["server_public_file"]
        artist = CurveKeys.from_files(server_public, certificates["client_secret_file"])
        with MamClient(secured.endpoint, pure_python=False, curve=artist) as client:
            assert client.hello()["auth"] == "curve"
        stranger = CurveKeys.from_files(server_public, certificates["stranger_secret_file"])
        with MamClient(secured.endpoint, pure_python=False, curve=stranger, connect_timeout=1) as client:
            with pytest.raises(DaemonUnavailable):
                client.hello()
        with MamClient(secured.endpoint, pure_python=True, connect_timeout=1) as client:
            with pytest.raises(DaemonUnavailable, match="CURVE security mechanism.*install pyzmq"):
                client.hello()


@pytest.mark.timeout(300)
@pytest.mark.parametrize("transport", sorted(TRANSPORTS))
def test_daemon_restarted_while_idle_then_killed_mid_request(transport):
    """One client through a daemon's life: restarted between calls (must just work), killed during
    a matte (clear error, no hang), then gone (clear 'not running')."""
    endpoint = f"tcp://127.0.0.1:{free_port()}"
    width, height = 64, 48
    pixels = np.random.default_rng(4).integers(0, 256, (height, width, 4), np.uint8).tobytes()
    with MamClient(endpoint, pure_python=TRANSPORTS[transport]) as client:
        with running_daemon(endpoint=endpoint):
            assert client.status()["queued"] == 0
        with running_daemon(endpoint=endpoint) as doomed:
            time.sleep(0.5)  # an idle plugin: libzmq (pyzmq) has had time to reconnect on its own
            assert client.hello()["protocol"] == 1  # the first call after a restart just works

            def kill(stage, fraction):
                if doomed.proc.poll() is None:
                    doomed.proc.kill()
                    doomed.proc.wait()

            with pytest.raises(DaemonUnavailable, match="lost while waiting for the reply to 'matte'.*mam-server"):
                client.matte(width, height, "RGBA8", pixels, box=[2, 2, 50, 40], on_progress=kill, timeout=120)
            assert client.transport_name is None  # the dead connection was dropped
        with pytest.raises(DaemonUnavailable, match="not running"):
            client.status()
