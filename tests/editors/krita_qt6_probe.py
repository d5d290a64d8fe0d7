"""Runs in the sid root's python3 with PyQt6 loaded first, as Krita 6 would have it, and a stand-in `krita`
module (no Krita 6 package exists to test in): imports every mam_krita module, lets mam_krita register its
extension and docker, builds the docker and lets its hello thread report the unreachable daemon through
Qt signals. Prints one JSON line. argv: the folder holding mam_krita, the dead endpoint."""
import importlib
import json
import sys
import types

from PyQt6.QtCore import QObject, QTimer  # Qt6 first: the plugin must follow what the host loaded
from PyQt6.QtWidgets import QApplication, QDockWidget

plugin_dir, endpoint = sys.argv[1], sys.argv[2]
app = QApplication(["krita-qt6-probe"])


class _Krita(QObject):
    def __init__(self):
        super().__init__()
        self.settings = {("mam_krita", "endpoint"): endpoint}
        self.extensions, self.factories = [], []

    def readSetting(self, group, key, default):
        return self.settings.get((group, key), default)

    def writeSetting(self, group, key, value):
        self.settings[(group, key)] = value

    def activeWindow(self):
        return None

    def activeDocument(self):
        return None

    def addExtension(self, extension):
        self.extensions.append(extension)

    def addDockWidgetFactory(self, factory):
        self.factories.append(factory)


_instance = _Krita()
krita = types.ModuleType("krita")
krita.Krita = type("Krita", (), {"instance": staticmethod(lambda: _instance)})
krita.DockWidget = type("DockWidget", (QDockWidget,), {"canvasChanged": lambda self, canvas: None})
krita.Extension = type("Extension", (QObject,), {})
krita.DockWidgetFactoryBase = type("DockWidgetFactoryBase", (), {"DockRight": 2})
krita.DockWidgetFactory = type("DockWidgetFactory", (), {"__init__": lambda self, i, a, c: setattr(self, "cls", c)})
krita.Selection = type("Selection", (), {})
sys.modules["krita"] = krita
sys.path.insert(0, plugin_dir)

import mam_krita  # noqa: E402, F401  (registers the extension and the docker factory, as in Krita)

names = ["apply", "canvas", "controller", "cutout", "daemon_info", "docker", "document_prompt", "extension",
         "pixel_formats", "prompts", "qt", "settings", "text_prompt", "ui_text", "worker", "click_docker",
         "click_geometry", "click_mode", "click_overlay", "click_qt", "click_session"]
modules = {n: importlib.import_module(f"mam_krita.{n}") for n in names}
docker = _instance.factories[0].cls()
seen = []
QTimer.singleShot(100, lambda: None)
deadline = QTimer()
deadline.setSingleShot(True)
deadline.timeout.connect(app.quit)


def poll():
    seen.append(docker._daemon.text())
    if "not reachable" in seen[-1]:
        app.quit()


ticker = QTimer()
ticker.timeout.connect(poll)
ticker.start(100)
deadline.start(20000)
app.exec()
print(json.dumps({"qt_major": modules["qt"].QT_MAJOR, "binding": modules["qt"].QtCore.__name__,
                  "pyqt5_loaded": "PyQt5" in sys.modules, "modules": sorted(modules),
                  "extensions": [type(e).__name__ for e in _instance.extensions],
                  "docker": type(docker).__name__, "title": docker.windowTitle(),
                  "buttons": sorted(b.text() for b in docker.findChildren(modules["qt"].QPushButton)),
                  "daemon_line": seen[-1] if seen else ""}))
