"""Shared fixtures: the real test data beside the project, a tiny random engine, real daemons (one per module)."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from support.daemon_harness import CLASSIC_BACKEND, running_daemon
from support.missing_parts import skip_or_fail

ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = ROOT.parent / "shared" / "data"


@pytest.fixture(scope="session")
def shared_data() -> Path:
    if not SHARED_DATA.is_dir():
        skip_or_fail(f"real test images not found at {SHARED_DATA} (see ../shared/data/README.md)")
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


@pytest.fixture(scope="module")
def daemon():
    """A real mam-server process with the tiny random model; modules needing other flags define their own."""
    with running_daemon() as d:
        yield d


@pytest.fixture(scope="module")
def classic_daemon():
    """A real daemon that runs without any weights (--backend classic)."""
    with running_daemon(model=CLASSIC_BACKEND) as d:
        yield d


@pytest.fixture
def certificates(tmp_path):
    """CURVE keys for a daemon, an allowed client and a stranger: as dicts for the harness, and the files."""
    import zmq.auth

    keys, allowed = tmp_path / "keys", tmp_path / "allowed"
    keys.mkdir()
    allowed.mkdir()
    server_public, server_secret = zmq.auth.create_certificates(keys, "server")
    client_public, client_secret = zmq.auth.create_certificates(keys, "client")
    stranger_public, stranger_secret = zmq.auth.create_certificates(keys, "stranger")
    (allowed / "client.key").write_bytes(Path(client_public).read_bytes())
    server_key, _ = zmq.auth.load_certificate(server_public)

    def client(secret: str) -> dict:
        pub, sec = zmq.auth.load_certificate(secret)
        return {"public": pub, "secret": sec, "server": server_key}

    return {"secret_file": server_secret, "allowed": str(allowed), "server_public_file": server_public,
            "client_secret_file": client_secret, "stranger_secret_file": stranger_secret,
            "client": client(client_secret), "stranger": client(stranger_secret)}
