"""The Click to Select dialog (GTK 3 through gi, as GIMP 3's Python plug-ins use): the layer scaled to fit, the
prompts and the current matte drawn over it, the output choice, a status line.

Only GTK glue: what input does is gimp_clicks (tested without GTK); talking to the daemon is the `matter` object
mam_gimp hands in, whose calls run on one worker thread (gimp_clicks.LatestOnly keeps only the newest), so the
dialog never waits on the network. Answers come back through GLib.idle_add and are drawn only if their prompt is
still the current one. No cairo: GIMP's Python may lack pycairo, so the view is a GdkPixbuf shown in a Gtk.Image
and the overlay is composited with GdkPixbuf itself.

With MAM_CLICK_TRACE=path set (benchmarks/gimp_click_bench.py), the dialog appends one JSON line per step of a click
(release, request sent, reply, answer drawn) to that file; off by default.
"""
from __future__ import annotations

import json
import os
import threading
import time
from typing import Any, Callable, Optional

import gi

gi.require_version("Gtk", "3.0")
gi.require_version("Gdk", "3.0")
gi.require_version("GdkPixbuf", "2.0")
from gi.repository import Gdk, GdkPixbuf, GLib, Gtk  # noqa: E402
from gimp_clicks import (  # noqa: E402
    BACKGROUND,
    HELP,
    VIEW_MAX,
    Box,
    ClickSession,
    LatestOnly,
    ViewMapping,
    key_action,
    overlay_rgba,
)

TITLE = "Click to Select (Matting Anything)"
OUTPUTS = (("mask", "Layer mask"), ("selection", "Selection"), ("layer", "New layer (extract the subject)"))
_FG, _BG, _BOX, _EDGE = 0x30E040FF, 0x3060FFFF, 0xFFE000FF, 0x000000FF
_TRACE = os.environ.get("MAM_CLICK_TRACE", "")


def _trace(event: str, **fields: Any) -> None:
    """One line of the benchmark's trace (wall-clock seconds, comparable across processes); nothing when unset."""
    if _TRACE:
        with open(_TRACE, "a", encoding="utf-8") as log:
            log.write(json.dumps({"event": event, "t": time.time(), **fields}) + "\n")


def _pixbuf(rgba: bytes, width: int, height: int) -> GdkPixbuf.Pixbuf:
    return GdkPixbuf.Pixbuf.new_from_bytes(GLib.Bytes.new(rgba), GdkPixbuf.Colorspace.RGB, True, 8, width, height,
                                           width * 4)


def _fill(pixbuf: GdkPixbuf.Pixbuf, x: int, y: int, w: int, h: int, colour: int) -> None:
    x0, y0 = max(x, 0), max(y, 0)
    x1, y1 = min(x + w, pixbuf.get_width()), min(y + h, pixbuf.get_height())
    if x1 > x0 and y1 > y0:
        pixbuf.new_subpixbuf(x0, y0, x1 - x0, y1 - y0).fill(colour)


class ClickDialog:
    """Runs the dialog's own main loop; `run()` returns (output, final answer) on Enter, None on Esc / close."""

    def __init__(self, rgba: bytes, width: int, height: int, matter: Any, output: str, with_colours: Callable):
        _trace("open", width=width, height=height)
        self.mapping = ViewMapping.fit(width, height, *VIEW_MAX)
        self.session = ClickSession(self.mapping)
        self.matter = matter
        self.with_colours = with_colours          # output -> whether the final answer needs the colours
        self.jobs = LatestOnly()
        self.outcome: Optional[tuple[str, Any]] = None
        self.overlay: Optional[tuple[GdkPixbuf.Pixbuf, int]] = None    # (tinted alpha, its scale)
        self.committing = False
        view_w, view_h = self.mapping.view_size()
        self.base = _pixbuf(rgba, width, height).scale_simple(view_w, view_h, GdkPixbuf.InterpType.BILINEAR)
        self._build(output)
        _trace("built")

    # --- widgets -----------------------------------------------------------------------------------------------
    def _build(self, output: str) -> None:
        self.window = Gtk.Window(title=TITLE)
        self.window.set_resizable(False)
        self.window.connect("delete-event", self._on_delete)
        self.window.connect("key-press-event", self._on_key)
        column = Gtk.Box(orientation=Gtk.Orientation.VERTICAL, spacing=0)
        self.events = Gtk.EventBox(halign=Gtk.Align.START, valign=Gtk.Align.START)
        self.events.add_events(Gdk.EventMask.BUTTON_PRESS_MASK | Gdk.EventMask.BUTTON_RELEASE_MASK
                               | Gdk.EventMask.BUTTON_MOTION_MASK)
        self.events.connect("button-press-event", self._on_press)
        self.events.connect("button-release-event", self._on_release)
        self.events.connect("motion-notify-event", self._on_motion)
        self.view = Gtk.Image.new_from_pixbuf(self.base)
        self.events.add(self.view)
        column.pack_start(self.events, False, False, 0)   # at the window's top-left: widget = window coordinates
        help_label = Gtk.Label(label=HELP, xalign=0.0)
        help_label.set_line_wrap(True)
        help_label.set_max_width_chars(100)
        self.status = Gtk.Label(label="Connecting to the daemon…", xalign=0.0)
        self.status.set_line_wrap(True)
        self.status.set_max_width_chars(100)
        self.status.set_selectable(False)
        row = Gtk.Box(orientation=Gtk.Orientation.HORIZONTAL, spacing=8)
        row.pack_start(Gtk.Label(label="Output:"), False, False, 0)
        self.output = Gtk.ComboBoxText()
        for key, label in OUTPUTS:
            self.output.append(key, label)
        self.output.set_active_id(output if output in dict(OUTPUTS) else "mask")
        self.output.set_can_focus(False)          # keys stay with the window (Enter, Esc, Backspace)
        row.pack_start(self.output, False, False, 0)
        close = Gtk.Button(label="Close")
        close.set_can_focus(False)
        close.connect("clicked", lambda *_a: self._close())
        apply = Gtk.Button(label="Apply (Enter)")
        apply.set_can_focus(False)
        apply.connect("clicked", lambda *_a: self._commit())
        row.pack_end(apply, False, False, 0)
        row.pack_end(close, False, False, 0)
        for widget in (help_label, self.status, row):
            widget.set_margin_start(8)
            widget.set_margin_end(8)
            column.pack_start(widget, False, False, 4)
        self.window.add(column)

    # --- life cycle -------------------------------------------------------------------------------------------
    def run(self) -> Optional[tuple[str, Any]]:
        worker = threading.Thread(target=self.jobs.run_forever, name="mam-click-worker", daemon=True)
        worker.start()
        self.jobs.submit(self._connect_job)
        self.window.show_all()
        self.window.present()
        if _TRACE:   # each painted frame ("draw" would need pycairo, which GIMP's Python may lack)
            self.window.get_frame_clock().connect("after-paint", lambda _clock: _trace(
                "drawn", generation=self.session.generation, overlay=self.overlay is not None))
        Gtk.main()
        self.jobs.close()
        self.window.destroy()
        while Gtk.events_pending():
            Gtk.main_iteration()
        worker.join(2.0)
        self.matter.close()
        return self.outcome

    def _on_delete(self, *_args) -> bool:
        self._close()
        return True

    def _close(self) -> None:
        self.outcome = None
        self.jobs.close()
        Gtk.main_quit()

    # --- input ------------------------------------------------------------------------------------------------
    def _on_press(self, _widget, event) -> bool:
        if event.type == Gdk.EventType.BUTTON_PRESS and not self.committing:
            self.session.press(event.x, event.y, event.button, bool(event.state & Gdk.ModifierType.SHIFT_MASK))
        return True

    def _on_motion(self, _widget, event) -> bool:
        box = self.session.drag_box(event.x, event.y)
        if box is not None:
            self._render(dragging=box)
        return True

    def _on_release(self, _widget, event) -> bool:
        if not self.committing and self.session.release(event.x, event.y):
            _trace("release", generation=self.session.generation)
            self._prompt_changed()
            _trace("submitted", generation=self.session.generation)
        return True

    def _on_key(self, _widget, event) -> bool:
        action = key_action(Gdk.keyval_name(event.keyval) or "")
        if action == "cancel":
            self._close()
        elif action == "commit":
            self._commit()
        elif action == "undo" and not self.committing and self.session.undo():
            self._prompt_changed()
        return action is not None

    # --- requests ---------------------------------------------------------------------------------------------
    def _prompt_changed(self) -> None:
        generation = self.session.generation
        self.overlay = None
        self._render()
        if not self.session.ready():
            self.jobs.submit(lambda _cancel: None)     # stops a running request: its prompt is gone
            self._say(f"{self.session.describe()}: click on the subject (or drag a box around it)")
            return
        request = self.session.request()
        self._say(f"{self.session.describe()}: matting…")

        def job(cancel: threading.Event) -> None:
            try:
                _trace("request", generation=generation)
                answer = self.matter.preview(request, cancel)
            except Exception as exc:  # noqa: BLE001 (cancelled, superseded, daemon problems: all reported below)
                if not cancel.is_set():
                    GLib.idle_add(self._on_error, generation, self.matter.describe_error(exc))
                return
            if answer is not None:
                _trace("reply", generation=generation, id=answer.request_id, timings=answer.timings,
                       size=[answer.width, answer.height])
                GLib.idle_add(self._on_answer, generation, answer)
        self.jobs.submit(job)

    def _connect_job(self, _cancel: threading.Event) -> None:
        try:
            said = self.matter.connect(lambda text: GLib.idle_add(self._say, text))
        except Exception as exc:  # noqa: BLE001 (the daemon is down and could not be started, ...)
            GLib.idle_add(self._say, self.matter.describe_error(exc))
            return
        _trace("connected", status=said)
        GLib.idle_add(self._say, said)

    def _on_answer(self, generation: int, answer) -> bool:
        if self.session.is_current(generation) and not self.committing:
            _trace("answer", generation=generation)
            rgba = overlay_rgba(answer.alpha, answer.width, answer.height, answer.depth)
            self.overlay = (_pixbuf(rgba, answer.width, answer.height), max(1, int(answer.scale)))
            self._render()
            _trace("rendered", generation=generation)
            self._say(f"{self.session.describe()}: Enter applies it as the {self._output_name()}")
        return False

    def _on_error(self, generation: int, message: str) -> bool:
        if self.session.is_current(generation) or self.committing:
            self.committing = False
            self._say(message)
        return False

    def _commit(self) -> None:
        if self.committing:
            return
        if not self.session.ready():
            self._say("Nothing to apply yet: click on the subject (or drag a box around it) first.")
            return
        self.committing = True
        output = self.output.get_active_id() or "mask"
        request = self.session.request()
        generation = self.session.generation
        self._say(f"Applying ({self.session.describe()}) as the {self._output_name()}…")

        def job(cancel: threading.Event) -> None:
            try:
                answer = self.matter.final(request, self.with_colours(output), cancel)
            except Exception as exc:  # noqa: BLE001
                if not cancel.is_set():
                    GLib.idle_add(self._on_error, generation, self.matter.describe_error(exc))
                return
            GLib.idle_add(self._finish, output, answer)
        self.jobs.submit(job)

    def _finish(self, output: str, answer) -> bool:
        self.outcome = (output, answer)
        self.jobs.close()
        Gtk.main_quit()
        return False

    # --- drawing ----------------------------------------------------------------------------------------------
    def _say(self, text: str) -> bool:
        self.status.set_text(text)
        return False

    def _output_name(self) -> str:
        return dict(OUTPUTS).get(self.output.get_active_id() or "mask", "layer mask").lower()

    def _render(self, dragging: Optional[Box] = None) -> None:
        frame = self.base.copy()
        view_w, view_h = frame.get_width(), frame.get_height()
        if self.overlay is not None:
            tint, sample = self.overlay
            factor = self.mapping.scale * sample
            tint.composite(frame, 0, 0, view_w, view_h, 0.0, 0.0, factor, factor, GdkPixbuf.InterpType.BILINEAR, 255)
        boxes = [p for p in self.session.prompts if isinstance(p, Box)][-1:] + ([dragging] if dragging else [])
        for box in boxes:
            x0, y0 = (round(v) for v in self.mapping.to_widget(box.x0, box.y0))
            x1, y1 = (round(v) for v in self.mapping.to_widget(box.x1, box.y1))
            for x, y, w, h in ((x0, y0, x1 - x0, 2), (x0, y1 - 2, x1 - x0, 2), (x0, y0, 2, y1 - y0),
                               (x1 - 2, y0, 2, y1 - y0)):
                _fill(frame, x, y, w, h, _BOX)
        for x, y, label in self.session.points():
            cx, cy = (round(v) for v in self.mapping.to_widget(x + 0.5, y + 0.5))
            _fill(frame, cx - 5, cy - 5, 11, 11, _EDGE)
            _fill(frame, cx - 4, cy - 4, 9, 9, _BG if label == BACKGROUND else _FG)
        self.view.set_from_pixbuf(frame)


def run_click_dialog(rgba: bytes, width: int, height: int, matter: Any, output: str,
                     with_colours: Callable[[str], bool]) -> Optional[tuple[str, Any]]:
    """Shows the dialog over the layer's RGBA8 pixels; (output, final answer) on Enter, None when closed."""
    return ClickDialog(rgba, width, height, matter, output, with_colours).run()


__all__ = ["run_click_dialog", "TITLE", "OUTPUTS"]
