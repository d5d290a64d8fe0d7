"""Takes README's screenshots from the real editors under Xvfb in the trixie root (a tool, not a test):

    .venv/bin/python tests/editors/take_screenshots.py      # writes docs/krita_quickstart.png, docs/gimp_quickstart.png

What an artist sees after the quick start: `mam-install --no-weights` in a fresh HOME, the daemon started from
the command it recorded (no weights: classic mode, which Krita's docker says), a box around the subject of a real
photo (alphamatting.com GT01), then Krita's "Matte to Transparency Mask" and GIMP's "Add Layer Mask from
Subject". Needs root (chroot) and the editors root.
"""
from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tests"))

from PIL import Image  # noqa: E402

from mam_server.install import kritarc  # noqa: E402
from support.daemon_harness import WireClient, free_port  # noqa: E402
from support.editor_chroot import (  # noqa: E402
    editors_root_or_skip,
    ground_truth_photo,
    mounted_proc,
    virtual_display,
)

BIN = Path(sys.executable).parent
GIMP_SHOW = """
import json, os, time
import gi
gi.require_version("Gimp", "3.0")
from gi.repository import Gimp, Gio
job = json.load(open(os.environ["MAM_SHOT"]))
image = Gimp.file_load(Gimp.RunMode.NONINTERACTIVE, Gio.File.new_for_path(job["photo"]))
Gimp.Display.new(image)
layer = image.get_layers()[0]
x0, y0, x1, y1 = job["box"]
image.select_rectangle(Gimp.ChannelOps.REPLACE, x0, y0, x1 - x0, y1 - y0)
proc = Gimp.get_pdb().lookup_procedure("plug-in-mam-add-layer-mask")
config = proc.create_config()
config.set_property("run-mode", Gimp.RunMode.NONINTERACTIVE)
config.set_property("image", image)
config.set_core_object_array("drawables", [layer])
config.set_property("endpoint", job["endpoint"])
config.set_property("replace-mask", True)
proc.run(config)
Gimp.Selection.none(image)
Gimp.displays_flush()
open(job["ready"], "w").write("ready")
time.sleep(60)
"""
GRAB = ("import sys; from PyQt5.QtWidgets import QApplication; app = QApplication(sys.argv[:1]); "
        "app.primaryScreen().grabWindow(0).save(sys.argv[1])")


def main() -> None:
    root = editors_root_or_skip("screenshots", "trixie")
    source, _gt, box = ground_truth_photo("GT01")
    home = Path(tempfile.mkdtemp(prefix="mam-shots-", dir=root / "tmp"))
    inside = Path("/") / home.relative_to(root)
    env = {**{k: v for k, v in os.environ.items() if not k.startswith("XDG_")}, "HOME": str(home),
           "MAM_WEIGHTS_DIR": str(home / "weights")}
    endpoint = f"tcp://127.0.0.1:{free_port()}"
    subprocess.run([str(BIN / "mam-install"), "--no-weights", "--endpoint", endpoint], env=env, check=True,
                   capture_output=True)
    record = json.loads((home / ".local/share/mam-backend/install.json").read_text())
    pykrita = home / ".local/share/krita/pykrita"
    (pykrita / "mam_install_probe").mkdir()
    shutil.copy(ROOT / "tests/editors/krita_install_probe.py", pykrita / "mam_install_probe/__init__.py")
    (pykrita / "mam_install_probe.desktop").write_text(
        "[Desktop Entry]\nType=Service\nServiceTypes=Krita/PythonPlugin\nX-KDE-Library=mam_install_probe\n"
        "X-Python-2-Compatible=false\nName=MAM install probe\nComment=screenshots\n")
    rc = home / ".config/kritarc"
    rc.write_text(kritarc.set_keys(rc.read_text(), "python", {"enable_mam_install_probe": "true"}))
    shutil.copy(source, home / "GT01.png")
    (home / "out").mkdir()
    (home / "tmp").mkdir()
    job = {"photo": str(inside / "GT01.png"), "box": box, "endpoint": endpoint, "out": str(inside / "out"),
           "screenshot": str(inside / "out" / "krita.png"), "ready": str(inside / "out" / "gimp.ready")}
    (home / "job.json").write_text(json.dumps(job))
    (home / "gimp_show.py").write_text(GIMP_SHOW)
    daemon = subprocess.Popen(record["server_argv"], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    user_env = ["env", f"HOME={inside}", f"TMPDIR={inside / 'tmp'}", f"MAM_INSTALL_PROBE={inside / 'job.json'}",
                f"MAM_SHOT={inside / 'job.json'}"]
    try:
        with WireClient(endpoint) as client:
            client.hello()
        with mounted_proc(root), virtual_display(root) as display:
            krita = subprocess.Popen(["chroot", str(root), *user_env, f"DISPLAY={display}", "krita", "--nosplash"],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
            krita.wait(400)
        with mounted_proc(root), virtual_display(root) as display:
            gimp = subprocess.Popen(["chroot", str(root), *user_env, f"DISPLAY={display}", "gimp-3.0", "--no-splash",
                                     "--batch-interpreter=python-fu-eval", "-b",
                                     f"exec(open('{inside / 'gimp_show.py'}').read())"],
                                    stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
            deadline = time.monotonic() + 300
            while not (home / "out" / "gimp.ready").exists() and time.monotonic() < deadline:
                time.sleep(1)
            time.sleep(5)
            subprocess.run(["chroot", str(root), "env", f"DISPLAY={display}", "python3", "-c", GRAB,
                            str(inside / "out" / "gimp.png")], check=True)
            os.killpg(gimp.pid, signal.SIGKILL)
            gimp.wait()
        for name in ("krita", "gimp"):
            shot = Image.open(home / "out" / f"{name}.png").convert("RGB")
            box = shot.point(lambda v: 255 if v > 0 else 0).getbbox()   # the window: the empty screen is black
            target = ROOT / "docs" / f"{name}_quickstart.png"
            shot.crop(box).save(target, optimize=True)
            print(target, shot.crop(box).size)
    finally:
        daemon.send_signal(signal.SIGTERM)
        daemon.wait(60)
        shutil.rmtree(home, ignore_errors=True)


if __name__ == "__main__":
    main()
