"""The state of one Click to select session, without Qt (unit-tested on its own).

- `PromptList`: the prompts clicked so far, in order (points and boxes); Backspace / Ctrl+Z removes the last one.
  The protocol takes one box: the last box drawn is the box (removing it brings the one before back).
- `PointerTracker`: press / move / release in widget pixels -> a foreground point, a background point, or a box.
- `key_action`: which keys mean what inside the mode.
- `Supersede`: the newest request wins; an answer to an older one is dropped.
- `PrepareDebounce`: when to send `prepare` (a canvas that stays the same for a while, not sent twice).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Hashable, Optional, Union

from .click_geometry import is_drag

FOREGROUND, BACKGROUND = 1, 0
UNDO, LEAVE, COMMIT = "undo", "leave", "commit"

Point = tuple[float, float, int]
Box = tuple[int, int, int, int]
Prompt = Union[Point, Box]


@dataclass
class PromptList:
    """Points (x, y, label) and boxes (x0, y0, x1, y1) in image pixels, in the order they were made."""

    items: list = field(default_factory=list)

    def add_point(self, x: float, y: float, label: int) -> None:
        if label not in (FOREGROUND, BACKGROUND):
            raise ValueError(f"label {label!r} is neither foreground (1) nor background (0)")
        self.items.append(("point", (float(x), float(y), int(label))))

    def add_box(self, box: Box) -> None:
        x0, y0, x1, y1 = box
        if not (x0 < x1 and y0 < y1):
            raise ValueError(f"box {box} is empty")
        self.items.append(("box", (int(x0), int(y0), int(x1), int(y1))))

    def remove_last(self) -> bool:
        """Drop the last prompt; False when there was none."""
        if not self.items:
            return False
        self.items.pop()
        return True

    def clear(self) -> None:
        self.items.clear()

    @property
    def points(self) -> list[Point]:
        return [value for kind, value in self.items if kind == "point"]

    @property
    def box(self) -> Optional[Box]:
        boxes = [value for kind, value in self.items if kind == "box"]
        return boxes[-1] if boxes else None

    def __bool__(self) -> bool:
        return bool(self.items)

    def __len__(self) -> int:
        return len(self.items)


@dataclass
class PointerTracker:
    """Turns one press-(move)-release of the left or right button into a prompt.

    Left click: foreground point; Shift+left click or right click: background point; left drag: box.
    All positions are widget pixels; the caller maps the result to the image."""

    press: Optional[tuple[float, float]] = None
    button: str = ""
    shift: bool = False
    current: Optional[tuple[float, float]] = None

    def on_press(self, x: float, y: float, button: str, shift: bool) -> bool:
        """True when the press starts a gesture the mode owns (left or right button)."""
        if button not in ("left", "right"):
            return False
        if self.press is not None:      # a second button during a gesture: owned, ignored
            return True
        self.press, self.button, self.shift, self.current = (x, y), button, shift, (x, y)
        return True

    def on_move(self, x: float, y: float) -> Optional[tuple[tuple[float, float], tuple[float, float]]]:
        """While dragging with the left button: the (press, now) corners of the rubber band, else None."""
        if self.press is None:
            return None
        self.current = (x, y)
        if self.button == "left" and is_drag(self.press, (x, y)):
            return self.press, (x, y)
        return None

    def on_release(self, x: float, y: float, button: str):
        """("point", (x, y), label), ("box", press, release) or None (not our gesture)."""
        if self.press is None or button != self.button:
            return None
        press, kind, shift = self.press, self.button, self.shift
        self.press, self.button, self.shift, self.current = None, "", False, None
        if kind == "left" and is_drag(press, (x, y)):
            return ("box", press, (x, y))
        label = BACKGROUND if kind == "right" or shift else FOREGROUND
        return ("point", press, label)

    def reset(self) -> None:
        self.press, self.button, self.shift, self.current = None, "", False, None


def key_action(key: str, ctrl: bool = False, shift: bool = False, alt: bool = False) -> Optional[str]:
    """What a key press means inside the mode: UNDO (Backspace, Ctrl+Z), LEAVE (Esc), COMMIT (Enter / Return);
    None: not the mode's key (Krita handles it: space to pan, zoom keys, ...)."""
    if alt:
        return None
    if key == "backspace" and not ctrl:
        return UNDO
    if key == "z" and ctrl and not shift:
        return UNDO
    if key == "escape" and not ctrl:
        return LEAVE
    if key in ("return", "enter") and not ctrl:
        return COMMIT
    return None


class Supersede:
    """Numbers requests; only the answer to the newest one is shown.

    `begin()` returns the new request's number (the caller cancels the one before); `is_current(n)` says whether an
    answer for n may still be shown; `invalidate()` makes every outstanding answer stale (prompts removed, mode
    left)."""

    def __init__(self) -> None:
        self._latest = 0
        self._shown = 0

    def begin(self) -> int:
        self._latest += 1
        return self._latest

    def invalidate(self) -> None:
        self._latest += 1

    def is_current(self, number: int) -> bool:
        return number == self._latest

    def accept(self, number: int) -> bool:
        """True (and remembered as shown) when `number` is the newest request, else False: drop its answer."""
        if number != self._latest:
            return False
        self._shown = number
        return True

    @property
    def latest(self) -> int:
        return self._latest


class PrepareDebounce:
    """Decides when to send `prepare`: once a canvas signature has stayed the same for `quiet_s` seconds and was
    not prepared already. Feed it `observe(signature, now)` from a timer; it answers True at most once per
    signature change."""

    def __init__(self, quiet_s: float = 1.0) -> None:
        self.quiet_s = quiet_s
        self._signature: Optional[Hashable] = None
        self._since = 0.0
        self._sent: Optional[Hashable] = None

    def observe(self, signature: Optional[Hashable], now: float) -> bool:
        if signature is None:     # no document, or the docker hidden
            self._signature = None
            return False
        if signature != self._signature:
            self._signature, self._since = signature, now
            return False
        if signature == self._sent or now - self._since < self.quiet_s:
            return False
        self._sent = signature
        return True

    def forget(self) -> None:
        """Send again for the current canvas (e.g. the daemon came back)."""
        self._sent = None
