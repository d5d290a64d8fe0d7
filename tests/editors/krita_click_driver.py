"""Runs INSIDE real Krita 5.2 (the GUI process, under Xvfb) as a second Python plugin: Click to select driven by
REAL input events. It opens the photo, lets the docker's scheduler send `prepare`, then moves the X pointer and
presses keys with xdotool (XTEST: the events reach Krita exactly as a mouse and keyboard would) and dumps what
Krita holds for tests/test_krita_click_e2e.py. With "bench" in the config it times clicks on large canvases
instead (benchmarks/krita_click_bench.py). Config: the JSON file named by $MAM_KRITA_CLICK.
"""
import hashlib
import json
import os
import subprocess
import time
import traceback

from krita import Extension, Krita
from PyQt5.QtCore import QPoint, QTimer
from PyQt5.QtWidgets import QComboBox, QListView

CONFIG_PATH = os.environ.get("MAM_KRITA_CLICK", "")


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


def digest(data) -> str:
    return hashlib.blake2b(bytes(data), digest_size=16).hexdigest()


def xdotool(*args):
    subprocess.run(["xdotool", *[str(a) for a in args]], check=True, timeout=30)


class Run:
    def __init__(self, config):
        self.cfg = config
        self.out = config["out"]
        self.k = Krita.instance()
        self.window = self.k.activeWindow()
        self.results = {}

    def mark(self, stage):
        with open(os.path.join(self.out, "stage.log"), "a") as f:
            f.write(stage + "\n")

    def dump(self, name, data) -> str:
        with open(os.path.join(self.out, name), "wb") as f:
            f.write(bytes(data))
        return name

    def docker(self):
        from mam_krita.docker import DOCKER_ID
        return [d for d in self.k.dockers() if d.objectName() == DOCKER_ID][0]

    def mode(self):
        from mam_krita.click_mode import shared_click_mode
        return shared_click_mode()

    def open_photo(self, path):
        doc = self.k.openDocument(path)
        self.window.addView(doc)
        yield from wait_for(lambda: doc.activeNode() is not None, 30, "the view's active layer")
        doc.waitForDone()
        return doc

    def daemon_idle(self):
        """Whether the daemon has nothing queued or running (the prepare's encoder has run)."""
        from mam_krita.mam_client import MamClient
        with MamClient(self.cfg["endpoint"], timeout=5.0) as client:
            status = client.status()
        return status["queued"] == 0 and status["running"] == 0

    def undo_history(self):
        """The rows of Krita's Undo History docker, and the Undo action's text and state."""
        rows = []
        for d in self.k.dockers():
            if d.objectName() == "History":
                for view in d.findChildren(QListView):
                    model = view.model()
                    if model is not None:
                        rows += [str(model.data(model.index(r, 0))) for r in range(model.rowCount())]
        undo = self.k.action("edit_undo")
        return {"rows": rows, "undo": [undo.text(), undo.isEnabled()]}

    def state(self, doc, layer):
        """Everything Esc must leave as it was."""
        doc.waitForDone()
        w, h = doc.width(), doc.height()
        sel = doc.selection()
        return {"nodes": [[n.name(), n.type()] for n in doc.rootNode().childNodes()],
                "children": [[n.name(), n.type()] for n in layer.childNodes()],
                "layer": digest(layer.pixelData(0, 0, w, h)), "projection": digest(doc.pixelData(0, 0, w, h)),
                "selection": None if sel is None else digest(sel.pixelData(0, 0, w, h)),
                "modified": doc.modified(), "history": self.undo_history()}

    def widget_point(self, image_xy):
        """Global screen position (integers) of an image point, through the plugin's own view transform."""
        from mam_krita.click_mode import find_canvas_widget, view_image_to_widget
        view = self.window.activeView()
        widget = find_canvas_widget(self.window)
        wx, wy = view_image_to_widget(view, view.document()).map(*image_xy)
        g = widget.mapToGlobal(QPoint(int(round(wx)), int(round(wy))))
        return g.x(), g.y()

    def focus_krita(self):
        xdotool("windowfocus", "--sync", int(self.window.qwindow().winId()))

    def click(self, image_xy, shift=False, button=1):
        x, y = self.widget_point(image_xy)
        xdotool("mousemove", "--sync", x, y)
        if shift:
            xdotool("keydown", "shift")
        xdotool("click", button)
        if shift:
            xdotool("keyup", "shift")

    def wait_previews(self, count, what):
        mode = self.mode()
        yield from wait_for(lambda: len(mode.stats) >= count or mode.last_error, self.cfg["timeout_s"], what)
        if mode.last_error:
            raise RuntimeError(f"preview failed: {mode.last_error}")

    def enter_by_shortcut(self):
        mode = self.mode()
        self.focus_krita()
        xdotool("key", "ctrl+shift+k")
        try:
            yield from wait_for(lambda: mode.active, 20, "Ctrl+Shift+K to start Click to select")
        except TimeoutError:
            from PyQt5.QtWidgets import QApplication
            action = self.k.action("mam_click_select")
            focus = QApplication.focusWidget()
            raise TimeoutError(f"Ctrl+Shift+K did not start the mode: action shortcut "
                               f"{action.shortcut().toString() if action else None!r}, checked "
                               f"{action.isChecked() if action else None}, focus widget "
                               f"{focus.metaObject().className() if focus else None}, active window "
                               f"{QApplication.activeWindow()}, status {mode.last_error!r}") from None

    def prepared(self, doc):
        """Show the docker, let its scheduler send prepare for `doc`, and wait until the daemon encoded it."""
        docker = self.docker()
        docker.setVisible(True)
        from mam_krita.click_mode import shared_click_mode
        scheduler = shared_click_mode().scheduler
        seen = len([t for t in scheduler.log if t.startswith("prepare ")])
        yield from wait_for(lambda: len([t for t in scheduler.log if t.startswith("prepare ")]) > seen, 60,
                            "the docker's prepare for the photo")
        yield from wait_for(self.daemon_idle, 120, "the daemon to finish the prepare")
        return list(scheduler.log)

    # ---- the end-to-end scenario ---------------------------------------------------------------

    def e2e(self):
        from mam_krita.apply import MASK_NAME
        from mam_krita.click_mode import MASK
        res = self.results
        from PyQt5.QtWidgets import QLabel
        yield from wait_for(lambda: any(label.text().startswith("Daemon: connected")
                                        for label in self.docker().findChildren(QLabel)), 60, "the daemon's hello")
        doc = yield from self.open_photo(self.cfg["photo"])
        layer = doc.activeNode()
        canvas = self.k.activeWindow().activeView().canvas()
        canvas.setZoomLevel(self.cfg["zoom"])
        canvas.setRotation(self.cfg["rotation"])
        yield from pause(500)
        res["view"] = {"zoom": canvas.zoomLevel(), "rotation": canvas.rotation(), "mirror": canvas.mirror()}
        self.mark("prepare")
        res["prepare_log"] = yield from self.prepared(doc)
        from mam_krita.canvas import read_canvas
        c = read_canvas(doc, layer, "layer")
        res["canvas"] = {"file": self.dump("canvas.bin", c.pixels), "fmt": c.fmt, "width": c.width,
                         "height": c.height, "stride": c.stride}
        mode = self.mode()
        combo = self.docker().findChild(QComboBox, "mam_click_output")
        combo.setCurrentIndex(combo.findData(MASK))
        res["output"] = mode.output

        # Esc: two clicks, then Esc: nothing may change, not even the undo history
        self.mark("esc")
        res["before_esc"] = self.state(doc, layer)
        yield from self.enter_by_shortcut()
        fg, bg, extra = self.cfg["fg"], self.cfg["bg"], self.cfg["extra"]
        self.click(fg)
        yield from self.wait_previews(1, "the first preview")
        res["first_preview"] = dict(mode.stats[0])
        self.click(bg, shift=True)
        yield from self.wait_previews(2, "the second preview")
        res["esc_prompts"] = [list(p) for p in mode.prompts.points]
        self.focus_krita()
        xdotool("key", "Escape")
        yield from wait_for(lambda: not mode.active, 20, "Esc to leave the mode")
        yield from pause(300)
        res["after_esc"] = self.state(doc, layer)
        res["overlay_gone"] = mode._overlay is None

        # click, Shift+click, click, Backspace, Enter -> a transparency mask, one undo step
        self.mark("commit")
        yield from self.enter_by_shortcut()
        self.click(fg)
        yield from self.wait_previews(1, "preview 1")
        self.click(bg, shift=True)
        yield from self.wait_previews(2, "preview 2")
        self.click(extra)
        yield from self.wait_previews(3, "preview 3")
        res["prompts_before_backspace"] = [list(p) for p in mode.prompts.points]
        layer_before = digest(layer.pixelData(0, 0, doc.width(), doc.height()))
        self.focus_krita()
        xdotool("key", "BackSpace")
        yield from wait_for(lambda: len(mode.prompts) == 2, 20, "Backspace to remove the last click")
        yield from self.wait_previews(4, "the preview after Backspace")
        res["prompts"] = [list(p) for p in mode.prompts.points]
        res["box"] = mode.prompts.box
        res["backspace_left_layer"] = digest(layer.pixelData(0, 0, doc.width(), doc.height())) == layer_before
        res["preview"] = {k: getattr(mode.last_preview, k) for k in ("x", "y", "width", "height", "scale",
                                                                     "window_width", "window_height")}
        res["preview_file"] = self.dump("preview.bin", mode.last_preview.alpha)
        res["stats"] = [dict(s) for s in mode.stats]
        res["before_commit"] = self.state(doc, layer)
        from mam_krita.controller import shared_controller
        done = []
        shared_controller().finished.connect(lambda outcome, text: done.append([outcome, text]))
        self.focus_krita()
        xdotool("key", "Return")
        yield from wait_for(lambda: done, self.cfg["timeout_s"], "Enter to commit")
        res["commit_outcome"] = done[0]
        res["active_after_commit"] = mode.active
        doc.waitForDone()
        masks = [n for n in layer.childNodes() if n.name() == MASK_NAME]
        res["after_commit"] = self.state(doc, layer)
        if masks:
            res["mask_file"] = self.dump("mask.bin", masks[0].pixelData(0, 0, doc.width(), doc.height()))
        self.focus_krita()
        xdotool("key", "ctrl+z")
        yield from wait_for(lambda: not [n for n in layer.childNodes() if n.name() == MASK_NAME], 20,
                            "Ctrl+Z to remove the mask")
        yield from pause(300)
        res["after_undo"] = self.state(doc, layer)
        doc.setModified(False)

    # ---- the benchmark ---------------------------------------------------------------------------

    def bench(self):
        bench = self.results["bench"] = {}
        mode = self.mode()
        for case in self.cfg["bench"]:
            self.mark(f"bench {case['name']}")
            doc = yield from self.open_photo(case["photo"])
            from mam_krita.click_mode import find_canvas_widget
            widget = find_canvas_widget(self.window)
            canvas = self.window.activeView().canvas()    # the whole image on screen (its resolution is 72 dpi)
            canvas.setZoomLevel(0.9 * min(widget.width() / doc.width(), widget.height() / doc.height()))
            yield from pause(500)
            started = time.perf_counter()
            thumb = doc.thumbnail(24, 24)
            thumb_s = time.perf_counter() - started
            prepare_log = yield from self.prepared(doc)
            yield from self.enter_by_shortcut()
            for i, point in enumerate(case["points"]):
                self.click(point, shift=(i % 3 == 2))
                yield from self.wait_previews(i + 1, f"bench preview {i + 1}")
            bench[case["name"]] = {"stats": [dict(s) for s in mode.stats], "canvas_read_s": mode.canvas_read_s,
                                   "thumbnail_s": thumb_s, "thumb_null": thumb.isNull(), "prepare": prepare_log,
                                   "size": [doc.width(), doc.height()], "zoom": canvas.zoomLevel(),
                                   "points": [list(p) for p in mode.prompts.points]}
            self.focus_krita()
            xdotool("key", "Escape")
            yield from wait_for(lambda: not mode.active, 20, "Esc")
            doc.setModified(False)
            doc.close()
            yield from pause(500)

    def main(self):
        try:
            self.mark("start")
            self.window.qwindow().activateWindow()
            yield from pause(1000)
            if self.cfg.get("bench"):
                yield from self.bench()
            else:
                yield from self.e2e()
        except Exception:
            self.results["error"] = traceback.format_exc()
        tmp = os.path.join(self.out, "results.json.tmp")
        with open(tmp, "w") as f:
            json.dump(self.results, f, indent=1)
        os.replace(tmp, os.path.join(self.out, "results.json"))
        os._exit(0)


class Driver(Extension):
    def setup(self):
        pass

    def createActions(self, window):
        if CONFIG_PATH and window is not None:
            with open(CONFIG_PATH) as f:
                config = json.load(f)
            QTimer.singleShot(1000, lambda: step(Run(config).main()))


Krita.instance().addExtension(Driver(Krita.instance()))
