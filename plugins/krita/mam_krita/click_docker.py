"""The docker's Click to select row: the toggle, the output it applies to, Apply; and the prepare scheduler,
which runs while the docker is visible."""
from __future__ import annotations

from .click_mode import HINT, OUTPUTS, PrepareScheduler, shared_click_mode
from .qt import QComboBox, QHBoxLayout, QLabel, QPushButton, QVBoxLayout, QWidget


class ClickControls(QWidget):
    def __init__(self, parent=None):
        super().__init__(parent)
        self._mode = shared_click_mode()
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        row = QHBoxLayout()
        self.toggle = QPushButton("Click to select")
        self.toggle.setObjectName("mam_click_toggle")
        self.toggle.setCheckable(True)
        self.toggle.setToolTip(HINT + " (shortcut Ctrl+Shift+K)")
        self.output = QComboBox()
        self.output.setObjectName("mam_click_output")
        for value, label in OUTPUTS:
            self.output.addItem(label, value)
        self.output.setCurrentIndex(max(0, self.output.findData(self._mode.output)))
        self.output.setToolTip("What Enter (or Apply) makes of the clicked subject")
        self.apply = QPushButton("Apply")
        self.apply.setObjectName("mam_click_apply")
        self.apply.setEnabled(False)
        row.addWidget(self.toggle)
        row.addWidget(self.output)
        row.addWidget(self.apply)
        layout.addLayout(row)
        self.hint = QLabel("")
        self.hint.setObjectName("mam_click_hint")
        self.hint.setWordWrap(True)
        layout.addWidget(self.hint)
        self.toggle.toggled.connect(self._mode.set_active)
        self.output.currentIndexChanged.connect(lambda _i: self._mode.set_output(str(self.output.currentData())))
        self.apply.clicked.connect(self._mode.commit)
        self._mode.active_changed.connect(self._on_active)
        self._mode.status.connect(self.hint.setText)
        self.scheduler = PrepareScheduler(self, self)

    def _on_active(self, active: bool) -> None:
        if self.toggle.isChecked() != active:
            self.toggle.blockSignals(True)
            self.toggle.setChecked(active)
            self.toggle.blockSignals(False)
        self.apply.setEnabled(active)
