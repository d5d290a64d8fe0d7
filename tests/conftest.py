"""Shared fixtures: the real test data beside the project, and a tiny random engine."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = ROOT.parent / "shared" / "data"


@pytest.fixture(scope="session")
def shared_data() -> Path:
    if not SHARED_DATA.is_dir():
        pytest.skip(f"real test images not found at {SHARED_DATA} (see ../shared/data/README.md)")
    return SHARED_DATA


def load_rgb(path: Path) -> np.ndarray:
    with Image.open(path) as im:
        return np.asarray(im.convert("RGB"))


@pytest.fixture(scope="session")
def truck(shared_data: Path) -> np.ndarray:
    return load_rgb(shared_data / "sam-notebook-images" / "truck.jpg")


@pytest.fixture(scope="session")
def tiny_engine():
    from mam_engine import MattingEngine

    return MattingEngine(model_type="tiny", random_weights_seed=0, device="cpu")
