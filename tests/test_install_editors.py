"""mam-install for a non-root artist, checked by the real editors of each root of the matrix (Krita 5.2.9 + GIMP
3.0.4 in trixie, Krita 5.3.x + GIMP 3.2.x in sid).

The artist (uid 4242, a fresh HOME) runs the host's mam-install and mam-install --dry-run; the HOME is then
bind-mounted into the root at the same path and the editors run there as that same user: Krita loads mam_krita
(kritarc enabled it: its actions and docker exist) and reads the Start server command the installer wrote; GIMP
registers the three procedures from the profile's plug-ins folder. The daemon is started with exactly the command
the installer recorded (no weights: --backend auto runs classic, which Krita's docker shows), and a matte from each
editor comes back as a layer mask close to the photo's ground truth. --uninstall then leaves none of it behind.
"""
from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import pytest

from mam_server.install import kritarc
from support.daemon_harness import WireClient, free_port
from support.editor_chroot import (
    SUITES,
    editors_root_or_skip,
    gimp_series,
    ground_truth_photo,
    mounted_proc,
    virtual_display,
)

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
KRITA_PROBE = ROOT / "tests" / "editors" / "krita_install_probe.py"
GIMP_PROBE = ROOT / "tests" / "editors" / "gimp_install_probe.py"
UID, USER = 4242, "mamartist"
PHOTO = "GT01"
MIN_IOU = 0.95   # classic matte (GrabCut + closed-form) vs the ground truth, both cut at 50 % (0.997 seen)

pytestmark = [pytest.mark.editors, pytest.mark.timeout(1800)]


@pytest.fixture(scope="module", params=SUITES)
def editors_root(request) -> Path:
    return editors_root_or_skip("Krita and GIMP", request.param)


def as_artist(home: Path, *cmd: str) -> subprocess.CompletedProcess:
    env = ["env", "-i", f"HOME={home}", "PATH=/usr/bin:/bin", f"MAM_WEIGHTS_DIR={home / 'weights'}", "LANG=C.UTF-8"]
    # uid 4242 with one capability, to read (never write) past root-only folders such as a pyenv under /root
    # that holds this venv's interpreter; everything it writes is the artist's own.
    return subprocess.run(["setpriv", f"--reuid={UID}", f"--regid={UID}", "--clear-groups",
                           "--inh-caps=+dac_read_search", "--ambient-caps=+dac_read_search", *env, *cmd],
                          capture_output=True, text=True, timeout=300)


def snapshot(home: Path) -> list[tuple[str, int]]:
    return sorted((str(p.relative_to(home)), p.stat().st_size if p.is_file() else -1) for p in home.rglob("*"))


@contextlib.contextmanager
def artist_home(root: Path):
    """A fresh HOME owned by the artist, visible at the same path on the host and inside the root."""
    if subprocess.run(["chroot", str(root), "id", "-u", USER], capture_output=True).returncode != 0:
        subprocess.run(["chroot", str(root), "useradd", "--uid", str(UID), "--user-group", "--no-create-home",
                        "--home-dir", "/nonexistent", USER], check=True)
    home = Path(tempfile.mkdtemp(prefix="mam-artist-", dir="/tmp"))
    os.chown(home, UID, UID)
    inside = root / home.relative_to("/")
    inside.mkdir()
    subprocess.run(["mount", "--bind", str(home), str(inside)], check=True)
    try:
        yield home
    finally:
        if subprocess.run(["umount", str(inside)], capture_output=True).returncode != 0:
            subprocess.run(["umount", "-l", str(inside)], check=True)
        inside.rmdir()
        shutil.rmtree(home, ignore_errors=True)


def iou(mask: np.ndarray, gt: np.ndarray) -> float:
    a, b = mask >= 128, gt >= 128
    return float((a & b).sum() / max((a | b).sum(), 1))


def test_artist_install_works_in_both_editors_and_uninstalls_cleanly(editors_root, tmp_path):
    root = editors_root
    series = gimp_series(root)
    source, gt, box = ground_truth_photo(PHOTO)
    endpoint = f"tcp://127.0.0.1:{free_port()}"
    with artist_home(root) as home:
        dry = as_artist(home, str(BIN / "mam-install"), "--dry-run", "--endpoint", endpoint, "--gimp-version", series)
        assert dry.returncode == 0 and "would Krita" in dry.stdout, dry.stdout + dry.stderr
        assert snapshot(home) == []
        done = as_artist(home, str(BIN / "mam-install"), "--no-weights", "--endpoint", endpoint,
                         "--gimp-version", series)
        assert done.returncode == 0, done.stdout + done.stderr
        record = json.loads((home / ".local" / "share" / "mam-backend" / "install.json").read_text())

        # test scaffolding, not the product: a probe plugin next to mam_krita, the photo, the probes' configs
        pykrita = home / ".local" / "share" / "krita" / "pykrita"
        (pykrita / "mam_install_probe").mkdir()
        shutil.copy(KRITA_PROBE, pykrita / "mam_install_probe" / "__init__.py")
        (pykrita / "mam_install_probe.desktop").write_text(
            "[Desktop Entry]\nType=Service\nServiceTypes=Krita/PythonPlugin\nX-KDE-Library=mam_install_probe\n"
            "X-Python-2-Compatible=false\nName=MAM install probe\nComment=test probe\n")
        rc = home / ".config" / "kritarc"
        rc.write_text(kritarc.set_keys(rc.read_text(), "python", {"enable_mam_install_probe": "true"}))
        work = home / "work"
        (work / "out").mkdir(parents=True)
        (home / "tmp").mkdir()
        shutil.copy(source, work / f"{PHOTO}.png")
        shutil.copy(GIMP_PROBE, work / "gimp_probe.py")
        (work / "job.json").write_text(json.dumps({"photo": str(work / f"{PHOTO}.png"), "box": box,
                                                   "endpoint": endpoint, "out": str(work / "out")}))
        subprocess.run(["chown", "-R", f"{UID}:{UID}", str(home)], check=True)

        log_path = tmp_path / "daemon.log"
        env = {k: v for k, v in os.environ.items() if not k.startswith("XDG_")}
        with open(log_path, "wb") as log:   # exactly the command the installer recorded
            daemon = subprocess.Popen(record["server_argv"], stdout=log, stderr=subprocess.STDOUT,
                                      env={**env, "HOME": str(home), "MAM_WEIGHTS_DIR": str(home / "weights")})
        try:
            with WireClient(endpoint) as client:
                hello = client.hello().header
            assert hello["model"]["backend"] == "classic", hello
            user = ["chroot", f"--userspec={UID}:{UID}", str(root), "env", f"HOME={home}", f"TMPDIR={home / 'tmp'}",
                    f"MAM_INSTALL_PROBE={work / 'job.json'}"]
            with mounted_proc(root):
                gimp = subprocess.run([*user, f"gimp-console-{series}", "-i", "--batch-interpreter=python-fu-eval",
                                       "-b", f"exec(open('{work / 'gimp_probe.py'}').read())", "--quit"],
                                      capture_output=True, text=True, timeout=400)
                with virtual_display(root) as display:
                    krita = subprocess.Popen([*user, f"DISPLAY={display}", "krita", "--nosplash"],
                                             stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                                             start_new_session=True)
                    try:
                        krita_log, _ = krita.communicate(timeout=400)
                    except subprocess.TimeoutExpired:
                        os.killpg(krita.pid, signal.SIGKILL)
                        krita_log, _ = krita.communicate()
        finally:
            daemon.send_signal(signal.SIGTERM)
            daemon.wait(60)
        daemon_log = log_path.read_text(errors="replace")

        out = work / "out"
        assert (out / "gimp.json").exists(), gimp.stdout[-3000:] + gimp.stderr[-3000:]
        g = json.loads((out / "gimp.json").read_text())
        assert "error" not in g, g["error"]
        assert g["procedures"] == ["plug-in-mam-add-layer-mask", "plug-in-mam-select-subject",
                                   "plug-in-mam-extract-subject"], g
        assert g["status"] == "success", g
        gimp_mask = np.frombuffer((out / "gimp_mask.bin").read_bytes(), np.uint8).reshape(gt.shape)

        assert (out / "krita.json").exists(), krita_log[-5000:]
        k = json.loads((out / "krita.json").read_text())
        assert "error" not in k, k["error"] + krita_log[-3000:]
        assert k["actions"] == ["mam_select_subject", "mam_matte_to_mask", "mam_extract_subject"], k
        assert k["dockers"] == ["mam_krita_docker"], k
        assert k["server_argv"] == record["server_argv"], k            # Start server: the full command, no PATH
        assert any("CLASSIC MODE" in line and "--backend auto" in line for line in k["daemon_line"]), k
        assert k["outcome"][0] == "applied", k
        krita_mask = np.frombuffer((out / "krita_mask.bin").read_bytes(), np.uint8).reshape(gt.shape)

        scores = {"gimp": iou(gimp_mask, gt), "krita": iou(krita_mask, gt)}
        print(f"{root.name}: IoU with the ground truth {scores}")
        assert min(scores.values()) >= MIN_IOU, scores
        assert "name='gimp'" in daemon_log and "name='mam_krita'" in daemon_log
        assert daemon_log.count("event=matte_done") >= 2, daemon_log[-3000:]

        shutil.rmtree(pykrita / "mam_install_probe")                   # the scaffolding goes first
        (pykrita / "mam_install_probe.desktop").unlink()
        gone = as_artist(home, str(BIN / "mam-install"), "--uninstall")
        assert gone.returncode == 0, gone.stdout + gone.stderr
        left = [p for p, _ in snapshot(home) if "mam_krita" in p or "mam_gimp" in p or "mam-backend" in p]
        assert left == [], left
        text = rc.read_text() if rc.exists() else ""
        assert "mam_krita" not in text, text
