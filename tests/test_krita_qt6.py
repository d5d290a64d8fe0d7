"""The Krita plugin under PyQt6 (Krita 6 is Qt6; Debian has no Krita 6, but it has python3-pyqt6): in the sid
root's Python, with PyQt6 loaded first as Krita 6 would, every mam_krita module imports through the one Qt shim
(mam_krita/qt.py), the plugin registers its extension and docker, and the docker builds and reports, through
its hello thread's Qt signals, that no daemon answers. Krita's own API is a stand-in there (tests/editors/
krita_qt6_probe.py); the Krita 5.2/5.3 end-to-end tests run the same plugin on PyQt5 in real Krita."""
from __future__ import annotations

import json
import shutil
import subprocess
import uuid
from pathlib import Path

import pytest

from support.daemon_harness import free_port
from support.editor_chroot import editors_root_or_skip

ROOT = Path(__file__).resolve().parents[1]
PROBE = ROOT / "tests" / "editors" / "krita_qt6_probe.py"

pytestmark = [pytest.mark.editors, pytest.mark.timeout(900)]


def test_plugin_imports_and_its_docker_builds_under_pyqt6():
    root = editors_root_or_skip("PyQt6 (python3-pyqt6)", "sid")
    work_in_root = Path("/tmp") / f"mam-qt6-{uuid.uuid4().hex[:8]}"
    work = root / work_in_root.relative_to("/")
    try:
        shutil.copytree(ROOT / "plugins" / "krita" / "mam_krita", work / "mam_krita",
                        ignore=shutil.ignore_patterns("__pycache__"))
        shutil.copytree(ROOT / "plugins" / "mam_client", work / "mam_krita" / "mam_client",
                        ignore=shutil.ignore_patterns("__pycache__"))
        shutil.copy(PROBE, work / "probe.py")
        dead = f"tcp://127.0.0.1:{free_port()}"
        run = subprocess.run(["chroot", str(root), "env", "QT_QPA_PLATFORM=offscreen", f"HOME={work_in_root}",
                              "python3", str(work_in_root / "probe.py"), str(work_in_root), dead],
                             capture_output=True, text=True, timeout=120)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    report = json.loads(run.stdout.strip().splitlines()[-1])
    assert report["qt_major"] == 6 and report["binding"] == "PyQt6.QtCore" and not report["pyqt5_loaded"], report
    assert report["extensions"] == ["MamExtension"] and report["docker"] == "MamDocker", report
    assert {"Start server", "Check", "Cancel", "Select Subject"} <= set(report["buttons"]), report
    assert "not reachable at " + dead in report["daemon_line"], report
