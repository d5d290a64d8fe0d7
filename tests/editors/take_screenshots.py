"""Takes README's screenshots from the real editors under Xvfb in the trixie root (a tool, not a test):

    .venv/bin/python tests/editors/take_screenshots.py      # writes docs/krita_quickstart.png, docs/gimp_quickstart.png
                                                            # docs/gimp_click.png, docs/krita_click.png and
                                                            # docs/krita_plugin.png
    .venv/bin/python tests/editors/take_screenshots.py --only gimp-click    # only docs/gimp_click.png
    .venv/bin/python tests/editors/take_screenshots.py --only krita         # both Krita shots (one Krita session)
    .venv/bin/python tests/editors/take_screenshots.py --only krita-click   # or --only krita-plugin: one of them

What an artist sees after the quick start: `mam-install --no-weights` in a fresh HOME, the daemon started from
the command it recorded (no weights: classic mode, which Krita's docker says), a box around the subject of a real
photo (alphamatting.com GT01), then Krita's "Matte to Transparency Mask" and GIMP's "Add Layer Mask from
Subject". docs/gimp_click.png: GIMP's Click to Select dialog on another photo of the set (GT07, a white plush
toy: the red preview shows on it) after four foreground clicks and three background clicks, its matte preview drawn
over the layer; the dialog alone, scaled down. docs/krita_click.png: Krita 5.2.9's window with Click to select on
the same photo, started by Ctrl+Shift+K, after four clicks and two Shift+clicks (real X input, xdotool), the blue
preview and the points drawn over the canvas, the docker next to it. docs/krita_plugin.png: the same window with
the Select menu open (the plugin's four entries at its bottom). Needs root (chroot) and the editors root.
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
# Krita's shots (docs/krita_click.png, docs/krita_plugin.png): a second plugin next to the installed mam_krita, in one
# Krita session under Xvfb. It opens the photo fitted to the view, lets the docker's scheduler `prepare` it, then
# drives Click to select with real input (xdotool, as tests/editors/krita_click_driver.py does): Ctrl+Shift+K, the
# clicks and Shift+clicks in image pixels, each after the previous preview came back; grabs the screen; Esc; then
# clicks the menu bar's Select, points at Click to Select and grabs the screen with the menu open. Only the toolbox,
# Layers and the plugin's docker are shown (room for the docker's rows); the window fills Xvfb's screen (no window
# manager to maximize it) and its rectangle goes to the host in shots.json for the crop.
KRITA_CLICK_POINTS = [("click", 400, 400), ("click", 400, 200), ("click", 660, 300), ("click", 120, 520),
                      ("shift-click", 700, 120), ("shift-click", 80, 330)]
KRITA_SHOTS = """
import json, os, subprocess, time, traceback
from krita import Extension, Krita
from PyQt5.QtCore import QPoint, QTimer
from PyQt5.QtWidgets import QApplication, QLabel, QMenuBar

CONFIG = os.environ.get("MAM_KRITA_SHOTS", "")


def wait_for(condition, timeout_s, what):
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out after {timeout_s} s waiting for {what}")
        yield 50


def pause(ms):
    deadline = time.monotonic() + ms / 1000.0
    while time.monotonic() < deadline:
        yield 20


def step(scenario):
    try:
        delay = next(scenario)
    except StopIteration:
        return
    QTimer.singleShot(delay, lambda: step(scenario))


def xdotool(*args):
    subprocess.run(["xdotool", *[str(a) for a in args]], check=True, timeout=30)


def rect(widget):
    top_left = widget.mapToGlobal(QPoint(0, 0))
    return [top_left.x(), top_left.y(), widget.width(), widget.height()]


def only_dockers(k, docker_id):      # the toolbox, the layers and the plugin's docker: room for its rows
    for d in k.dockers():
        d.setVisible(d.objectName() in ("ToolBox", "KisLayerBox", docker_id))
        d.toggleViewAction().setChecked(d.isVisible())


def grab(path):
    QApplication.primaryScreen().grabWindow(0).save(path)


def main(cfg):
    k = Krita.instance()
    window = k.activeWindow()
    res = {}
    try:
        from mam_krita.click_mode import find_canvas_widget, shared_click_mode, view_image_to_widget
        from mam_krita.docker import DOCKER_ID
        window.qwindow().setGeometry(QApplication.primaryScreen().availableGeometry())   # no window manager
        window.qwindow().activateWindow()
        docker = [d for d in k.dockers() if d.objectName() == DOCKER_ID][0]
        yield from pause(1000)
        only_dockers(k, DOCKER_ID)
        yield from wait_for(lambda: any(label.text().startswith("Daemon: connected")
                                        for label in docker.findChildren(QLabel)), 60, "the daemon's hello")
        doc = k.openDocument(cfg["photo"])
        window.addView(doc)
        yield from wait_for(lambda: doc.activeNode() is not None, 30, "the view's active layer")
        doc.waitForDone()
        only_dockers(k, DOCKER_ID)
        yield from pause(1000)
        widget = find_canvas_widget(window)
        canvas = window.activeView().canvas()
        canvas.setZoomLevel(0.97 * min(widget.width() / doc.width(), widget.height() / doc.height()))
        for name in ("zoom_to_fit", "zoom_to_page"):
            if k.action(name) is not None:
                k.action(name).trigger()
                break
        yield from pause(1000)
        mode = shared_click_mode()
        yield from wait_for(lambda: any(t.startswith("prepare ") for t in mode.scheduler.log), 90, "the prepare")
        from mam_krita.mam_client import MamClient

        def idle():
            with MamClient(cfg["endpoint"], timeout=5.0) as client:
                status = client.status()
            return status["queued"] == 0 and status["running"] == 0
        yield from wait_for(idle, 120, "the daemon to finish the prepare")
        xdotool("windowfocus", "--sync", int(window.qwindow().winId()))
        xdotool("key", "ctrl+shift+k")
        yield from wait_for(lambda: mode.active, 20, "Ctrl+Shift+K")
        view = window.activeView()
        for n, (kind, x, y) in enumerate(cfg["clicks"], 1):
            wx, wy = view_image_to_widget(view, doc).map(x + 0.5, y + 0.5)
            g = widget.mapToGlobal(QPoint(int(round(wx)), int(round(wy))))
            xdotool("mousemove", "--sync", g.x(), g.y())
            if kind == "click":
                xdotool("click", 1)
            else:
                xdotool("keydown", "shift", "click", 1, "keyup", "shift")
            yield from wait_for(lambda: len(mode.stats) >= n or mode.last_error, 240, f"preview {n}")
            if mode.last_error:
                raise RuntimeError(mode.last_error)
        res["points"] = [list(p) for p in mode.prompts.points]
        xdotool("mousemove", "--sync", 1279, 1023)
        yield from pause(1500)
        res["window"] = rect(window.qwindow())
        grab(cfg["click_shot"])
        xdotool("windowfocus", "--sync", int(window.qwindow().winId()))
        xdotool("key", "Escape")
        yield from wait_for(lambda: not mode.active, 20, "Esc")
        yield from pause(800)
        bar = window.qwindow().findChild(QMenuBar)
        select = [a for a in bar.actions() if a.text().replace("&", "") == "Select"][0]
        r = bar.actionGeometry(select)
        g = bar.mapToGlobal(r.center())
        xdotool("mousemove", "--sync", g.x(), g.y())
        xdotool("click", 1)
        yield from wait_for(lambda: QApplication.activePopupWidget() is not None, 20, "the Select menu")
        menu = QApplication.activePopupWidget()
        yield from pause(800)
        target = [a for a in menu.actions() if a.text() == cfg["hover"]]
        if target:
            h = menu.actionGeometry(target[0])
            g = menu.mapToGlobal(h.center())
            xdotool("mousemove", "--sync", g.x(), g.y())
            menu.setActiveAction(target[0])
        yield from pause(1200)
        res["menu"] = rect(menu)
        res["menu_texts"] = [a.text() for a in menu.actions() if not a.isSeparator()]
        grab(cfg["menu_shot"])
        xdotool("key", "Escape")
        doc.setModified(False)
    except Exception:
        res["error"] = traceback.format_exc()
    with open(cfg["results"] + ".tmp", "w") as f:
        json.dump(res, f)
    os.replace(cfg["results"] + ".tmp", cfg["results"])
    os._exit(0)


class Shots(Extension):
    def setup(self):
        pass

    def createActions(self, window):
        if CONFIG and window is not None:
            with open(CONFIG) as f:
                config = json.load(f)
            QTimer.singleShot(1000, lambda: step(main(config)))


Krita.instance().addExtension(Shots(Krita.instance()))
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


def krita_shots(root: Path, home: Path, inside: Path, endpoint: str, only: str | None) -> None:
    """docs/krita_click.png (Click to select after KRITA_CLICK_POINTS, the preview and the docker) and
    docs/krita_plugin.png (the Select menu open: the plugin's actions at its bottom, and the docker), from one Krita
    session with the plugin that mam-install put in place, talking to the quick start's daemon."""
    source, _gt, _box = ground_truth_photo(CLICK_PHOTO)
    shutil.copy(source, home / f"{CLICK_PHOTO}.png")
    pykrita = home / ".local/share/krita/pykrita"
    (pykrita / "mam_shots").mkdir(exist_ok=True)
    (pykrita / "mam_shots/__init__.py").write_text(KRITA_SHOTS)
    (pykrita / "mam_shots.desktop").write_text(
        "[Desktop Entry]\nType=Service\nServiceTypes=Krita/PythonPlugin\nX-KDE-Library=mam_shots\n"
        "X-Python-2-Compatible=false\nName=MAM screenshots\nComment=screenshots\n")
    rc = home / ".config/kritarc"
    rc.write_text(kritarc.set_keys(rc.read_text(), "python", {"enable_mam_shots": "true"}))
    out = inside / "out"
    job = {"photo": str(inside / f"{CLICK_PHOTO}.png"), "endpoint": endpoint, "clicks": KRITA_CLICK_POINTS,
           "hover": "Click to Select (Matting Anything)", "click_shot": str(out / "krita_click.png"),
           "menu_shot": str(out / "krita_menu.png"), "results": str(out / "shots.json")}
    (home / "shots.json").write_text(json.dumps(job))
    env = ["env", f"HOME={inside}", f"TMPDIR={inside / 'tmp'}", f"MAM_KRITA_SHOTS={inside / 'shots.json'}"]
    with mounted_proc(root), virtual_display(root) as display:
        krita = subprocess.Popen(["chroot", str(root), *env, f"DISPLAY={display}", "krita", "--nosplash"],
                                 stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
        try:
            krita.wait(600)
        except subprocess.TimeoutExpired:
            os.killpg(krita.pid, signal.SIGKILL)
            krita.wait()
    results = json.loads((home / "out" / "shots.json").read_text())
    if "error" in results:
        raise RuntimeError(results["error"])
    print("points", results["points"], "menu", results["menu_texts"][-5:])
    if only in (None, "krita", "krita-click"):
        save_krita_shot(home / "out" / "krita_click.png", results, "krita_click.png")
    if only in (None, "krita", "krita-plugin"):
        save_krita_shot(home / "out" / "krita_menu.png", results, "krita_plugin.png")


def save_krita_shot(path: Path, results: dict, name: str) -> None:
    """Krita's window as it was, in 256 colours (octree: the points keep their green and red)."""
    x, y, w, h = results["window"]
    shot = Image.open(path).convert("RGB").crop((x, y, x + w, y + h))
    target = ROOT / "docs" / name
    shot.quantize(256, method=Image.Quantize.FASTOCTREE, dither=Image.Dither.FLOYDSTEINBERG).save(target, optimize=True)
    print(target, shot.size, f"{target.stat().st_size // 1024} KiB")

def main() -> None:
    parser = argparse.ArgumentParser(description="README's screenshots from the real editors")
    parser.add_argument("--only", choices=("quickstart", "gimp-click", "krita", "krita-click", "krita-plugin"),
                        help="take only these (default: all)")
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
        if only in (None, "krita", "krita-click", "krita-plugin"):
            krita_shots(root, home, inside, endpoint, only)
        if only is not None and only != "quickstart":
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
