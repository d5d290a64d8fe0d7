"""Menu actions (Select menu, shortcut-assignable): thin wrappers around the shared controller."""
from __future__ import annotations

from krita import Extension

from .click_mode import install_action
from .controller import shared_controller
from .ui_text import ACTIONS


class MamExtension(Extension):
    def setup(self) -> None:
        pass

    def createActions(self, window) -> None:
        for action_id, text, target in ACTIONS:
            action = window.createAction(action_id, text, "select")
            action.triggered.connect(lambda _checked=False, t=target: shared_controller().start(t))
        install_action(window)      # Click to select (issue 11)
