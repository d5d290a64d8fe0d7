"""Takes README's screenshots from the real editors under Xvfb in the trixie root (a tool, not a test):

    .venv/bin/python tests/editors/take_screenshots.py      # writes docs/krita_quickstart.png, docs/gimp_quickstart.png
                                                            # and docs/gimp_click.png
    .venv/bin/python tests/editors/take_screenshots.py --only gimp-click    # only docs/gimp_click.png

What an artist sees after the quick start: `mam-install --no-weights` in a fresh HOME, the daemon started from
the command it recorded (no weights: classic mode, which Krita's docker says), a box around the subject of a real
photo (alphamatting.com GT01), then Krita's "Matte to Transparency Mask" and GIMP's "Add Layer Mask from
Subject". docs/gimp_click.png: GIMP's Click to Select dialog on another photo of the set (GT07, a white plush
toy: the red preview shows on it) after four foreground clicks and three background clicks, its matte preview drawn
over the layer; the dialog alone, scaled down. Needs root (chroot) and the editors root.
"""
from __future__ import annotations

import argparse
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
# The click dialog: clicks at layer pixels of the photo (the dialog shows it scaled to fit 960 x 720 at its top-left),
# each made after the previous click's preview was drawn (the dialog's MAM_CLICK_TRACE); then the dialog's geometry
# goes to the host, which grabs the screen, and Esc closes the dialog untouched.
CLICK_PHOTO = "GT07"
GIMP_CLICK_POINTS = [("click", 400, 400), ("click", 400, 200), ("click", 660, 300), ("click", 120, 520),
                     ("shift-click", 700, 120), ("shift-click", 80, 330), ("shift-click", 120, 190)]
GIMP_CLICK = """
import json, os, subprocess, threading, time
import gi
gi.require_version("Gimp", "3.0")
from gi.repository import Gimp, Gio
job = json.load(open(os.environ["MAM_SHOT"]))
trace = os.environ["MAM_CLICK_TRACE"]
image = Gimp.file_load(Gimp.RunMode.NONINTERACTIVE, Gio.File.new_for_path(job["photo"]))
Gimp.Display.new(image)
layer = image.get_layers()[0]


def xdotool(*args):
    return subprocess.run(["xdotool", *[str(a) for a in args]], check=True, timeout=120, capture_output=True,
                          text=True).stdout


def drawn(generation):
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        with open(trace) as f:
            if any(e["event"] == "drawn" and e["overlay"] and e["generation"] == generation
                   for e in map(json.loads, f)):
                return
        time.sleep(0.1)


def drive():
    window = xdotool("search", "--sync", "--onlyvisible", "--name", "Click to Select").split()[-1]
    xdotool("windowfocus", "--sync", window)
    time.sleep(1.0)
    for generation, (kind, x, y) in enumerate(job["clicks"], 1):
        x, y = round((x + 0.5) * job["scale"]), round((y + 0.5) * job["scale"])
        if kind == "click":
            xdotool("mousemove", "--window", window, x, y, "click", 1)
        else:
            xdotool("mousemove", "--window", window, x, y, "keydown", "shift", "click", 1, "keyup", "shift")
        drawn(generation)
    xdotool("mousemove", 1279, 1023)          # the pointer off the dialog
    time.sleep(1.0)
    geometry = dict(line.split("=") for line in xdotool("getwindowgeometry", "--shell", window).split())
    open(job["ready"], "w").write(json.dumps({k: int(v) for k, v in geometry.items()}))
    while not os.path.exists(job["taken"]):
        time.sleep(0.2)
    xdotool("key", "Escape")


helper = threading.Thread(target=drive, daemon=True)
helper.start()
proc = Gimp.get_pdb().lookup_procedure("plug-in-mam-click-select")
config = proc.create_config()
config.set_property("run-mode", Gimp.RunMode.INTERACTIVE)
config.set_property("image", image)
config.set_core_object_array("drawables", [layer])
config.set_property("endpoint", job["endpoint"])
proc.run(config)
helper.join(10)
"""
CLICK_SHOT_WIDTH = 720       # docs/gimp_click.png is scaled to this width (a README image, kept small)
GRAB = ("import sys; from PyQt5.QtWidgets import QApplication; app = QApplication(sys.argv[:1]); "
        "app.primaryScreen().grabWindow(0).save(sys.argv[1])")


def gimp_click_shot(root: Path, home: Path, inside: Path, user_env: list[str], endpoint: str) -> None:
    """docs/gimp_click.png: the Click to Select dialog after GIMP_CLICK_POINTS, cut out of the screen, scaled."""
    source, _gt, _box = ground_truth_photo(CLICK_PHOTO)
    shutil.copy(source, home / f"{CLICK_PHOTO}.png")
    with Image.open(source) as photo:
        scale = min(960 / photo.width, 720 / photo.height)   # gimp_clicks.VIEW_MAX
    click_job = {"photo": str(inside / f"{CLICK_PHOTO}.png"), "endpoint": endpoint, "clicks": GIMP_CLICK_POINTS,
                 "scale": scale,
                 "ready": str(inside / "out" / "click.ready"), "taken": str(inside / "out" / "click.taken")}
    (home / "click.json").write_text(json.dumps(click_job))
    (home / "gimp_click.py").write_text(GIMP_CLICK)
    env = [*user_env, f"MAM_SHOT={inside / 'click.json'}", f"MAM_CLICK_TRACE={inside / 'out' / 'click.trace'}"]
    with mounted_proc(root), virtual_display(root) as display:
        gimp = subprocess.Popen(["chroot", str(root), *env, f"DISPLAY={display}", "gimp-3.0", "--no-splash",
                                 "--batch-interpreter=python-fu-eval", "-b",
                                 f"exec(open('{inside / 'gimp_click.py'}').read())"],
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
        try:
            deadline = time.monotonic() + 600
            while not (home / "out" / "click.ready").exists() and time.monotonic() < deadline:
                time.sleep(1)
            geometry = json.loads((home / "out" / "click.ready").read_text())
            subprocess.run(["chroot", str(root), "env", f"DISPLAY={display}", "python3", "-c", GRAB,
                            str(inside / "out" / "gimp_click.png")], check=True)
            (home / "out" / "click.taken").write_text("taken")
            time.sleep(3)
        finally:
            os.killpg(gimp.pid, signal.SIGKILL)
            gimp.wait()
    x, y, w, h = (geometry[k] for k in ("X", "Y", "WIDTH", "HEIGHT"))
    shot = Image.open(home / "out" / "gimp_click.png").convert("RGB").crop((x, y, x + w, y + h))
    shot = shot.resize((CLICK_SHOT_WIDTH, round(h * CLICK_SHOT_WIDTH / w)), Image.Resampling.LANCZOS)
    target = ROOT / "docs" / "gimp_click.png"
    shot.quantize(256, method=Image.Quantize.MEDIANCUT, dither=Image.Dither.FLOYDSTEINBERG).save(target, optimize=True)
    print(target, shot.size, f"{target.stat().st_size // 1024} KiB")


def main() -> None:
    parser = argparse.ArgumentParser(description="README's screenshots from the real editors")
    parser.add_argument("--only", choices=("quickstart", "gimp-click"), help="take only these (default: all)")
    only = parser.parse_args().only
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
        if only in (None, "gimp-click"):
            gimp_click_shot(root, home, inside, user_env, endpoint)
        if only == "gimp-click":
            return
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
