"""Runs INSIDE real Krita 5.2 (the GUI process, under Xvfb) as a Python plugin of its own.

It drives the installed mam_krita plugin — its menu actions and its controller — against the real
daemon, and dumps what Krita then holds (selection / mask bytes, node lists, layer digests) into
the run folder for tests/test_krita_e2e.py to check. Config: the JSON file named by $MAM_KRITA_E2E.
Krita exits through os._exit once results.json is written (a normal quit crashes under Xvfb).
The scenario is a generator stepped from Krita's main event loop: a view only gets its active
layer once control is back in that loop (a nested QEventLoop is not enough), so every wait yields.
"""
import hashlib
import json
import os
import time
import traceback

from krita import Extension, Krita, Selection
from PyQt5.QtCore import QTimer

CONFIG_PATH = os.environ.get("MAM_KRITA_E2E", "")


def wait_for(condition, timeout_s, what):
    """Yield back to Krita's event loop until condition() holds (worker signals arrive there)."""
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out after {timeout_s} s waiting for {what}")
        yield 50


def step(scenario):
    """Advance the scenario generator by one step, then again after the delay it yields."""
    try:
        delay = next(scenario)
    except StopIteration:
        return
    QTimer.singleShot(delay, lambda: step(scenario))


def digest(data) -> str:
    return hashlib.blake2b(bytes(data), digest_size=16).hexdigest()


class Run:
    def __init__(self, config):
        self.cfg = config
        self.out = config["out"]
        self.k = Krita.instance()
        self.window = self.k.activeWindow()
        self.results = {"cases": {}}

    def mark(self, stage):
        """Append the stage about to run to stage.log (kept if Krita crashes, so the test can say where)."""
        with open(os.path.join(self.out, "stage.log"), "a") as f:
            f.write(stage + "\n")
            f.flush()
            os.fsync(f.fileno())

    def dump(self, name, data) -> str:
        with open(os.path.join(self.out, name), "wb") as f:
            f.write(bytes(data))
        return name

    def open_view(self, doc):
        self.window.addView(doc)
        yield from wait_for(lambda: doc.activeNode() is not None, 30, "the view's active layer")
        doc.waitForDone()
        return doc

    def set_box_selection(self, doc, box):
        x0, y0, x1, y1 = box
        sel = Selection()
        sel.setPixelData(b"\xff" * ((x1 - x0) * (y1 - y0)), x0, y0, x1 - x0, y1 - y0)
        doc.setSelection(sel)
        doc.waitForDone()

    def selection_bytes(self, doc):
        sel = doc.selection()
        return b"" if sel is None else bytes(sel.pixelData(0, 0, doc.width(), doc.height()))

    def trigger(self, action_id):
        """Fire one of the plugin's menu actions and wait for the shared controller to finish."""
        from mam_krita.controller import shared_controller
        done = []
        ctl = shared_controller()
        ctl.notify = lambda title, text: self.results.setdefault("action_messages", []).append(text)
        progress = []
        bar = self.progress_bar()
        bars = self.results.setdefault("progress_bars", {}).setdefault(action_id, [])
        # connected after the docker's own slots, so each entry is the bar as the docker left it for that signal
        ctl.finished.connect(lambda outcome, text: done.append((outcome, text)))
        ctl.finished.connect(lambda outcome, text: bars.append(["finished", bar.minimum(), bar.maximum(),
                                                                bar.value(), bar.text()]))
        ctl.progress.connect(lambda stage, fraction: progress.append((stage, fraction)))
        ctl.progress.connect(lambda stage, fraction: bars.append([stage, bar.minimum(), bar.maximum(), bar.value(),
                                                                  self.docker_line("Matting…")]))
        self.k.action(action_id).trigger()
        yield from wait_for(lambda: done, self.cfg["timeout_s"], f"the {action_id} action to finish")
        ctl.finished.disconnect()
        ctl.progress.disconnect()
        return list(done[0]) + [progress]

    def progress_bar(self):
        from PyQt5.QtWidgets import QProgressBar
        return self.docker().findChild(QProgressBar)

    def docker_line(self, prefix):
        from PyQt5.QtWidgets import QLabel
        return [t for t in (label.text() for label in self.docker().findChildren(QLabel)) if t.startswith(prefix)]

    def controller(self, notes):
        from mam_krita.controller import MatteController
        return MatteController(notify=lambda title, text: notes.append(text))

    def settings(self, endpoint=None):
        from mam_krita.settings import Settings
        return Settings(endpoint=endpoint or self.cfg["endpoint"])

    def run_controller(self, ctl, target, doc, settings, after_start=None):
        done = []
        ctl.finished.connect(lambda outcome, text: done.append((outcome, text)))
        started = ctl.start(target, doc, settings)
        if started and after_start is not None:
            after_start()
        yield from wait_for(lambda: done, self.cfg["timeout_s"], f"the {target} matte to finish")
        return started, done[0]

    # ---- scenarios --------------------------------------------------------------------------

    def docker(self):
        from mam_krita.docker import DOCKER_ID
        return [d for d in self.k.dockers() if d.objectName() == DOCKER_ID][0]

    def status_line(self):
        from PyQt5.QtWidgets import QLabel
        return [t for t in (label.text() for label in self.docker().findChildren(QLabel)) if t.startswith("Daemon:")]

    def plugin_loaded(self):
        from mam_krita.docker import DOCKER_ID
        from PyQt5.QtWidgets import QComboBox
        menu_bar = self.window.qwindow().menuBar()
        select_menu = [a.menu() for a in menu_bar.actions() if a.objectName().lower() == "select"][0]
        self.results["select_menu"] = [a.objectName() for a in select_menu.actions()]
        self.results["select_menu_texts"] = {a.objectName(): a.text().replace("&", "")
                                             for a in select_menu.actions() if a.objectName().startswith("mam_")}
        self.results["dockers"] = [d.objectName() for d in self.k.dockers()]
        self.results["docker_id"] = DOCKER_ID
        docker = self.docker()
        # this session checks requests that encode (the progress bar's encoding stage): the docker's prepare
        # scheduler would encode each photo ahead of them (Click to select's e2e test covers prepare)
        from mam_krita.click_mode import shared_click_mode
        shared_click_mode().scheduler.stop()
        yield from wait_for(lambda: any("connected" in t for t in self.status_line()), 60,
                            "the docker's daemon status")
        self.results["docker_status"] = self.status_line()
        # the docker stores what the artist picks (read back through Krita's own settings)
        guidance = docker.findChild(QComboBox, "mam_guidance")
        self.results["guidance_items"] = [guidance.itemText(i) for i in range(guidance.count())]
        guidance.setCurrentIndex(guidance.findData("mask"))
        self.results["guidance_saved"] = self.k.readSetting("mam_krita", "guidance", "")
        guidance.setCurrentIndex(guidance.findData("alpha"))
        self.results["guidance_restored"] = self.k.readSetting("mam_krita", "guidance", "")

    def top_layers(self, doc):
        """The image's top-level layers, bottom first (the global selection's mask node left out)."""
        return [(n.name(), n.type()) for n in doc.rootNode().childNodes() if not n.type().endswith("mask")]

    def photo_case(self, depth):
        from mam_krita.apply import MASK_NAME, SUBJECT_LAYER_NAME
        from mam_krita.canvas import read_canvas
        case = {}
        self.results["cases"][depth] = case
        doc = self.k.openDocument(self.cfg["photo"])
        if depth != "U8":
            case["converted"] = doc.setColorSpace("RGBA", depth, doc.colorProfile())
        yield from self.open_view(doc)
        layer = doc.activeNode()
        case["model"], case["depth"] = doc.colorModel(), doc.colorDepth()
        self.set_box_selection(doc, self.cfg["box"])
        canvas = read_canvas(doc, layer, "layer")
        case["canvas"] = {"file": self.dump(f"canvas_{depth}.bin", canvas.pixels), "fmt": canvas.fmt,
                          "width": canvas.width, "height": canvas.height, "stride": canvas.stride}
        box_selection = self.selection_bytes(doc)
        layer_before = digest(layer.pixelData(0, 0, doc.width(), doc.height()))

        case["mask_outcome"] = yield from self.trigger("mam_matte_to_mask")
        masks = [n for n in layer.childNodes() if n.name() == MASK_NAME]
        case["children_after_mask"] = [(n.name(), n.type()) for n in layer.childNodes()]
        if masks:
            case["mask_file"] = self.dump(f"mask_{depth}.bin", masks[0].pixelData(0, 0, doc.width(), doc.height()))
        doc.refreshProjection()
        doc.waitForDone()
        projection = bytes(doc.pixelData(0, 0, doc.width(), doc.height()))
        if depth == "U8":
            case["projection_alpha_file"] = self.dump("projection_alpha_U8.bin", projection[3::4])
        case["layer_unchanged_by_mask"] = digest(layer.pixelData(0, 0, doc.width(), doc.height())) == layer_before
        self.k.action("edit_undo").trigger()
        doc.waitForDone()
        case["children_after_undo"] = [(n.name(), n.type()) for n in layer.childNodes()]
        case["selection_kept_by_mask"] = self.selection_bytes(doc) == box_selection

        # Extract Subject, while the box is still the selection and before the undo below that reaches
        # past the plugin's steps (it takes back the depth conversion)
        case["top_before_subject"] = self.top_layers(doc)
        case["subject_outcome"] = yield from self.trigger("mam_extract_subject")
        case["top_after_subject"] = self.top_layers(doc)
        subjects = [n for n in doc.rootNode().childNodes() if n.name() == SUBJECT_LAYER_NAME]
        if subjects:
            case["subject_file"] = self.dump(f"subject_{depth}.bin",
                                             subjects[0].pixelData(0, 0, doc.width(), doc.height()))
            case["subject_space"] = [subjects[0].colorModel(), subjects[0].colorDepth()]
        case["layer_unchanged_by_subject"] = (
            digest(layer.pixelData(0, 0, doc.width(), doc.height())) == layer_before)
        self.k.action("edit_undo").trigger()
        doc.waitForDone()
        case["top_after_subject_undo"] = self.top_layers(doc)
        case["depth_after_subject_undo"] = doc.colorDepth()
        doc.setActiveNode(layer)    # the next action works on the photo layer again
        yield from wait_for(lambda: doc.activeNode() is not None and doc.activeNode().uniqueId() == layer.uniqueId(),
                            30, "the photo layer to be active again")

        case["selection_outcome"] = yield from self.trigger("mam_select_subject")
        case["selection_file"] = self.dump(f"selection_{depth}.bin", self.selection_bytes(doc))
        case["layer_unchanged_by_selection"] = (
            digest(layer.pixelData(0, 0, doc.width(), doc.height())) == layer_before)
        doc.waitForDone()
        yield 500   # back to Krita's event loop before Ctrl+Z, as between an artist's two actions
        case["undo_text_after_selection"] = self.undo_texts()
        self.k.action("edit_undo").trigger()
        doc.waitForDone()
        case["selection_restored_by_undo"] = self.selection_bytes(doc) == box_selection
        doc.setModified(False)

    def edge_cases(self):
        edge = self.results["edge"] = {}
        notes = []
        # nothing to go on: a message, nothing else
        self.mark("edge: empty document")
        empty = yield from self.open_view(self.k.createDocument(64, 48, "empty", "RGBA", "U8", "", 72.0))
        ctl = self.controller(notes)
        edge["refused"] = [ctl.start("selection", empty, self.settings()), list(notes)]
        edge["refused_left_no_selection"] = empty.selection() is None
        # points from a vector layer named "MAM points" (300 dpi: shapes live in points, prompts in pixels)
        from mam_krita.document_prompt import collect_prompt
        self.mark("edge: points document")
        pts = yield from self.open_view(self.k.createDocument(120, 80, "points", "RGBA", "U8", "", 300.0))
        layer = pts.createVectorLayer("MAM points")
        pts.rootNode().addChildNode(layer, None)
        layer.addShapesFromSvg(
            '<svg xmlns="http://www.w3.org/2000/svg" width="120px" height="80px" viewBox="0 0 120 80">'
            '<circle cx="30" cy="20" r="3" fill="#00c000"/><circle cx="90" cy="60" r="4" fill="#ff0000"/></svg>')
        prompt = collect_prompt(pts, refine_selection=False)
        edge["points"] = [list(p) for p in prompt.points]
        edge["points_box"] = prompt.box
        # a daemon that is not there: a message with the start command
        notes.clear()
        self.mark("edge: daemon down")
        photo = yield from self.open_view(self.k.openDocument(self.cfg["photo"]))
        self.set_box_selection(photo, self.cfg["box"])
        box_selection = self.selection_bytes(photo)
        down = yield from self.run_controller(self.controller(notes), "selection", photo,
                                              self.settings(self.cfg["dead_endpoint"]))
        edge["down"] = [down, list(notes)]
        # refine the selection: the selection itself goes along as the mask
        from mam_krita.settings import Settings
        self.mark("edge: refine the selection")
        refine = Settings(endpoint=self.cfg["endpoint"], refine_selection=True)
        edge["refine"] = yield from self.run_controller(self.controller(notes), "selection", photo, refine)
        edge["refine_file"] = self.dump("selection_refined_U8.bin", self.selection_bytes(photo))
        self.set_box_selection(photo, self.cfg["box"])
        # Cancel right after starting: nothing applied
        notes.clear()
        ctl = self.controller(notes)
        self.mark("edge: cancel")
        cancelled = yield from self.run_controller(ctl, "selection", photo, self.settings(), after_start=ctl.cancel)
        edge["cancel"] = [cancelled, list(notes)]
        edge["cancel_left_selection"] = self.selection_bytes(photo) == box_selection
        # the image closed while the daemon works: the result is dropped, nothing breaks. Krita 5.3.4 crashed
        # (SIGSEGV) here in 3 of 6 runs when the image was closed while its layer thumbnails were still being
        # regenerated from the steps above ("KisLayerThumbnailCache ... node does not belong to the attached image
        # anymore"), so they are let finish first: the close still lands while the matte is in flight.
        photo.waitForDone()
        yield 1500
        photo.setModified(False)
        self.mark("edge: image closed during a request")
        edge["closed"] = yield from self.run_controller(self.controller(notes), "mask", photo, self.settings(),
                                                        after_start=photo.close)
        edge["documents_after_close"] = len(self.k.documents())

    def refine_edges_case(self):
        """The docker's "Refine edges (classic)" (offered: the daemon lists refine:classic) and "SAM mask"
        guidance, ticked as an artist would, then Select Subject from the menu on a small photo."""
        from PyQt5.QtWidgets import QCheckBox, QComboBox
        result = self.results["refine_edges"] = {}
        docker = self.docker()
        box = docker.findChild(QCheckBox, "mam_refine_edges")
        guidance = docker.findChild(QComboBox, "mam_guidance")
        result["checkbox"] = [box.isEnabled(), box.text()]
        result["refine_selection_label"] = docker.findChild(QCheckBox, "mam_refine_selection").text()
        box.setChecked(True)
        guidance.setCurrentIndex(guidance.findData("mask"))
        result["saved"] = [self.k.readSetting("mam_krita", key, "") for key in ("refine_edges", "guidance")]
        doc = yield from self.open_view(self.k.openDocument(self.cfg["small_photo"]))
        self.set_box_selection(doc, self.cfg["small_box"])
        from mam_krita.canvas import read_canvas
        canvas = read_canvas(doc, doc.activeNode(), "layer")
        result["canvas"] = {"file": self.dump("canvas_small.bin", canvas.pixels), "fmt": canvas.fmt,
                            "width": canvas.width, "height": canvas.height, "stride": canvas.stride}
        result["outcome"] = yield from self.trigger("mam_select_subject")
        result["selection_file"] = self.dump("selection_refined_edges.bin", self.selection_bytes(doc))
        box.setChecked(False)
        guidance.setCurrentIndex(guidance.findData("alpha"))
        result["saved_after"] = [self.k.readSetting("mam_krita", key, "") for key in ("refine_edges", "guidance")]
        doc.setModified(False)

    def set_endpoint(self, old, new):
        """Type another endpoint into the docker, as an artist would (the docker saves it and checks it)."""
        from PyQt5.QtWidgets import QLineEdit
        field = [e for e in self.docker().findChildren(QLineEdit) if e.text() == old][0]
        field.setText(new)
        field.editingFinished.emit()

    def classic_mode(self):
        """Against a daemon that runs without weights: the docker's status line, then Extract Subject."""
        from mam_krita.apply import SUBJECT_LAYER_NAME
        classic = self.results["classic"] = {}
        self.set_endpoint(self.cfg["endpoint"], self.cfg["classic_endpoint"])
        yield from wait_for(lambda: any("CLASSIC" in t for t in self.status_line()), 60,
                            "the docker's status for the classic daemon")
        classic["docker_status"] = self.status_line()
        doc = yield from self.open_view(self.k.openDocument(self.cfg["photo"]))
        self.set_box_selection(doc, self.cfg["box"])
        classic["subject_outcome"] = yield from self.trigger("mam_extract_subject")
        subjects = [n for n in doc.rootNode().childNodes() if n.name() == SUBJECT_LAYER_NAME]
        if subjects:
            classic["subject_file"] = self.dump("subject_classic_U8.bin",
                                               subjects[0].pixelData(0, 0, doc.width(), doc.height()))
        self.set_endpoint(self.cfg["classic_endpoint"], self.cfg["endpoint"])
        doc.setModified(False)

    def screenshot(self, name):
        from PyQt5.QtWidgets import QApplication
        QApplication.primaryScreen().grabWindow(0).save(os.path.join(self.out, name), "PNG")
        return name

    def canvas_widget(self):
        from PyQt5.QtWidgets import QWidget
        widgets = [w for w in self.window.qwindow().findChildren(QWidget)
                   if w.metaObject().className() in ("KisQPainterCanvas", "KisOpenGLCanvas2") and w.isVisible()]
        return widgets[0]

    def marching_ants(self):
        """Select Subject on the photo, then screenshots of the whole screen without a selection and after it (the
        ants are drawn along the selection's outline), with the image-to-screen transform to place them."""
        ants = self.results["ants"] = {}
        doc = yield from self.open_view(self.k.openDocument(self.cfg["photo"]))
        self.k.action("deselect").trigger()
        doc.waitForDone()
        yield 2000
        ants["before"] = self.screenshot("ants_before.png")
        self.set_box_selection(doc, self.cfg["box"])
        box_selection = self.selection_bytes(doc)
        ants["outcome"] = yield from self.trigger("mam_select_subject")
        from mam_krita import apply
        ants["route"] = apply.last_selection_route
        yield 2000
        ants["after"] = self.screenshot("ants_after.png")
        ants["selection_file"] = self.dump("ants_selection.bin", self.selection_bytes(doc))
        view = self.window.activeView()
        canvas = self.canvas_widget()
        to_widget = view.flakeToImageTransform().inverted()[0] * view.flakeToCanvasTransform()
        origin = canvas.mapToGlobal(canvas.rect().topLeft())
        ants["image_to_widget"] = [to_widget.m11(), to_widget.m12(), to_widget.m21(), to_widget.m22(),
                                   to_widget.dx(), to_widget.dy()]
        ants["canvas_rect"] = [origin.x(), origin.y(), canvas.width(), canvas.height()]
        ants["undo_steps"] = self.undo_texts()
        self.k.action("edit_undo").trigger()
        doc.waitForDone()
        ants["undo_restored_box"] = self.selection_bytes(doc) == box_selection
        doc.setModified(False)

    def undo_texts(self):
        """The Undo action's text ("Undo Select Opaque"): what one Ctrl+Z takes back."""
        return self.k.action("edit_undo").text().replace("&", "")

    def press(self, what, widget_call):
        """Do what an artist does in the docker (click a button, press Enter) and wait for the shared controller
        to finish; returns [outcome, text, notify messages]."""
        from mam_krita.controller import shared_controller
        done, messages = [], []
        ctl = shared_controller()
        ctl.notify = lambda title, text: messages.append(text)
        ctl.finished.connect(lambda outcome, text: done.append((outcome, text)))
        widget_call()
        yield from wait_for(lambda: done, self.cfg["timeout_s"], f"{what} to finish")
        ctl.finished.disconnect()
        return [*done[0], messages]

    def docker_button(self, text):
        from PyQt5.QtWidgets import QPushButton
        return [b for b in self.docker().findChildren(QPushButton) if b.text() == text][0]

    def text_prompts(self):
        """The docker's "Select:" field: disabled (tooltip: how to install detector weights) for a daemon without
        the text feature; against one with it: Enter, the three buttons, "All instances" both ways, a selection
        narrowing, nothing found, and one undo per result."""
        from PyQt5.QtCore import Qt
        from PyQt5.QtTest import QTest
        from PyQt5.QtWidgets import QCheckBox, QLineEdit
        text = self.results["text"] = {}
        docker = self.docker()
        field = docker.findChild(QLineEdit, "mam_text")
        instances = docker.findChild(QCheckBox, "mam_all_instances")
        text["without_feature"] = [field.isEnabled(), field.toolTip()]
        self.set_endpoint(self.cfg["endpoint"], self.cfg["text_endpoint"])
        yield from wait_for(field.isEnabled, 60, "the text field to be enabled by the text daemon")
        text["with_feature"] = [field.isEnabled(), field.toolTip()]
        doc = yield from self.open_view(self.k.openDocument(self.cfg["photo"]))
        layer = doc.activeNode()
        from mam_krita.canvas import read_canvas
        canvas = read_canvas(doc, layer, "layer")
        text["canvas"] = {"file": self.dump("canvas_text.bin", canvas.pixels), "fmt": canvas.fmt,
                          "width": canvas.width, "height": canvas.height, "stride": canvas.stride}
        w, h = doc.width(), doc.height()
        field.setText(self.cfg["phrase"])
        instances.setChecked(False)
        text["all_saved_off"] = self.k.readSetting("mam_krita", "all_instances", "")

        def enter():
            field.setFocus()
            QTest.keyClick(field, Qt.Key_Return)

        # best instance, no selection: Enter in the field selects it
        self.mark("text: enter, best")
        text["enter_best"] = yield from self.press("Enter in the text field", enter)
        text["enter_best_file"] = self.dump("text_best_selection.bin", self.selection_bytes(doc))
        # all instances, narrowed by the box: Matte to Mask -> a group of masked clones, one undo step
        self.set_box_selection(doc, self.cfg["box"])
        box_selection = self.selection_bytes(doc)
        instances.setChecked(True)
        text["all_saved_on"] = self.k.readSetting("mam_krita", "all_instances", "")
        text["top_before"] = self.top_layers(doc)
        self.mark("text: mask, all")
        text["mask_all"] = yield from self.press("Matte to Mask (all)", self.docker_button("Matte to Mask").click)
        text["top_after_mask"] = self.top_layers(doc)
        groups = [n for n in doc.rootNode().childNodes() if n.type() == "grouplayer"]
        text["mask_groups"] = []
        for group in groups:
            entry = [group.name(), []]
            for c, clone in enumerate(group.childNodes()):
                masks = [m for m in clone.childNodes() if m.type() == "transparencymask"]
                files = [self.dump(f"text_mask_{len(text['mask_groups'])}_{c}_{i}.bin", m.pixelData(0, 0, w, h))
                         for i, m in enumerate(masks)]
                entry[1].append([clone.name(), clone.type(), [m.name() for m in masks], files])
            text["mask_groups"].append(entry)
        self.k.action("edit_undo").trigger()
        doc.waitForDone()
        text["top_after_mask_undo"] = self.top_layers(doc)
        text["layer_children_after_mask_undo"] = [(n.name(), n.type()) for n in layer.childNodes()]
        text["selection_kept_by_mask_undo"] = self.selection_bytes(doc) == box_selection
        doc.setActiveNode(layer)
        yield from wait_for(lambda: doc.activeNode() is not None and doc.activeNode().uniqueId() == layer.uniqueId(),
                            30, "the photo layer to be active again")
        # all instances: Extract Subject -> a group of layers, one undo step
        self.mark("text: extract, all")
        text["extract_all"] = yield from self.press("Extract Subject (all)",
                                                    self.docker_button("Extract Subject").click)
        text["top_after_extract"] = self.top_layers(doc)
        text["extract_layers"] = []
        for group in [n for n in doc.rootNode().childNodes() if n.type() == "grouplayer"]:
            for i, node in enumerate(group.childNodes()):
                text["extract_layers"].append([group.name(), node.name(), node.type(),
                                               self.dump(f"text_layer_{i}.bin", node.pixelData(0, 0, w, h))])
        self.k.action("edit_undo").trigger()
        doc.waitForDone()
        text["top_after_extract_undo"] = self.top_layers(doc)
        doc.setActiveNode(layer)
        yield from wait_for(lambda: doc.activeNode() is not None and doc.activeNode().uniqueId() == layer.uniqueId(),
                            30, "the photo layer to be active again")
        # all instances, Select Subject: the union
        self.mark("text: select, all")
        text["select_all"] = yield from self.press("Select Subject (all)", self.docker_button("Select Subject").click)
        text["select_all_file"] = self.dump("text_union_selection.bin", self.selection_bytes(doc))
        # nothing found (a tiny box in the corner narrows every detection away): a line, nothing changed
        self.set_box_selection(doc, self.cfg["empty_box"])
        empty_box_selection = self.selection_bytes(doc)
        top = self.top_layers(doc)
        self.mark("text: nothing found")
        text["not_found"] = yield from self.press("Matte to Mask (nothing found)",
                                                  self.docker_button("Matte to Mask").click)
        text["not_found_status"] = self.docker_message()
        text["not_found_unchanged"] = [self.top_layers(doc) == top, layer.childNodes() == [],
                                       self.selection_bytes(doc) == empty_box_selection]
        instances.setChecked(False)
        field.setText("")
        self.set_endpoint(self.cfg["text_endpoint"], self.cfg["endpoint"])
        doc.setModified(False)

    def docker_message(self):
        from PyQt5.QtWidgets import QLabel
        labels = [label.text() for label in self.docker().findChildren(QLabel)]
        return [t for t in labels if t.startswith("Nothing matching")]

    def main(self):
        try:
            self.mark("plugin loaded")
            yield from self.plugin_loaded()
            for depth in self.cfg["depths"]:
                self.mark(f"photo {depth}")
                yield from self.photo_case(depth)
            yield from self.edge_cases()
            self.mark("refine edges")
            yield from self.refine_edges_case()
            self.mark("classic mode")
            yield from self.classic_mode()
            self.mark("text prompts")
            yield from self.text_prompts()
            self.mark("marching ants")
            yield from self.marching_ants()
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
