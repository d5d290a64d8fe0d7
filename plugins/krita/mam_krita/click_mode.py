"""Click to select: an interactive prompt loop on Krita's canvas with a live matte preview.

While the mode runs, an event filter on the active view's canvas widget turns clicks into prompts (left click:
foreground point; Shift+click or right click: background point; left drag: box); Backspace / Ctrl+Z removes the
last prompt, Esc leaves without a trace, Enter commits. After each prompt a preview matte (options.preview) is
asked for in a thread; a newer prompt cancels the running request and an answer to an older one is dropped. The
preview, the points and the box are painted by a transparent overlay widget (click_overlay), never into the
document. Enter hands the prompt to the plugin's one MatteController, so the committed selection, transparency
mask or extracted layer is exactly what the menu actions make (full resolution, one undo step).

PrepareScheduler sends `prepare` for the active image while the docker is visible (after a quiet second), so the
first click on an opened photo is a re-prompt, not an encode.
"""
from __future__ import annotations

import threading
import time
from typing import Any, Optional

from krita import Krita

from .canvas import Canvas, effective_source, read_canvas, source_layer
from .click_geometry import (
    Affine,
    affine_from_qtransform,
    box_from_corners,
    clamp_point,
    flake_to_image_from_document,
    widget_to_image,
)
from .click_overlay import ClickOverlay
from .click_qt import (
    CANVAS_CLASSES,
    QApplication,
    QEvent,
    QKeySequence,
    QMdiArea,
    Qt,
    button_name,
    event_position,
    has_modifier,
    is_text_entry,
    key_name,
)
from .click_session import COMMIT, LEAVE, UNDO, PointerTracker, PrepareDebounce, PromptList, Supersede, key_action
from .controller import MASK, SELECTION, SUBJECT_LAYER, load_settings, shared_controller
from .daemon_info import refine_edges_option
from .mam_client import DaemonTimeout, DaemonUnavailable, MamError, MatteCancelled
from .prompts import CanvasPrompt
from .qt import QObject, QThread, QTimer, QWidget, pyqtSignal
from .worker import shared_client

ACTION_ID = "mam_click_select"
ACTION_TEXT = "Click to Select (Matting Anything)"
DEFAULT_SHORTCUT = "Ctrl+Shift+K"        # free in Krita 5.2's default shortcut scheme
PREVIEW_SIDE = 1024                      # long side of the preview alpha (options.preview)
OUTPUTS = ((SELECTION, "Selection"), (MASK, "Transparency mask"), (SUBJECT_LAYER, "Extracted layer"))
OUTPUT_SETTING = "click_output"
VIEW_POLL_MS = 100                       # repaint the overlay when the view is panned, zoomed or rotated
PREPARE_POLL_MS = 500
PREPARE_QUIET_S = 1.0
HINT = ("Click: subject · Shift+click / right click: background · drag: box · Backspace: undo a click · "
        "Enter: apply · Esc: leave")


def find_canvas_widget(window):
    """The canvas widget (OpenGL or software) of the window's current view: a child of its active QMdiSubWindow
    whose C++ class is Krita's canvas."""
    qwindow = window.qwindow()
    mdi = qwindow.findChild(QMdiArea)
    sub = mdi.currentSubWindow() if mdi is not None else None
    if sub is None:
        return None
    found = [w for w in sub.findChildren(QWidget) if w.metaObject().className() in CANVAS_CLASSES]
    visible = [w for w in found if w.isVisible()]
    return (visible or found or [None])[0]


def view_image_to_widget(view, doc) -> Affine:
    """The map from image pixels to canvas-widget pixels of `view` (zoom, pan, rotation, mirroring)."""
    flake_to_widget = affine_from_qtransform(view.flakeToCanvasTransform())
    if hasattr(view, "flakeToImageTransform"):
        flake_to_image = affine_from_qtransform(view.flakeToImageTransform())
    else:
        flake_to_image = flake_to_image_from_document(affine_from_qtransform(view.flakeToDocumentTransform()),
                                                      doc.xRes(), doc.yRes())
    return widget_to_image(flake_to_widget, flake_to_image).inverted()


def canvas_key(doc, settings) -> tuple:
    """What decides which bytes a matte of `doc` sends: the document, its size and colour space, the active layer
    and the pixel source."""
    node = source_layer(doc.activeNode())
    source = settings.source
    if node is not None:
        source, _ = effective_source(settings.source, node.name(), node.type())
    return (doc.rootNode().uniqueId().toString() if hasattr(doc.rootNode(), "uniqueId") else id(doc),
            doc.width(), doc.height(), doc.colorModel(), doc.colorDepth(),
            node.uniqueId().toString() if node is not None else "", source)


def read_click_canvas(doc, settings) -> Canvas:
    node = source_layer(doc.activeNode())
    source = settings.source
    if node is not None:
        source, _ = effective_source(settings.source, node.name(), node.type())
    return read_canvas(doc, node, source)


class PreviewWorker(QThread):
    """One preview matte in a thread; the answer comes back tagged with its request number."""

    answered = pyqtSignal(int, object, float)      # number, DaemonMatte, seconds the client call took
    failed = pyqtSignal(int, str)

    def __init__(self, number: int, canvas: Canvas, prompts: PromptList, settings, parent=None):
        super().__init__(parent)
        self.number = number
        self._canvas, self._settings = canvas, settings
        self._box, self._points = prompts.box, prompts.points
        self._client = shared_client(settings.endpoint)
        self.cancel_event = threading.Event()

    def run(self) -> None:
        c, s = self._canvas, self._settings
        try:
            started = time.perf_counter()
            refine, _note = refine_edges_option(self._client.connect(), s.refine_edges, self._client.endpoint)
            result = self._client.matte(c.width, c.height, c.fmt, c.pixels, c.stride, box=self._box,
                                        points=self._points or None, guidance=s.guidance, depth=8, crop=True,
                                        refine=refine, preview=PREVIEW_SIDE, cancel_event=self.cancel_event,
                                        timeout=s.timeout_s)
            self.answered.emit(self.number, result, time.perf_counter() - started)
        except MatteCancelled:
            pass
        except (MamError, DaemonUnavailable, DaemonTimeout, ValueError) as exc:
            self.failed.emit(self.number, str(exc))
        except Exception as exc:  # a thread must report, never die silently
            self.failed.emit(self.number, f"unexpected {type(exc).__name__}: {exc}")


class ClickMode(QObject):
    """The one Click to select session of the plugin (at most one view at a time)."""

    active_changed = pyqtSignal(bool)
    status = pyqtSignal(str)
    preview_shown = pyqtSignal(int)          # request number whose preview is now on the canvas

    def __init__(self, parent=None):
        super().__init__(parent)
        self.prompts = PromptList()
        self.output = Krita.instance().readSetting("mam_krita", OUTPUT_SETTING, SELECTION)
        if self.output not in dict(OUTPUTS):
            self.output = SELECTION
        self.stats: list = []            # per shown preview: timings (the benchmark and tests read them)
        self.last_preview = None         # the DaemonMatte shown last
        self.last_error = ""
        self.canvas_read_s = 0.0
        self._tracker = PointerTracker()
        self._supersede = Supersede()
        self._workers: set = set()
        self._pending: dict = {}         # request number -> {"click": perf_counter at the event}
        self._doc: Any = None
        self._view: Any = None
        self._widget: Any = None
        self._overlay: Any = None
        self._canvas: Any = None         # the Canvas the mode's requests send
        self._settings: Any = None
        self._transform = Affine()
        self._view_timer = QTimer(self)
        self._view_timer.timeout.connect(self._poll_view)
        self.scheduler: Optional[PrepareScheduler] = None    # set by the docker's scheduler, for its canvas

    # ---- entering and leaving -----------------------------------------------------------------

    @property
    def active(self) -> bool:
        return self._widget is not None

    def set_active(self, active: bool) -> None:
        if active and not self.active:
            self.enter()
        elif not active and self.active:
            self.leave()

    def set_output(self, output: str) -> None:
        if output in dict(OUTPUTS):
            self.output = output
            Krita.instance().writeSetting("mam_krita", OUTPUT_SETTING, output)

    def enter(self) -> bool:
        """Start the mode on the active view; False (with a status line) when it cannot."""
        k = Krita.instance()
        window = k.activeWindow()
        doc = k.activeDocument()
        view = window.activeView() if window is not None else None
        if doc is None or view is None:
            return self._refuse("Open an image first.")
        if shared_controller().running:
            return self._refuse("A matte is running; wait for it or cancel it first.")
        widget = find_canvas_widget(window)
        if widget is None:
            return self._refuse("Could not find the canvas of the active view.")
        try:
            settings = load_settings().validated()
            started = time.perf_counter()
            canvas = read_click_canvas(doc, settings)   # fresh: its digest matches the prepared one if unchanged
            self.canvas_read_s = time.perf_counter() - started
            transform = view_image_to_widget(view, doc)
        except Exception as exc:   # an unsupported colour space, a settings error: say so, stay out of the mode
            return self._refuse(str(exc))
        self._doc, self._view, self._widget, self._canvas, self._settings = doc, view, widget, canvas, settings
        self._transform = transform
        self.prompts.clear()
        self._tracker.reset()
        self.stats, self.last_preview, self.last_error = [], None, ""
        self._overlay = ClickOverlay(widget, lambda: self._transform)
        widget.installEventFilter(self)
        QApplication.instance().installEventFilter(self)
        widget.destroyed.connect(self._on_canvas_destroyed)
        widget.setFocus()
        self._view_timer.start(VIEW_POLL_MS)
        self.active_changed.emit(True)
        self.status.emit(HINT)
        return True

    def leave(self) -> None:
        """Leave the mode; nothing in the document changes (the overlay is not part of it)."""
        if not self.active:
            return
        self._drop_requests()
        self._view_timer.stop()
        QApplication.instance().removeEventFilter(self)
        widget, self._widget = self._widget, None
        try:
            widget.removeEventFilter(self)
            widget.destroyed.disconnect(self._on_canvas_destroyed)
        except (RuntimeError, TypeError):   # the canvas is being destroyed
            pass
        if self._overlay is not None:
            try:
                self._overlay.hide()
                self._overlay.deleteLater()
            except RuntimeError:
                pass
        self._overlay = None
        self._doc = self._view = self._canvas = None
        self.prompts.clear()
        self._tracker.reset()
        self.active_changed.emit(False)

    def _on_canvas_destroyed(self, *_args) -> None:
        self._overlay = None
        self.leave()

    def _refuse(self, text: str) -> bool:
        self.status.emit(text)
        self.active_changed.emit(False)
        return False

    # ---- prompts ------------------------------------------------------------------------------

    def add_point(self, x: float, y: float, label: int, clicked_at: Optional[float] = None) -> None:
        self.prompts.add_point(x, y, label)
        self._changed(clicked_at)

    def add_box(self, box, clicked_at: Optional[float] = None) -> None:
        self.prompts.add_box(box)
        self._changed(clicked_at)

    def remove_last(self) -> None:
        if self.prompts.remove_last():
            self._changed(time.perf_counter())

    def _changed(self, clicked_at: Optional[float]) -> None:
        if self._overlay is not None:
            self._overlay.set_prompts(self.prompts.points, self.prompts.box)
        self._drop_requests()
        if not self.prompts:
            if self._overlay is not None:
                self._overlay.set_preview(None)
            self.last_preview = None
            return
        number = self._supersede.begin()
        self._pending[number] = {"click": clicked_at or time.perf_counter(), "prompts": len(self.prompts)}
        worker = PreviewWorker(number, self._canvas, self.prompts, self._settings, self)
        worker.answered.connect(self._on_preview)
        worker.failed.connect(self._on_preview_failed)
        worker.finished.connect(self._on_worker_done)
        self._workers.add(worker)
        worker.start()

    def _drop_requests(self) -> None:
        """Cancel every running preview request; their answers, if any still come, are stale."""
        self._supersede.invalidate()
        self._pending.clear()
        for worker in self._workers:
            worker.cancel_event.set()

    def _on_worker_done(self) -> None:
        worker = self.sender()
        self._workers.discard(worker)
        worker.deleteLater()

    def _on_preview(self, number: int, result, call_s: float) -> None:
        if not self.active or not self._supersede.accept(number):
            return    # superseded by a newer prompt, or the mode was left
        pending = self._pending.pop(number, {})
        received = time.perf_counter()
        self.last_preview = result
        self._overlay.set_preview(result.alpha, result.x, result.y, result.width, result.height,
                                  result.window_width, result.window_height)
        self._overlay.repaint()      # paint now, so the time below includes drawing the preview
        painted = time.perf_counter()
        total = painted - pending.get("click", received)
        self.stats.append({"number": number, "prompts": pending.get("prompts", 0), "client_call_s": call_s,
                           "daemon_s": float(result.timings.get("total", 0.0)), "timings": dict(result.timings),
                           "total_s": total, "editor_s": total - call_s, "paint_s": self._overlay.paint_seconds,
                           "draw_s": painted - received, "sent_pixels": result.sent_pixels,
                           "scale": result.scale, "size": [result.width, result.height]})
        self.status.emit(f"Preview ready ({len(self.prompts)} prompt(s)). " + HINT)
        self.preview_shown.emit(number)

    def _on_preview_failed(self, number: int, message: str) -> None:
        if self._supersede.is_current(number):
            self.last_error = message
            self.status.emit(f"Preview failed: {message}")

    # ---- commit -------------------------------------------------------------------------------

    def commit(self) -> bool:
        """Apply the current prompts to the chosen output through the plugin's controller (full resolution, one
        undo step), then leave the mode. False when there is nothing to apply or the controller refused."""
        if not self.active:
            return False
        if not self.prompts:
            self.status.emit("Click on the subject first (or press Esc to leave).")
            return False
        prompt = CanvasPrompt(self.prompts.box, self.prompts.points, None, [])
        doc, output = self._doc, self.output
        self._drop_requests()
        started = shared_controller().start(output, doc, prompt=prompt)
        if started:
            self.leave()
        return started

    # ---- events -------------------------------------------------------------------------------

    def _poll_view(self) -> None:
        if not self.active:
            return
        try:
            transform = view_image_to_widget(self._view, self._doc)
        except (RuntimeError, ValueError):
            return
        if transform != self._transform:
            self._transform = transform
            if self._overlay is not None:
                self._overlay.update()

    def eventFilter(self, obj, event) -> bool:
        if not self.active:
            return False
        kind = event.type()
        if kind in (QEvent.Type.ShortcutOverride, QEvent.Type.KeyPress):
            return self._key(obj, event, kind)
        if obj is not self._widget:
            return False
        if kind == QEvent.Type.Resize and self._overlay is not None:
            self._overlay.setGeometry(self._widget.rect())
            return False
        if kind == QEvent.Type.MouseButtonPress:
            x, y = event_position(event)
            return self._tracker.on_press(x, y, button_name(event.button()),
                                          has_modifier(event, Qt.KeyboardModifier.ShiftModifier))
        if kind == QEvent.Type.MouseMove:
            if self._tracker.press is None:
                return False
            band = self._tracker.on_move(*event_position(event))
            if self._overlay is not None:
                self._overlay.set_band(band)
            return True
        if kind == QEvent.Type.MouseButtonRelease:
            clicked_at = time.perf_counter()
            owned = self._tracker.press is not None
            x, y = event_position(event)
            gesture = self._tracker.on_release(x, y, button_name(event.button()))
            if gesture is not None:
                self._gesture(gesture, clicked_at)
            return owned
        if kind == QEvent.Type.MouseButtonDblClick:
            return button_name(event.button()) in ("left", "right")
        return False

    def _gesture(self, gesture, clicked_at: float) -> None:
        to_image = self._transform.inverted()
        width, height = self._doc.width(), self._doc.height()
        if self._overlay is not None:
            self._overlay.set_band(None)
        if gesture[0] == "point":
            point = clamp_point(*to_image.map(*gesture[1]), width, height)
            if point is None:
                self.status.emit("That click is outside the image. " + HINT)
                return
            self.add_point(point[0], point[1], gesture[2], clicked_at)
        else:
            corners = [to_image.map(*gesture[1]), to_image.map(*gesture[2]),
                       to_image.map(gesture[1][0], gesture[2][1]), to_image.map(gesture[2][0], gesture[1][1])]
            xs, ys = [c[0] for c in corners], [c[1] for c in corners]
            box = box_from_corners((min(xs), min(ys)), (max(xs), max(ys)), width, height)
            if box is None:
                self.status.emit("That box is outside the image. " + HINT)
                return
            self.add_box(box, clicked_at)

    def _key(self, obj, event, kind) -> bool:
        if not isinstance(obj, QWidget) or is_text_entry(QApplication.focusWidget()):
            return False
        name = key_name(event.key())
        if not name:
            return False
        action = key_action(name, has_modifier(event, Qt.KeyboardModifier.ControlModifier),
                            has_modifier(event, Qt.KeyboardModifier.ShiftModifier),
                            has_modifier(event, Qt.KeyboardModifier.AltModifier))
        if action is None:
            return False
        if kind == QEvent.Type.ShortcutOverride:   # keep Krita's shortcut (Backspace fills, Ctrl+Z undoes) off it
            event.accept()
            return True
        if event.isAutoRepeat() and action != UNDO:
            return True
        if action == UNDO:
            self.remove_last()
        elif action == LEAVE:
            self.leave()
            self.status.emit("Left Click to select; nothing was changed.")
        elif action == COMMIT:
            self.commit()
        return True


class PrepareWorker(QThread):
    """Sends one `prepare` (returns once the daemon queued it); reports what happened for the log."""

    done = pyqtSignal(str)

    def __init__(self, client, canvas: Optional[Canvas], parent=None):
        super().__init__(parent)
        self._client, self._canvas = client, canvas

    def run(self) -> None:
        try:
            info = self._client.connect()
            features = info.get("features") if isinstance(info, dict) else None
            if self._canvas is None:
                self.done.emit("hello")
                return
            if not (isinstance(features, list) and "prepare" in features):
                self.done.emit("not offered")
                return
            c = self._canvas
            answer = self._client.prepare(c.width, c.height, c.fmt, c.pixels, c.stride, wait=False, timeout=30.0)
            self.done.emit(f"prepare {answer.request_id}: {answer.prepared}")
        except Exception as exc:   # a prepare is only a head start: never a message box
            self.done.emit(f"failed: {type(exc).__name__}: {exc}")


class PrepareScheduler(QObject):
    """While `owner` (the docker's widget) is visible: after the active image stayed the same for a quiet second,
    read it once and send `prepare` for it, if the daemon's hello lists "prepare".

    "The same" is judged from cheap state only (document, size, active layer, endpoint, and the text of Krita's
    Undo action, which names the last edit): `Document.thumbnail` renders the whole projection (775 ms at 8 MP),
    too slow to poll. Repeated edits of one kind ("Undo Freehand Brush Stroke" twice) are not seen; the first
    click after them then pays the encoder once, and its answer is still the edited image's."""

    prepared = pyqtSignal(str)

    def __init__(self, owner, parent=None):
        super().__init__(parent)
        self._owner = owner
        self._debounce = PrepareDebounce(PREPARE_QUIET_S)
        self._worker: Optional[PrepareWorker] = None
        self.log: list = []
        self._timer = QTimer(self)
        self._timer.timeout.connect(self.tick)
        self._timer.start(PREPARE_POLL_MS)
        shared_click_mode().scheduler = self

    def stop(self) -> None:
        """Send no more prepares from this docker (its timer stops; a prepare in flight still finishes)."""
        self._timer.stop()

    def _signature(self):
        """Which image would be sent and the last edit's name; None: nothing to prepare now."""
        if not self._owner.isVisible() or shared_click_mode().active or shared_controller().running:
            return None
        k = Krita.instance()
        doc = k.activeDocument()
        if doc is None:
            return None
        settings = load_settings()
        undo = k.action("edit_undo")
        last_edit = (undo.text(), undo.isEnabled()) if undo is not None else None
        return (canvas_key(doc, settings), settings.endpoint, last_edit, doc.modified())

    def tick(self) -> None:
        if self._worker is not None:
            return
        try:
            signature = self._signature()
        except RuntimeError:
            return
        if not self._debounce.observe(signature, time.monotonic()):
            return
        endpoint = signature[1]
        client = shared_client(endpoint)
        info = client.server_info
        features = info.get("features") if isinstance(info, dict) else None
        canvas = None
        if isinstance(features, list) and "prepare" in features:
            try:
                canvas = read_click_canvas(Krita.instance().activeDocument(), load_settings())
            except Exception as exc:   # unsupported colour space and such: no head start, no message
                self.log.append(f"not prepared: {exc}")
                return
        elif isinstance(features, list):
            return                      # this daemon has no prepare
        # else: not connected yet: ask hello first (the worker), prepare on a later tick
        worker = PrepareWorker(client, canvas, self)
        worker.done.connect(self._on_done)
        worker.finished.connect(worker.deleteLater)
        self._worker = worker
        worker.start()

    def _on_done(self, text: str) -> None:
        self._worker = None
        self.log.append(text)
        self.prepared.emit(text)
        if text == "hello":             # now the features are known: prepare on the next quiet tick
            self._debounce.forget()


_shared: Optional[ClickMode] = None


def shared_click_mode() -> ClickMode:
    global _shared
    if _shared is None:
        _shared = ClickMode()
    return _shared


def install_action(window) -> None:
    """The checkable Select-menu entry (default shortcut Ctrl+Shift+K) that toggles the mode."""
    action = window.createAction(ACTION_ID, ACTION_TEXT, "select")
    action.setCheckable(True)

    def default_shortcut() -> None:
        """mam_krita.action (installed by Krita's plugin importer) gives the default shortcut; without it (a
        plugin copied by hand) set it here, after Krita has applied the stored shortcuts."""
        if action.shortcut().isEmpty():
            action.setShortcut(QKeySequence(DEFAULT_SHORTCUT))
    QTimer.singleShot(0, default_shortcut)
    mode = shared_click_mode()
    action.toggled.connect(mode.set_active)

    def follow(active: bool) -> None:
        if action.isChecked() != active:
            action.blockSignals(True)
            action.setChecked(active)
            action.blockSignals(False)
    mode.active_changed.connect(follow)
