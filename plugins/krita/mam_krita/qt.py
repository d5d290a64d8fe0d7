"""The one place the plugin names its Qt binding: PyQt5 in Krita 5, PyQt6 in Krita 6 (Qt6).

The binding Krita itself has loaded wins (importing the other one into the same process would load a second
Qt); with neither loaded yet (tests, tools) PyQt5 is tried first, then PyQt6. Everything else in the plugin
imports Qt names from here. Only names whose use is the same in both bindings are exported: no enums (PyQt6
scopes them), no exec_ (PyQt6 has only exec).
"""
import sys

if "PyQt6" in sys.modules or "PyQt6.QtCore" in sys.modules:
    from PyQt6 import QtCore, QtWidgets
elif "PyQt5" in sys.modules or "PyQt5.QtCore" in sys.modules:
    from PyQt5 import QtCore, QtWidgets
else:
    try:
        from PyQt5 import QtCore, QtWidgets
    except ImportError:
        from PyQt6 import QtCore, QtWidgets

QT_MAJOR = int(QtCore.QT_VERSION_STR.split(".")[0])
QObject, QThread, QTimer, pyqtSignal = QtCore.QObject, QtCore.QThread, QtCore.QTimer, QtCore.pyqtSignal
QCheckBox, QComboBox, QFormLayout = QtWidgets.QCheckBox, QtWidgets.QComboBox, QtWidgets.QFormLayout
QHBoxLayout, QLabel, QLineEdit = QtWidgets.QHBoxLayout, QtWidgets.QLabel, QtWidgets.QLineEdit
QMessageBox, QProgressBar, QPushButton = QtWidgets.QMessageBox, QtWidgets.QProgressBar, QtWidgets.QPushButton
QVBoxLayout, QWidget = QtWidgets.QVBoxLayout, QtWidgets.QWidget
QApplication = QtWidgets.QApplication

__all__ = ["QT_MAJOR", "QObject", "QThread", "QTimer", "pyqtSignal", "QCheckBox", "QComboBox", "QFormLayout",
           "QHBoxLayout", "QLabel", "QLineEdit", "QMessageBox", "QProgressBar", "QPushButton", "QVBoxLayout",
           "QWidget", "QApplication"]
