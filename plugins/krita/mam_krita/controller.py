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
from .text_prompt import clean_text, group_name, instance_names, not_found_text
from .ui_text import MASK, SELECT_UNDO_NOTE, SELECTION, SUBJECT_LAYER, done_text, result_score
from .worker import CANCELLED, UNAVAILABLE, MatteWorker, shared_client

__all__ = ["MASK", "SELECTION", "SUBJECT_LAYER", "TITLE", "MatteController", "load_settings", "shared_controller"]
TITLE = "Matting Anything"


def _message_box(title: str, text: str) -> None:
    QMessageBox.warning(Krita.instance().activeWindow().qwindow() if Krita.instance().activeWindow() else None,
                        title, text)


def _krita_version() -> tuple:
    """Krita's version as numbers, e.g. (5, 2, 9); (0,) when unreadable."""
    numbers = []
    for part in str(Krita.instance().version()).split("."):
        digits = "".join(c for c in part if c.isdigit())
        if not digits:
            break
        numbers.append(int(digits))
    return tuple(numbers) or (0,)


def load_settings() -> Settings:
    """Current settings from kritarc (bad stored values fall back to defaults)."""
    settings, _notes = load(Krita.instance().readSetting)
    return settings


class MatteController(QObject):
    """Runs at most one request at a time and applies its result to the document it came from."""

    busy = pyqtSignal(bool)
    progress = pyqtSignal(str, float)
    status = pyqtSignal(str)
    # outcome ("applied", "cancelled", "failed", "discarded", "refused", "not_found"), text
    finished = pyqtSignal(str, str)

    def __init__(self, notify: Callable[[str, str], None] = _message_box, parent=None):
        super().__init__(parent)
        self.notify = notify
        self._worker: Optional[MatteWorker] = None
        self._job: Optional[dict] = None

    @property
    def running(self) -> bool:
        return self._worker is not None

    def start(self, target: str, doc=None, settings: Optional[Settings] = None, text: Optional[str] = None,
              prompt=None) -> bool:
        """Begin a matte of `doc` (default: the active document) into `target`; False if refused.
        `text` (the docker's "Select" field) finds the subject by name; the settings' all_instances then mattes
        every instance found. `prompt` (a CanvasPrompt, e.g. Click to select's points) replaces the one read from
        the document's selection."""
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
            prompt = prompt or collect_prompt(doc, settings.refine_selection, clean_text(text))
            canvas = read_canvas(doc, layer, source)
        except (PromptError, UnsupportedColorSpace, SettingsError, ValueError) as exc:
            return self._refuse(str(exc))
        all_instances = prompt.text is not None and settings.all_instances
        self._job = {"doc": doc, "layer_id": layer.uniqueId() if layer is not None else None,
                     "target": target, "settings": settings, "text": prompt.text, "all": all_instances}
        worker = MatteWorker(shared_client(settings.endpoint), settings.timeout_s, canvas, prompt,
                             settings.guidance, foreground=target == SUBJECT_LAYER,
                             refine_edges=settings.refine_edges, all_instances=all_instances, parent=self)
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
        text = job["text"]
        if text is not None and not result.instances:   # nothing found: say so in the docker, change nothing
            self._end("not_found", not_found_text(text, result.notes))
            return
        window = (result.x, result.y, result.width, result.height)
        try:
            made = self._apply(doc, layer, target, result, window, text if job["all"] else None)
        except Exception as exc:  # Krita refused the change: say so, and stay usable for the next request
            text = f"Krita could not apply the matte ({type(exc).__name__}: {exc})."
            self.notify(TITLE, text)
            self._end("failed", text)
            return
        # notes: e.g. edge refinement not offered / not solved; no score in classic mode (it has none)
        score = result_score(result.score, shared_client(job["settings"].endpoint).server_info)
        self._end("applied", done_text(score, result.timings, made, result.notes))

    @staticmethod
    def _apply(doc, layer, target: str, result, window: tuple, all_of: Optional[str]) -> str:
        """Put the result into the document; returns the sentence naming what was made. `all_of`: the text
        whose every instance is wanted (one node each, in one group; a selection gets their union)."""
        if all_of is not None and target != SELECTION:
            group = group_name(all_of)
            names = instance_names([i.label for i in result.instances],
                                   "Matte" if target == MASK else "Subject")
            if target == MASK:
                applying.apply_instance_masks(doc, layer, result.instances, names, group)
                return (f" New group \"{group}\": {len(names)} clone(s) of \"{layer.name()}\", each with one "
                        f"instance's transparency mask; hide \"{layer.name()}\" to see only them.")
            applying.apply_instance_layers(doc, layer, result.foreground, window, result.instances, names, group)
            return f" New group \"{group}\" with {len(names)} layer(s), one per instance."
        if target == MASK:
            applying.apply_transparency_mask(doc, layer, result.alpha, *window)
            return ""
        if target == SUBJECT_LAYER:
            applying.apply_subject_layer(doc, layer, result.foreground, result.alpha, *window)
            return f" New layer \"{applying.SUBJECT_LAYER_NAME}\"."
        undoable = applying.apply_selection(doc, result.alpha, *window)
        made = f" {len(result.instances)} instance(s) selected." if all_of is not None else ""
        if not undoable and _krita_version() < (5, 3):   # set directly: Krita 5.2 keeps no undo step of it
            made += " " + SELECT_UNDO_NOTE
        return made

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
