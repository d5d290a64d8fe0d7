"""The plugins' client library: `prepare` and matte(preview=) against real daemons (tiny random model, classic), in
both transports (protocol revision 1.4)."""
from __future__ import annotations

import threading

import numpy as np
import pytest

from plugins.mam_client import DaemonMatte, DaemonPrepare, MamClient
from support.daemon_harness import rgba8

TRANSPORTS = {"pure-python": True, "pyzmq": False}
BOX = [10, 8, 50, 40]


def _canvas(seed: int) -> bytes:
    return rgba8(np.random.default_rng(seed).integers(0, 256, (48, 64, 3), dtype=np.uint8))


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_prepare_then_click_sends_only_the_digest_and_skips_the_encoder(daemon, transport):
    pixels = _canvas(30 + len(transport))
    with MamClient(daemon.endpoint, pure_python=TRANSPORTS[transport]) as client:
        waited = client.prepare(64, 48, "RGBA8", pixels, wait=True)
        again = client.prepare(64, 48, "RGBA8", memoryview(pixels))  # returns at `queued`
        click = client.matte(64, 48, "RGBA8", pixels, box=BOX)
        preview = client.matte(64, 48, "RGBA8", pixels, box=BOX, preview=20)
    assert isinstance(waited, DaemonPrepare)
    assert waited.prepared is True and waited.sent_pixels and "encode" in waited.timings
    assert again.prepared is None and not again.sent_pixels and again.digest == waited.digest
    assert not click.sent_pixels and "encode" not in click.timings
    assert (click.scale, click.window_width, click.window_height) == (1, 64, 48)
    p = preview
    assert (p.scale, p.width, p.height, p.window_width, p.window_height, len(p.alpha)) == (4, 16, 12, 64, 48, 16 * 12)
    block = np.frombuffer(click.alpha, np.uint8).reshape(48, 64)[:4, :4].astype(np.int64)
    assert p.alpha[0] == (2 * int(block.sum()) + 16) // 32  # the first 4x4 block's rounded mean


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_classic_daemon_answers_prepared_false_and_the_click_uploads(classic_daemon, transport):
    pixels = _canvas(40 + len(transport))
    with MamClient(classic_daemon.endpoint, pure_python=TRANSPORTS[transport]) as client:
        answer = client.prepare(64, 48, "RGBA8", pixels)
        click = client.matte(64, 48, "RGBA8", pixels, box=BOX)
    assert answer.prepared is False and "classic" in answer.reason
    assert click.sent_pixels  # the daemon kept nothing, so the client did not skip the upload


def test_a_queued_prepare_is_cancelled_by_its_request_id(daemon):
    with MamClient(daemon.endpoint, pure_python=True) as client, MamClient(daemon.endpoint) as busy:
        started = threading.Event()
        results: list[object] = []

        def keep_busy() -> None:
            try:
                results.append(busy.matte(64, 48, "RGBA8", _canvas(50), box=BOX,
                                          on_progress=lambda stage, _: started.set() if stage == "start" else None))
            except BaseException as exc:  # surfaced below
                results.append(exc)

        thread = threading.Thread(target=keep_busy)
        thread.start()
        assert started.wait(120)
        queued = client.prepare(64, 48, "RGBA8", _canvas(51))
        state = client.cancel(queued.request_id)
        thread.join()
    assert queued.prepared is None and state == "queued"
    assert len(results) == 1 and isinstance(results[0], DaemonMatte), results


def test_bad_preview_is_a_caller_error():
    client = MamClient("tcp://127.0.0.1:1")
    with pytest.raises(ValueError, match="preview"):
        client.matte(64, 48, "RGBA8", _canvas(60), box=BOX, preview=8)
