"""The docker: daemon status, settings, progress, Cancel and Start server. Widgets only; work is elsewhere."""
from __future__ import annotations

import subprocess

from krita import DockWidget, Krita

from .click_docker import ClickControls
from .controller import MASK, SELECTION, SUBJECT_LAYER, TITLE, load_settings, shared_controller
from .daemon_info import GUIDANCE_LABELS, GUIDANCE_TOOLTIP, REFINE_EDGES_LABEL, refine_edges_control, summary
from .qt import (
    QCheckBox,
    QComboBox,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QProgressBar,
    QPushButton,
    QTimer,
    QVBoxLayout,
    QWidget,
)
from .settings import SOURCES, SettingsError, save, server_argv, start_hint
from .text_prompt import INSTANCES_LABEL, text_control
from .ui_text import STAGE_TEXT, progress_view
from .worker import HelloWorker

DOCKER_ID = "mam_krita_docker"
SERVER_POLL_MS, SERVER_POLL_TRIES = 2000, 60
RECHECK_MS = 15000          # while the daemon is not reachable, look again this often


class MamDocker(DockWidget):
    def __init__(self):
        super().__init__()
        self.setWindowTitle(TITLE)
        self._controller = shared_controller()
        self._hello = None
        self._check_again = False   # the endpoint changed while a check was running: check the new one after it
        self._polls_left = 0
        self._build()
        self._load()
        self._wire()
        self._controller.busy.connect(self._on_busy)
        self._controller.progress.connect(self._on_progress)
        self._controller.finished.connect(self._on_finished)
        self._controller.status.connect(self._message.setText)
        self._connected = False
        self._recheck = QTimer(self)
        self._recheck.timeout.connect(self._recheck_if_down)
        self._recheck.start(RECHECK_MS)
        self.check_daemon()

    def _build(self) -> None:
        root = QWidget(self)
        layout = QVBoxLayout(root)
        self._daemon = QLabel("Daemon: not checked")
        self._daemon.setWordWrap(True)
        layout.addWidget(self._daemon)
        form = QFormLayout()
        self._endpoint = QLineEdit()
        self._guidance = QComboBox()
        self._guidance.setObjectName("mam_guidance")
        for value, label in GUIDANCE_LABELS:
            self._guidance.addItem(label, value)
        self._guidance.setToolTip(GUIDANCE_TOOLTIP)
        self._source = QComboBox()
        self._source.addItems(SOURCES)
        self._refine_selection = QCheckBox("Refine the selection")
        self._refine_selection.setObjectName("mam_refine_selection")
        self._refine_selection.setToolTip("Also send the selection itself (not only its bounding box) as a mask "
                                          "for the model to refine")
        self._refine_edges = QCheckBox(REFINE_EDGES_LABEL)
        self._refine_edges.setObjectName("mam_refine_edges")
        self._refine_edges.setToolTip("Checking the daemon…")
        self._timeout = QLineEdit()
        self._command = QLineEdit()
        self._command.setToolTip("Run by Start server; {endpoint} is replaced by the endpoint above")
        form.addRow("Endpoint", self._endpoint)
        form.addRow("Guide the matte by", self._guidance)
        form.addRow("Pixels from", self._source)
        form.addRow(self._refine_selection)
        form.addRow(self._refine_edges)
        form.addRow("Timeout (s)", self._timeout)
        form.addRow("Server command", self._command)
        layout.addLayout(form)
        text_row = QHBoxLayout()
        self._text = QLineEdit()
        self._text.setObjectName("mam_text")
        self._text.setPlaceholderText("the dog, all people, …")
        self._text.setEnabled(False)
        self._text.setToolTip("Checking the daemon…")
        self._all_instances = QCheckBox(INSTANCES_LABEL)
        self._all_instances.setObjectName("mam_all_instances")
        self._all_instances.setToolTip("With a text: one transparency mask or layer per instance found (in one "
                                       "group, one undo step); Select Subject selects them all")
        text_row.addWidget(QLabel("Select:"))
        text_row.addWidget(self._text, 1)
        text_row.addWidget(self._all_instances)
        layout.addLayout(text_row)
        buttons = QHBoxLayout()
        self._select = QPushButton("Select Subject")
        self._mask = QPushButton("Matte to Mask")
        self._extract = QPushButton("Extract Subject")
        self._extract.setToolTip("A new layer above the active one: the subject's colours, cleaned of the old "
                                 "background, with the matte as transparency")
        buttons.addWidget(self._select)
        buttons.addWidget(self._mask)
        buttons.addWidget(self._extract)
        layout.addLayout(buttons)
        layout.addWidget(ClickControls(root))      # Click to select (issue 11)
        row = QHBoxLayout()
        self._progress = QProgressBar()
        self._progress.setRange(0, 100)
        self._cancel = QPushButton("Cancel")
        self._cancel.setEnabled(False)
        row.addWidget(self._progress)
        row.addWidget(self._cancel)
        layout.addLayout(row)
        self._start = QPushButton("Start server")
        self._check = QPushButton("Check")
        row2 = QHBoxLayout()
        row2.addWidget(self._start)
        row2.addWidget(self._check)
        layout.addLayout(row2)
        self._message = QLabel("")
        self._message.setWordWrap(True)
        layout.addWidget(self._message)
        layout.addStretch(1)
        self.setWidget(root)

    def _wire(self) -> None:
        """Connect the widgets once they hold the stored settings (loading them must not save)."""
        self._endpoint.editingFinished.connect(self._save)
        self._timeout.editingFinished.connect(self._save)
        self._command.editingFinished.connect(self._save)
        self._guidance.currentIndexChanged.connect(self._save)
        self._source.currentTextChanged.connect(self._save)
        self._refine_selection.toggled.connect(self._save)
        self._refine_edges.toggled.connect(self._save)
        self._all_instances.toggled.connect(self._save)
        self._select.clicked.connect(lambda: self.start(SELECTION))
        self._mask.clicked.connect(lambda: self.start(MASK))
        self._extract.clicked.connect(lambda: self.start(SUBJECT_LAYER))
        self._text.returnPressed.connect(lambda: self.start(SELECTION))
        self._cancel.clicked.connect(self._controller.cancel)
        self._start.clicked.connect(self.start_server)
        self._check.clicked.connect(self.check_daemon)

    def _load(self) -> None:
        s = load_settings()
        self._endpoint.setText(s.endpoint)
        self._guidance.setCurrentIndex(max(0, self._guidance.findData(s.guidance)))
        self._source.setCurrentText(s.source)
        self._refine_selection.setChecked(s.refine_selection)
        self._refine_edges.setChecked(s.refine_edges)
        self._all_instances.setChecked(s.all_instances)
        self._timeout.setText(f"{s.timeout_s:g}")
        self._command.setText(s.server_command)

    def _save(self, *_args) -> None:
        s = load_settings()
        try:
            for name, text in (("endpoint", self._endpoint.text()), ("guidance", str(self._guidance.currentData())),
                               ("source", self._source.currentText()),
                               ("refine_selection", "true" if self._refine_selection.isChecked() else "false"),
                               ("refine_edges", "true" if self._refine_edges.isChecked() else "false"),
                               ("all_instances", "true" if self._all_instances.isChecked() else "false"),
                               ("timeout_s", self._timeout.text()), ("server_command", self._command.text())):
                s = s.with_value(name, text)
        except SettingsError as exc:
            self._message.setText(str(exc))
            return
        endpoint_changed = s.endpoint != load_settings().endpoint
        save(s, Krita.instance().writeSetting)
        if endpoint_changed:
            self.check_daemon()

    def start(self, target: str) -> bool:
        """A button or Enter in the text field: the matte, with the typed text when the daemon offers text."""
        text = self._text.text() if self._text.isEnabled() else None
        return self._controller.start(target, text=text)

    def check_daemon(self) -> None:
        """Ask the daemon for hello in a thread; the status line updates when it answers."""
        if self._hello is not None:
            self._check_again = True
            return
        self._daemon.setText("Daemon: checking…")
        worker = HelloWorker(load_settings().endpoint, self)
        worker.answered.connect(self._on_hello)
        worker.failed.connect(self._on_hello_failed)
        worker.finished.connect(self._on_hello_done)
        self._hello = worker
        worker.start()

    def _recheck_if_down(self) -> None:
        if not self._connected:
            self.check_daemon()

    def _on_hello(self, info) -> None:
        self._connected = True
        self._daemon.setText("Daemon: " + summary(info))
        self._daemon.setToolTip("")
        # the classic edge refinement is offered only when this daemon lists it (the stored choice is kept)
        enabled, text, tip = refine_edges_control(info)
        self._refine_edges.setEnabled(enabled)
        self._refine_edges.setText(text)
        self._refine_edges.setToolTip(tip)
        enabled, tip = text_control(info)   # text prompts need the daemon's detector weights
        self._text.setEnabled(enabled)
        self._text.setToolTip(tip)
        self._start.setEnabled(False)
        self._polls_left = 0

    def _on_hello_failed(self, _kind: str, message: str) -> None:
        self._connected = False
        self._daemon.setText(f"Daemon: not reachable at {load_settings().endpoint} — press Start server")
        self._daemon.setToolTip(message)
        self._text.setEnabled(False)
        self._text.setToolTip("The daemon is not reachable; start it to find subjects by name.")
        self._start.setEnabled(True)

    def _on_hello_done(self) -> None:
        self.sender().deleteLater()
        self._hello = None
        if self._check_again:
            self._check_again = False
            self.check_daemon()
        elif self._polls_left > 0:
            self._polls_left -= 1
            QTimer.singleShot(SERVER_POLL_MS, self.check_daemon)

    def start_server(self) -> None:
        """Launch the configured server command detached, then poll until it answers."""
        s = load_settings()
        try:
            subprocess.Popen(server_argv(s), stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                             stderr=subprocess.DEVNULL, start_new_session=True)
        except (OSError, SettingsError) as exc:
            self._controller.notify(TITLE, f"Could not start the server ({exc}).\n\nStart it by hand with:\n  "
                                           + start_hint(s))
            return
        self._message.setText("Server starting (loading the model can take a minute)…")
        self._polls_left = SERVER_POLL_TRIES
        QTimer.singleShot(SERVER_POLL_MS, self.check_daemon)

    def _on_busy(self, busy: bool) -> None:
        self._cancel.setEnabled(busy)
        self._select.setEnabled(not busy)
        self._mask.setEnabled(not busy)
        self._extract.setEnabled(not busy)
        if busy:   # the canvas goes to the daemon first: no fraction is known until it answers
            self._set_bar(True, 0, "")
            self._message.setText(f"Matting… {STAGE_TEXT['upload']}")

    def _set_bar(self, busy: bool, percent: int, label: str) -> None:
        """Busy: Qt's indeterminate bar (range 0..0); else a percentage, with `label` in place of "n %" if given."""
        self._progress.setRange(0, 0 if busy else 100)
        self._progress.setValue(percent)
        self._progress.setFormat(label or "%p%")

    def _on_progress(self, stage: str, fraction: float) -> None:
        busy, percent, text = progress_view(stage, fraction)
        self._set_bar(busy, percent, "")
        self._message.setText(text)

    def _on_finished(self, outcome: str, _text: str) -> None:
        """A finished matte stays full ("Done"); anything else empties the bar."""
        if outcome == "applied":
            self._set_bar(False, 100, "Done")
        else:
            self._set_bar(False, 0, "")

    def canvasChanged(self, canvas) -> None:
        pass
