"""One matte from start to finish: check the prompt, read the canvas, ask the daemon, apply the answer.

The Qt-window glue (menu actions, docker) only calls start()/cancel() and listens to the signals;
headless tests drive the same object. Messages go through `notify` (a QMessageBox by default) so
a test can record them instead of blocking on a dialog.
"""
from __future__ import annotations

from typing import Callable, Optional

from krita import Krita

from . import apply as applying
from .canvas import effective_source, read_canvas, source_layer
from .document_prompt import collect_prompt
from .pixel_formats import UnsupportedColorSpace, wire_format_for
from .prompts import PromptError
from .qt import QMessageBox, QObject, pyqtSignal
from .settings import Settings, SettingsError, load, start_hint
from .worker import CANCELLED, UNAVAILABLE, MatteWorker, shared_client

SELECTION, MASK, SUBJECT_LAYER = "selection", "mask", "subject_layer"
TITLE = "Matting Anything"


def _message_box(title: str, text: str) -> None:
    QMessageBox.warning(Krita.instance().activeWindow().qwindow() if Krita.instance().activeWindow() else None,
                        title, text)


def load_settings() -> Settings:
    """Current settings from kritarc (bad stored values fall back to defaults)."""
    settings, _notes = load(Krita.instance().readSetting)
    return settings


class MatteController(QObject):
    """Runs at most one request at a time and applies its result to the document it came from."""

    busy = pyqtSignal(bool)
    progress = pyqtSignal(str, float)
    status = pyqtSignal(str)
    finished = pyqtSignal(str, str)     # outcome ("applied", "cancelled", "failed", "discarded", "refused"), text

    def __init__(self, notify: Callable[[str, str], None] = _message_box, parent=None):
        super().__init__(parent)
        self.notify = notify
        self._worker: Optional[MatteWorker] = None
        self._job: Optional[dict] = None

    @property
    def running(self) -> bool:
        return self._worker is not None

    def start(self, target: str, doc=None, settings: Optional[Settings] = None, prompt=None) -> bool:
        """Begin a matte of `doc` (default: the active document) into `target`; False if refused. `prompt` (a
        CanvasPrompt, e.g. Click to select's points) replaces the one read from the document's selection."""
        if self.running:
            self.status.emit("A matte is already running; cancel it first.")
            return False
        doc = doc or Krita.instance().activeDocument()
        if doc is None:
            return self._refuse("Open an image first.")
        try:
            settings = (settings or load_settings()).validated()
            layer = source_layer(doc.activeNode())
            source, note = settings.source, ""
            if layer is not None:
                source, note = effective_source(settings.source, layer.name(), layer.type())
            if target == MASK and (layer is None or note):
                return self._refuse("Select the layer that should get the transparency mask.")
            if target == SUBJECT_LAYER:   # the new layer takes the document's colour space: refuse early
                wire_format_for(doc.colorModel(), doc.colorDepth())
            prompt = prompt or collect_prompt(doc, settings.refine_selection)
            canvas = read_canvas(doc, layer, source)
        except (PromptError, UnsupportedColorSpace, SettingsError, ValueError) as exc:
            return self._refuse(str(exc))
        self._job = {"doc": doc, "layer_id": layer.uniqueId() if layer is not None else None,
                     "target": target, "settings": settings}
        worker = MatteWorker(shared_client(settings.endpoint), settings.timeout_s, canvas, prompt,
                             settings.guidance, foreground=target == SUBJECT_LAYER,
                             refine_edges=settings.refine_edges, parent=self)
        worker.progress.connect(self.progress)
        worker.succeeded.connect(self._on_result)
        worker.failed.connect(self._on_failure)
        worker.finished.connect(self._on_thread_done)
        self._worker = worker
        self.busy.emit(True)
        self.status.emit(" ".join(["Matting…", note, *prompt.notes]))
        worker.start()
        return True

    def cancel(self) -> None:
        if self._worker is not None:
            self._worker.cancel()
            self.status.emit("Cancelling…")

    def _refuse(self, text: str) -> bool:
        self.notify(TITLE, text)
        self.finished.emit("refused", text)
        return False

    def _live_document(self, doc):
        """`doc` if it is still open (the artist may have closed it while the daemon worked)."""
        for open_doc in Krita.instance().documents():
            if open_doc == doc:
                return open_doc
        return None

    def _on_result(self, result) -> None:
        job, self._job = self._job, None
        doc = self._live_document(job["doc"])
        if doc is None:
            self._end("discarded", "The image was closed before the matte arrived; nothing was changed.")
            return
        target = job["target"]
        layer = doc.nodeByUniqueID(job["layer_id"]) if job["layer_id"] is not None else None
        if target != SELECTION and job["layer_id"] is not None and layer is None:
            self._end("discarded", "The layer was deleted before the matte arrived; nothing was changed.")
            return
        window = (result.x, result.y, result.width, result.height)
        try:
            if target == MASK:
                applying.apply_transparency_mask(doc, layer, result.alpha, *window)
            elif target == SUBJECT_LAYER:
                applying.apply_subject_layer(doc, layer, result.foreground, result.alpha, *window)
            else:
                applying.apply_selection(doc, result.alpha, *window)
        except Exception as exc:  # Krita refused the change: say so, and stay usable for the next request
            text = f"Krita could not apply the matte ({type(exc).__name__}: {exc})."
            self.notify(TITLE, text)
            self._end("failed", text)
            return
        total = sum(result.timings.values()) if result.timings else 0.0
        made = f" New layer \"{applying.SUBJECT_LAYER_NAME}\"." if target == SUBJECT_LAYER else ""
        notes = "".join(f" {note}" for note in result.notes)   # e.g. edge refinement not offered / not solved
        self._end("applied", f"Done (score {result.score:.2f}, {total:.1f} s).{made}{notes}")

    def _on_failure(self, kind: str, message: str) -> None:
        job, self._job = self._job, None
        if kind == CANCELLED:
            self._end("cancelled", "Cancelled.")
            return
        if kind == UNAVAILABLE:   # the client's message already names the default start command
            message += "\n\nOr press Start server in the Matting Anything docker; it runs:\n  " + \
                start_hint(job["settings"])
        self.notify(TITLE, message)
        self._end("failed", message)

    def _end(self, outcome: str, text: str) -> None:
        self._worker = None
        self.busy.emit(False)
        self.status.emit(text)
        self.finished.emit(outcome, text)

    def _on_thread_done(self) -> None:
        self.sender().deleteLater()


_shared: Optional[MatteController] = None


def shared_controller() -> MatteController:
    """The one controller the menu actions and the docker share."""
    global _shared
    if _shared is None:
        _shared = MatteController()
    return _shared
