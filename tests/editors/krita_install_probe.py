"""Runs INSIDE real Krita (GUI, under Xvfb) for tests/test_install_editors.py, as a second plugin next to the
mam_krita that mam-install put in place: records whether Krita loaded mam_krita (its actions and docker exist,
so kritarc enabled it), the Start server command the plugin reads from kritarc, the docker's daemon line, then
makes one matte through the plugin's own "Matte to Transparency Mask" action against the daemon the installer
configured, and dumps the mask. Config: JSON at $MAM_INSTALL_PROBE. Exits through os._exit (see
krita_e2e_driver.py)."""
import json
import os
import time
import traceback

from krita import Extension, Krita, Selection

try:
    from PyQt5.QtCore import QTimer
    from PyQt5.QtWidgets import QLabel
except ImportError:
    from PyQt6.QtCore import QTimer
    from PyQt6.QtWidgets import QLabel

CONFIG_PATH = os.environ.get("MAM_INSTALL_PROBE", "")


def wait_for(condition, timeout_s, what):
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out after {timeout_s} s waiting for {what}")
        yield 50


def step(scenario):
    try:
        delay = next(scenario)
    except StopIteration:
        return
    QTimer.singleShot(delay, lambda: step(scenario))


def main(cfg):
    k = Krita.instance()
    results = {}
    try:
        results["actions"] = [a for a in ("mam_select_subject", "mam_matte_to_mask", "mam_extract_subject")
                              if k.action(a) is not None]
        results["dockers"] = [d.objectName() for d in k.dockers() if d.objectName().startswith("mam_")]
        from mam_krita.controller import load_settings, shared_controller
        from mam_krita.settings import server_argv
        results["server_argv"] = server_argv(load_settings())
        docker = [d for d in k.dockers() if d.objectName() == "mam_krita_docker"][0]

        def daemon_line():
            texts = [label.text() for label in docker.findChildren(QLabel)]
            return [t for t in texts if t.startswith("Daemon:")]

        yield from wait_for(lambda: any("connected" in t for t in daemon_line()), 60, "the docker's daemon line")
        results["daemon_line"] = daemon_line()
        doc = k.openDocument(cfg["photo"])
        k.activeWindow().addView(doc)
        yield from wait_for(lambda: doc.activeNode() is not None, 30, "the view's active layer")
        doc.waitForDone()
        x0, y0, x1, y1 = cfg["box"]
        sel = Selection()
        sel.setPixelData(b"\xff" * ((x1 - x0) * (y1 - y0)), x0, y0, x1 - x0, y1 - y0)
        doc.setSelection(sel)
        doc.waitForDone()
        layer = doc.activeNode()
        done = []
        ctl = shared_controller()
        ctl.notify = lambda title, text: results.setdefault("messages", []).append(text)
        ctl.finished.connect(lambda outcome, text: done.append([outcome, text]))
        k.action("mam_matte_to_mask").trigger()
        yield from wait_for(lambda: done, 240, "the matte")
        results["outcome"] = done[0]
        masks = [n for n in layer.childNodes() if n.type() == "transparencymask"]
        if masks:
            with open(os.path.join(cfg["out"], "krita_mask.bin"), "wb") as f:
                f.write(bytes(masks[0].pixelData(0, 0, doc.width(), doc.height())))
            results["size"] = [doc.width(), doc.height()]
        if cfg.get("screenshot"):   # for README: the docker shown, the mask's result on the canvas
            docker.setVisible(True)
            docker.raise_()
            k.activeWindow().qwindow().showMaximized()
            yield 3000
            app = k.activeWindow().qwindow().window()
            screen = app.screen() if hasattr(app, "screen") else None
            if screen is None:
                from PyQt5.QtWidgets import QApplication
                screen = QApplication.primaryScreen()
            screen.grabWindow(0).save(cfg["screenshot"])
        doc.setModified(False)
    except Exception:
        results["error"] = traceback.format_exc()
    tmp = os.path.join(cfg["out"], "krita.json.tmp")
    with open(tmp, "w") as f:
        json.dump(results, f)
    os.replace(tmp, os.path.join(cfg["out"], "krita.json"))
    os._exit(0)


class Probe(Extension):
    def setup(self):
        pass

    def createActions(self, window):
        if CONFIG_PATH and window is not None:
            with open(CONFIG_PATH) as f:
                config = json.load(f)
            QTimer.singleShot(1000, lambda: step(main(config)))


Krita.instance().addExtension(Probe(Krita.instance()))
