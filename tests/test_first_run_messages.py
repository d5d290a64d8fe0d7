"""What a new user without weights is told (issue 15): every command names the mode that works with none."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
from PIL import Image

from support.daemon_harness import free_port

BIN = Path(sys.executable).parent


def _run(tmp_path: Path, *cmd: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "MAM_WEIGHTS_DIR": str(tmp_path / "no-weights")}
    return subprocess.run(list(cmd), capture_output=True, text=True, env=env, timeout=300)


def test_weights_list_gives_the_published_approximate_size_of_mam_sam_vitb(tmp_path):
    out = _run(tmp_path, str(BIN / "mam-weights"), "list").stdout
    (line,) = [row for row in out.splitlines() if row.startswith("mam_sam_vitb.pth")]
    assert "~408.0 MB" in line and "unknown" not in line, line


def test_mam_matte_without_weights_names_the_classic_backend(tmp_path):
    photo = tmp_path / "p.png"
    Image.fromarray(np.zeros((20, 20, 3), np.uint8)).save(photo)
    done = _run(tmp_path, str(BIN / "mam-matte"), str(photo), "--box", "1,1,10,10", "-o", str(tmp_path / "a.png"))
    assert done.returncode == 1 and "--backend classic needs none" in done.stderr, done.stderr


def test_mam_server_backend_mam_without_weights_names_classic_and_auto(tmp_path):
    done = _run(tmp_path, str(BIN / "mam-server"), "--backend", "mam", "--endpoint",
                f"tcp://127.0.0.1:{free_port()}")
    assert done.returncode == 1, done.stderr
    assert "cannot load the model" in done.stderr and "mam-weights download vit_b" in done.stderr
    assert "mam-server --backend classic" in done.stderr
