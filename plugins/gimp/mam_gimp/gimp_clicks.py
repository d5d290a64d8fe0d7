"""Click to Select (issue 11) without GTK: what a click, a drag or a key does to the prompt, how the layer maps to the
dialog's drawing area, which answer is still wanted, and the worker that keeps only the newest request.

GIMP plug-ins cannot add canvas tools, so the plug-in shows the layer in a dialog (gimp_click_dialog, the GTK glue)
and turns the artist's input there into prompts: a left click is a foreground point, a Shift+click or right click a
background point, a drag a box. Every change sends a matte; a newer one supersedes the running one, and an answer
for an older prompt is dropped. Backspace removes the last prompt, Esc closes without touching the image, Enter
commits. Everything here is plain Python, tested without GTK or GIMP.
"""
from __future__ import annotations

import math
import threading
from dataclasses import dataclass, field
from typing import Callable, Optional, Union

DRAG_THRESHOLD = 4.0          # widget pixels the pointer must move between press and release to make a box
FOREGROUND, BACKGROUND = 1, 0
VIEW_MAX = (960, 720)         # the drawing area's largest size: the layer is scaled to fit it


@dataclass(frozen=True)
class ViewMapping:
    """The layer (width x height pixels) drawn scaled by `scale`, its top-left corner at (ox, oy) in the widget."""

    width: int
    height: int
    scale: float
    ox: float = 0.0
    oy: float = 0.0

    @classmethod
    def fit(cls, width: int, height: int, area_width: float, area_height: float) -> ViewMapping:
        """The whole layer, as large as fits in the area (aspect kept), at the area's top-left corner."""
        if width <= 0 or height <= 0 or area_width <= 0 or area_height <= 0:
            raise ValueError(f"cannot fit a {width}x{height} layer into a {area_width}x{area_height} area")
        return cls(width, height, min(area_width / width, area_height / height))

    def view_size(self) -> tuple[int, int]:
        """The drawn layer's size in widget pixels (at least 1 x 1)."""
        return max(1, round(self.width * self.scale)), max(1, round(self.height * self.scale))

    def to_widget(self, x: float, y: float) -> tuple[float, float]:
        return self.ox + x * self.scale, self.oy + y * self.scale

    def to_image(self, wx: float, wy: float) -> Optional[tuple[int, int]]:
        """The layer pixel under widget position (wx, wy), or None off the layer. A point is a whole pixel: the
        one the cursor is over (so a click and the point sent for it are the same pixel at any zoom)."""
        x = math.floor((wx - self.ox) / self.scale)
        y = math.floor((wy - self.oy) / self.scale)
        if 0 <= x < self.width and 0 <= y < self.height:
            return x, y
        return None

    def clamp_to_image(self, wx: float, wy: float) -> tuple[int, int]:
        """The layer position of (wx, wy), moved onto the layer's edge when off it (a drag may end outside), as a
        box corner: 0..width, 0..height."""
        x = round((wx - self.ox) / self.scale)
        y = round((wy - self.oy) / self.scale)
        return min(max(x, 0), self.width), min(max(y, 0), self.height)


def view_size_for(width: int, height: int) -> tuple[int, int]:
    """The size the dialog shows a `width` x `height` layer at."""
    return ViewMapping.fit(width, height, *VIEW_MAX).view_size()


@dataclass(frozen=True)
class Point:
    x: int
    y: int
    label: int          # FOREGROUND or BACKGROUND


@dataclass(frozen=True)
class Box:
    x0: int
    y0: int
    x1: int
    y1: int


Prompt = Union[Point, Box]


@dataclass
class ClickSession:
    """The prompts the artist has made, in order, and the generation of the prompt (a number that changes with
    every change, so an answer can be matched with the prompt it was asked for)."""

    mapping: ViewMapping
    prompts: list[Prompt] = field(default_factory=list)
    generation: int = 0
    _press: Optional[tuple[float, float, bool]] = None   # widget position and "background" of a pending press

    # --- input --------------------------------------------------------------------------------------------------
    def press(self, wx: float, wy: float, button: int, shift: bool) -> None:
        """A mouse button went down (1 left, 3 right). Nothing changes until it comes up."""
        if button in (1, 3):
            self._press = (wx, wy, button == 3 or shift)
        else:
            self._press = None

    def release(self, wx: float, wy: float) -> bool:
        """The button came up: a click adds a point where it was pressed, a left drag a box. True when the
        prompt changed (a new matte is due)."""
        if self._press is None:
            return False
        px, py, background = self._press
        self._press = None
        if math.hypot(wx - px, wy - py) >= DRAG_THRESHOLD and not background:
            x0, y0 = self.mapping.clamp_to_image(px, py)
            x1, y1 = self.mapping.clamp_to_image(wx, wy)
            box = Box(min(x0, x1), min(y0, y1), max(x0, x1), max(y0, y1))
            if box.x1 - box.x0 < 1 or box.y1 - box.y0 < 1:
                return False
            return self._add(box)
        at = self.mapping.to_image(px, py)
        if at is None:
            return False
        return self._add(Point(at[0], at[1], BACKGROUND if background else FOREGROUND))

    def drag_box(self, wx: float, wy: float) -> Optional[Box]:
        """The box a left drag in progress would make (to draw it while dragging), or None."""
        if self._press is None or self._press[2]:
            return None
        px, py, _ = self._press
        if math.hypot(wx - px, wy - py) < DRAG_THRESHOLD:
            return None
        x0, y0 = self.mapping.clamp_to_image(px, py)
        x1, y1 = self.mapping.clamp_to_image(wx, wy)
        return Box(min(x0, x1), min(y0, y1), max(x0, x1), max(y0, y1))

    def undo(self) -> bool:
        """Backspace: removes the last prompt. True when there was one."""
        if not self.prompts:
            return False
        self.prompts.pop()
        self.generation += 1
        return True

    def _add(self, prompt: Prompt) -> bool:
        self.prompts.append(prompt)
        self.generation += 1
        return True

    # --- the request --------------------------------------------------------------------------------------------
    def box(self) -> Optional[tuple[int, int, int, int]]:
        """The latest box (a new drag replaces the box; Backspace brings the earlier one back)."""
        boxes = [p for p in self.prompts if isinstance(p, Box)]
        return (boxes[-1].x0, boxes[-1].y0, boxes[-1].x1, boxes[-1].y1) if boxes else None

    def points(self) -> list[tuple[int, int, int]]:
        return [(p.x, p.y, p.label) for p in self.prompts if isinstance(p, Point)]

    def ready(self) -> bool:
        """Whether there is something to matte: a box or a foreground point (background points alone pick
        nothing)."""
        return self.box() is not None or any(label == FOREGROUND for _x, _y, label in self.points())

    def request(self) -> dict:
        """Keyword arguments for MamClient.matte: `box` and `points` in layer pixels (None when absent)."""
        points = self.points()
        return {"box": self.box(), "points": points or None}

    def is_current(self, generation: int) -> bool:
        """An answer asked for at `generation` is still wanted (no prompt changed since)."""
        return generation == self.generation

    def describe(self) -> str:
        """The status line's account of the prompt."""
        points = self.points()
        fg = sum(1 for *_xy, label in points if label == FOREGROUND)
        bg = len(points) - fg
        parts = []
        if self.box() is not None:
            x0, y0, x1, y1 = self.box()  # type: ignore[misc]
            parts.append(f"box {x1 - x0}x{y1 - y0} at {x0}, {y0}")
        if fg:
            parts.append(f"{fg} foreground point{'s' if fg > 1 else ''}")
        if bg:
            parts.append(f"{bg} background point{'s' if bg > 1 else ''}")
        return ", ".join(parts) if parts else "no prompt yet"


# --- keys ------------------------------------------------------------------------------------------------------------
KEY_ACTIONS = {"BackSpace": "undo", "Escape": "cancel", "Return": "commit", "KP_Enter": "commit",
               "ISO_Enter": "commit"}


def key_action(key_name: str) -> Optional[str]:
    """What a key (GDK key name, e.g. from Gdk.keyval_name) does: "undo", "cancel", "commit" or None."""
    return KEY_ACTIONS.get(key_name)


HELP = ("Click: foreground point   Shift+click or right click: background point   Drag: box   "
        "Backspace: remove the last   Enter: apply   Esc: close without changes")


# --- the newest request only -----------------------------------------------------------------------------------------
Job = Callable[[threading.Event], None]


class LatestOnly:
    """A single worker's mailbox holding only the newest job: submitting a job replaces one that has not started
    and sets the cancel event of the one running (the client then raises MatteCancelled, and the daemon stops it at
    its next stage). `take()` blocks until a job is there (None once closed)."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._job: Optional[Job] = None
        self._running: Optional[threading.Event] = None
        self._closed = False

    def submit(self, job: Job) -> None:
        with self._cond:
            if self._closed:
                return
            if self._running is not None:
                self._running.set()
            self._job = job
            self._cond.notify_all()

    def take(self) -> Optional[tuple[Job, threading.Event]]:
        with self._cond:
            while self._job is None and not self._closed:
                self._cond.wait()
            if self._closed:
                return None
            job, self._job = self._job, None
            assert job is not None
            self._running = threading.Event()
            return job, self._running

    def done(self, cancel: threading.Event) -> None:
        with self._cond:
            if self._running is cancel:
                self._running = None

    def close(self) -> None:
        """No more jobs: the waiting job is dropped, the running one cancelled, take() returns None."""
        with self._cond:
            self._closed = True
            self._job = None
            if self._running is not None:
                self._running.set()
            self._cond.notify_all()

    def run_forever(self) -> None:
        """The worker thread's loop: run each job taken, until closed. A job's exception ends only that job."""
        while True:
            taken = self.take()
            if taken is None:
                return
            job, cancel = taken
            try:
                job(cancel)
            finally:
                self.done(cancel)


# --- drawing ---------------------------------------------------------------------------------------------------------
OVERLAY_RGB = (255, 64, 32)
OVERLAY_OPACITY = 0.55
_HALF = bytes(round(v * OVERLAY_OPACITY) for v in range(256))


def overlay_rgba(alpha: bytes, width: int, height: int, depth: int = 8) -> bytes:
    """A tinted RGBA8 image of an alpha (8-bit, or 16-bit little-endian: its high bytes): the overlay drawn over
    the layer. Slice assignment and bytes.translate, no per-pixel Python loop."""
    count = width * height
    if depth == 16:
        alpha = bytes(alpha[1::2])
    if len(alpha) != count:
        raise ValueError(f"alpha is {len(alpha)} samples; {width}x{height} needs {count}")
    out = bytearray(4 * count)
    for channel, value in enumerate(OVERLAY_RGB):
        out[channel::4] = bytes((value,)) * count
    out[3::4] = alpha.translate(_HALF)
    return bytes(out)


__all__ = ["ViewMapping", "view_size_for", "Point", "Box", "ClickSession", "key_action", "LatestOnly", "overlay_rgba",
           "HELP", "FOREGROUND", "BACKGROUND", "DRAG_THRESHOLD", "VIEW_MAX"]
