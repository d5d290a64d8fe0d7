"""The client library's quality options against a real weight-free daemon (`--backend classic`), both transports."""
from __future__ import annotations

import numpy as np
import pytest

from plugins.mam_client import MamClient, MamError
from support.daemon_harness import CLASSIC_BACKEND, WorkerThreadEngine, rgba8, running_daemon, small_photo


def test_both_transports_get_the_in_process_foreground_and_alpha():
    image = small_photo("GT01.png")
    height, width = image.shape[:2]
    pixels = rgba8(image)
    box = [width * 0.02, height * 0.08, width * 0.99, height * 0.99]
    reference = WorkerThreadEngine(backend="classic")
    try:
        with running_daemon(model=CLASSIC_BACKEND) as daemon, \
                MamClient(daemon.endpoint, pure_python=True) as pure, \
                MamClient(daemon.endpoint, pure_python=False) as pyz:
            hello = pure.hello()
            results = [pure.matte(width, height, "RGBA8", pixels, box=box, foreground=True),
                       pyz.matte(width, height, "RGBA8", pixels, box=box, refine="classic", refine_band=5,
                                 foreground=True, crop=True)]
            assert (pure.transport_name, pyz.transport_name) == ("pure-python", "pyzmq")
            with pytest.raises(MamError) as info:
                pure.matte(width, height, "RGBA8", pixels, box=box, refine_band=100000)
        expected = [reference.matte(image, box=box, foreground=True),
                    reference.matte(image, box=box, refine_band=5, foreground=True)]
    finally:
        reference.close()

    assert hello["model"]["backend"] == "classic" and "no neural weights" in hello["model"]["mode"]
    assert "foreground" in hello["features"] and "refine:classic" in hello["features"]
    assert info.value.code == "bad_request" and "out of range" in info.value.message
    for result, want in zip(results, expected):
        x, y, w, h = result.x, result.y, result.width, result.height
        alpha = np.frombuffer(result.alpha, np.uint8).reshape(h, w)
        colours = np.frombuffer(result.foreground, np.uint8).reshape(h, w, 3)
        assert np.array_equal(alpha, np.round(want.alpha * 255).astype(np.uint8)[y:y + h, x:x + w])
        assert np.array_equal(colours, want.foreground[y:y + h, x:x + w])
        assert result.notes == want.notes
    assert results[0].width == width and results[1].width * results[1].height < width * height
