"""The classic backend answers one request with one matte, whatever was asked before and on whichever thread."""
import threading

import numpy as np
from conftest import load_rgb

from mam_engine import MattingEngine


def test_same_request_same_matte(shared_data):
    image = load_rgb(shared_data / "alphamatting-lowres" / "input" / "GT01.png")[::3, ::3].copy()
    h, w = image.shape[:2]
    box = (w * 0.2, h * 0.1, w * 0.8, h * 0.95)
    engine = MattingEngine(backend="classic")
    first, second = engine.matte(image, box=box).alpha, engine.matte(image, box=box).alpha
    other = []
    worker = threading.Thread(target=lambda: other.append(engine.matte(image, box=box).alpha))
    worker.start()
    worker.join()
    assert np.array_equal(first, second) and np.array_equal(first, other[0])
