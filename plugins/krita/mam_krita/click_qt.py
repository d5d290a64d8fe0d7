"""The Qt names Click to select needs beyond mam_krita/qt.py, from the same binding (PyQt5 or PyQt6).

Enums are spelled scoped (Qt.MouseButton.LeftButton, QEvent.Type.KeyPress): PyQt6 requires it and PyQt5 5.11+
accepts it. Positions of mouse events: PyQt6 has position(), PyQt5 localPos() (both QPointF).
"""
import importlib

from .qt import QtCore, QtWidgets

QtGui = importlib.import_module(QtCore.__name__.rsplit(".", 1)[0] + ".QtGui")

Qt, QEvent, QPointF, QRectF = QtCore.Qt, QtCore.QEvent, QtCore.QPointF, QtCore.QRectF
QColor, QImage, QKeySequence, QPainter = QtGui.QColor, QtGui.QImage, QtGui.QKeySequence, QtGui.QPainter
QPen, QPolygonF, QTransform, qRgba = QtGui.QPen, QtGui.QPolygonF, QtGui.QTransform, QtGui.qRgba
QApplication, QMdiArea, QAbstractSpinBox = QtWidgets.QApplication, QtWidgets.QMdiArea, QtWidgets.QAbstractSpinBox
QLineEdit, QTextEdit, QPlainTextEdit = QtWidgets.QLineEdit, QtWidgets.QTextEdit, QtWidgets.QPlainTextEdit

CANVAS_CLASSES = ("KisOpenGLCanvas2", "KisQPainterCanvas")   # Krita's canvas widgets (OpenGL, software)


def event_position(event) -> tuple:
    """(x, y) of a mouse event in its widget's pixels, as floats."""
    pos = event.position() if hasattr(event, "position") else event.localPos()
    return (pos.x(), pos.y())


def button_name(button) -> str:
    if button == Qt.MouseButton.LeftButton:
        return "left"
    if button == Qt.MouseButton.RightButton:
        return "right"
    if button == Qt.MouseButton.MiddleButton:
        return "middle"
    return "other"


def has_modifier(event, modifier) -> bool:
    return bool(event.modifiers() & modifier)


KEY_NAMES = {Qt.Key.Key_Backspace: "backspace", Qt.Key.Key_Z: "z", Qt.Key.Key_Escape: "escape",
             Qt.Key.Key_Return: "return", Qt.Key.Key_Enter: "enter"}


def key_name(key: int) -> str:
    for qt_key, name in KEY_NAMES.items():
        if key == qt_key:
            return name
    return ""


def qtransform(affine):
    return QTransform(affine.m11, affine.m12, affine.m21, affine.m22, affine.dx, affine.dy)


def is_text_entry(widget) -> bool:
    """Whether keys belong to a text field (the docker's endpoint, a layer name being edited)."""
    return isinstance(widget, (QLineEdit, QTextEdit, QPlainTextEdit, QAbstractSpinBox))
