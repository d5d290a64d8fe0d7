"""A transparent widget laid over Krita's canvas while Click to select runs: the preview matte, the points, the
box and the rubber band. It is a child of the canvas widget, lets every mouse event through, and is not part of
the document: removing it leaves no trace (no layer, no undo step)."""
from __future__ import annotations

import time
from typing import Callable, Optional

from .click_geometry import Affine, image_corners_in_widget
from .click_qt import QColor, QImage, QPainter, QPen, QPointF, QPolygonF, QRectF, Qt, qRgba, qtransform
from .qt import QWidget

TINT = (40, 140, 255)                   # the preview's colour over the subject
PREVIEW_OPACITY = 0.55                  # opaque matte -> this much tint
POINT_RADIUS = 6.0
FOREGROUND_COLOUR, BACKGROUND_COLOUR = (40, 220, 60), (235, 40, 40)


def _colour_table() -> list:
    r, g, b = TINT
    return [qRgba(r, g, b, int(round(v * PREVIEW_OPACITY))) for v in range(256)]


class ClickOverlay(QWidget):
    def __init__(self, canvas_widget, image_to_widget: Callable[[], Affine]):
        super().__init__(canvas_widget)
        self.setAttribute(Qt.WidgetAttribute.WA_TransparentForMouseEvents, True)
        self.setAttribute(Qt.WidgetAttribute.WA_NoSystemBackground, True)
        self.setFocusPolicy(Qt.FocusPolicy.NoFocus)
        self._image_to_widget = image_to_widget
        self._table = _colour_table()
        self._preview: Optional[QImage] = None
        self._preview_bytes = b""
        self._preview_rect = QRectF()
        self.points: list = []
        self.box = None
        self.band = None                # (press, now) in widget pixels while dragging
        self.painted_at = 0.0           # perf_counter when the last paint ended (the benchmark reads it)
        self.paint_seconds = 0.0
        self.setGeometry(canvas_widget.rect())
        self.show()
        self.raise_()

    def set_preview(self, alpha: Optional[bytes], x: int = 0, y: int = 0, width: int = 0, height: int = 0,
                    window_width: int = 0, window_height: int = 0) -> None:
        """An 8-bit alpha of width × height samples covering window_width × window_height image pixels from (x, y);
        None clears it."""
        if alpha is None or width <= 0 or height <= 0:
            self._preview, self._preview_bytes = None, b""
        else:
            self._preview_bytes = bytes(alpha)     # QImage does not copy: keep the bytes alive with it
            image = QImage(self._preview_bytes, width, height, width, QImage.Format.Format_Indexed8)
            image.setColorTable(self._table)
            self._preview = image
            self._preview_rect = QRectF(x, y, window_width or width, window_height or height)
        self.update()

    def set_prompts(self, points: list, box) -> None:
        self.points, self.box = list(points), box
        self.update()

    def set_band(self, band) -> None:
        self.band = band
        self.update()

    def paintEvent(self, _event) -> None:
        started = time.perf_counter()
        painter = QPainter(self)
        try:
            transform = self._image_to_widget()
            if self._preview is not None:
                painter.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform, True)
                painter.setTransform(qtransform(transform))
                painter.drawImage(self._preview_rect, self._preview,
                                  QRectF(0, 0, self._preview.width(), self._preview.height()))
                painter.resetTransform()
            painter.setRenderHint(QPainter.RenderHint.Antialiasing, True)
            if self.box is not None:
                pen = QPen(QColor(255, 255, 255))
                pen.setWidthF(1.5)
                pen.setStyle(Qt.PenStyle.DashLine)
                painter.setPen(pen)
                painter.setBrush(Qt.BrushStyle.NoBrush)
                painter.drawPolygon(QPolygonF([QPointF(px, py) for px, py in
                                               image_corners_in_widget(transform, self.box)]))
            if self.band is not None:
                (ax, ay), (bx, by) = self.band
                pen = QPen(QColor(255, 255, 255))
                pen.setStyle(Qt.PenStyle.DotLine)
                painter.setPen(pen)
                painter.setBrush(Qt.BrushStyle.NoBrush)
                painter.drawRect(QRectF(QPointF(min(ax, bx), min(ay, by)), QPointF(max(ax, bx), max(ay, by))))
            for x, y, label in self.points:
                wx, wy = transform.map(x, y)
                painter.setPen(QPen(QColor(255, 255, 255), 2.0))
                painter.setBrush(QColor(*(FOREGROUND_COLOUR if label == 1 else BACKGROUND_COLOUR)))
                painter.drawEllipse(QPointF(wx, wy), POINT_RADIUS, POINT_RADIUS)
        finally:
            painter.end()
        self.painted_at = time.perf_counter()
        self.paint_seconds = self.painted_at - started
