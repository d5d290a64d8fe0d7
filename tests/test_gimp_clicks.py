"""Click to Select (issue 11) in GIMP without GTK: the view mapping, what clicks, drags and keys do to the prompt,
which answers are still wanted, the newest-request-only worker, the overlay, and the procedure dialog's prompt line."""
from __future__ import annotations

import sys
import threading
from pathlib import Path

import pytest

PLUGIN = Path(__file__).resolve().parents[1] / "plugins" / "gimp" / "mam_gimp"
sys.path.insert(0, str(PLUGIN))
from gimp_clicks import (  # noqa: E402
    BACKGROUND,
    FOREGROUND,
    VIEW_MAX,
    Box,
    ClickSession,
    LatestOnly,
    Point,
    ViewMapping,
    key_action,
    overlay_rgba,
    view_size_for,
)
from gimp_messages import click_needs_a_person  # noqa: E402
from gimp_prompt import LayerRect, describe_prompt  # noqa: E402

WAIT = 30.0   # only a bound on a wait that should end at once; nothing asserts how long anything took


def test_the_layer_fits_the_view_at_its_top_left():
    m = ViewMapping.fit(800, 497, *VIEW_MAX)
    assert (m.scale, m.ox, m.oy) == (1.2, 0.0, 0.0) and m.view_size() == (960, 596)
    small = ViewMapping.fit(100, 50, 960, 720)
    assert small.scale == 9.6 and small.view_size() == (960, 480)
    assert view_size_for(4000, 3000) == (960, 720)
    with pytest.raises(ValueError):
        ViewMapping.fit(0, 10, 960, 720)


def test_widget_positions_map_to_the_pixel_under_the_cursor():
    m = ViewMapping(800, 497, 1.2)
    assert m.to_image(0, 0) == (0, 0)
    assert m.to_image(361, 249) == (300, 207)          # 361 / 1.2 = 300.8, 249 / 1.2 = 207.5
    assert m.to_image(1.19, 1.2) == (0, 1)
    assert m.to_image(959.9, 596.3) == (799, 496)
    assert m.to_image(960, 10) is None and m.to_image(-0.1, 10) is None and m.to_image(10, 596.4) is None
    for x, y in ((0, 0), (300, 207), (799, 496)):      # the centre of a pixel maps back to that pixel
        assert m.to_image(*m.to_widget(x + 0.5, y + 0.5)) == (x, y)
    offset = ViewMapping(10, 10, 2.0, ox=5.0, oy=7.0)
    assert offset.to_widget(1, 1) == (7.0, 9.0) and offset.to_image(7.0, 9.0) == (1, 1) and offset.to_image(4, 9) \
        is None


def test_box_corners_are_clamped_onto_the_layer():
    m = ViewMapping(800, 497, 1.2)
    assert m.clamp_to_image(-50, -3) == (0, 0)
    assert m.clamp_to_image(2000, 2000) == (800, 497)
    assert m.clamp_to_image(120, 60) == (100, 50)


def _session() -> ClickSession:
    return ClickSession(ViewMapping(800, 497, 1.2))


def click(s: ClickSession, x: float, y: float, button: int = 1, shift: bool = False) -> bool:
    s.press(x, y, button, shift)
    return s.release(x, y)


def test_click_shift_click_and_right_click_make_points():
    s = _session()
    assert click(s, 361, 249)
    assert click(s, 121, 61, shift=True)
    assert click(s, 13, 13, button=3)
    assert s.prompts == [Point(300, 207, FOREGROUND), Point(100, 50, BACKGROUND), Point(10, 10, BACKGROUND)]
    assert s.request() == {"box": None, "points": [(300, 207, 1), (100, 50, 0), (10, 10, 0)]}
    assert s.generation == 3


def test_a_small_wobble_is_still_a_click_and_a_drag_is_a_box():
    s = _session()
    s.press(361, 249, 1, False)
    assert s.release(363, 251)                          # under DRAG_THRESHOLD: the point where it was pressed
    assert s.prompts == [Point(300, 207, FOREGROUND)]
    s.press(600, 480, 1, False)
    assert s.drag_box(360, 240) == Box(300, 200, 500, 400)
    assert s.release(120, 60)
    assert s.prompts[-1] == Box(100, 50, 500, 400) and s.box() == (100, 50, 500, 400)
    s.press(500, 300, 3, False)                         # a right drag is a background point, not a box
    assert s.drag_box(200, 200) is None and s.release(200, 200)
    assert s.prompts[-1] == Point(416, 250, BACKGROUND)


def test_a_flat_drag_and_clicks_off_the_layer_change_nothing():
    s = _session()
    s.press(100, 100, 1, False)
    assert not s.release(200, 100)                      # no height: no box
    assert not click(s, 970, 10)                        # right of the layer
    s.press(10, 10, 2, False)                           # middle button: ignored
    assert not s.release(10, 10)
    assert s.prompts == [] and s.generation == 0
    assert not s.release(10, 10), "a release without a press"


def test_a_new_box_replaces_the_box_and_backspace_brings_the_earlier_one_back():
    s = _session()
    for (x0, y0), (x1, y1) in (((12, 12), (120, 120)), ((240, 240), (360, 360))):
        s.press(x0, y0, 1, False)
        s.release(x1, y1)
    click(s, 300, 300)
    assert s.box() == (200, 200, 300, 300) and s.points() == [(250, 250, 1)]
    assert s.undo() and s.points() == [] and s.box() == (200, 200, 300, 300)
    assert s.undo() and s.box() == (10, 10, 100, 100)
    assert s.undo() and s.box() is None and not s.undo()
    assert s.generation == 6


def test_something_to_matte_needs_a_box_or_a_foreground_point():
    s = _session()
    assert not s.ready() and s.describe() == "no prompt yet"
    click(s, 12, 12, shift=True)
    assert not s.ready(), "background points alone pick nothing"
    click(s, 24, 24)
    assert s.ready() and s.describe() == "1 foreground point, 1 background point"
    s.undo()
    s.press(0, 0, 1, False)
    s.release(120, 60)
    assert s.ready() and s.describe() == "box 100x50 at 0, 0, 1 background point"


def test_only_the_answer_for_the_current_prompt_is_wanted():
    s = _session()
    click(s, 12, 12)
    asked = s.generation
    assert s.is_current(asked)
    click(s, 24, 24)
    assert not s.is_current(asked) and s.is_current(s.generation)
    s.undo()
    assert not s.is_current(asked), "back to the same prompt, but a later request was made for it"


@pytest.mark.parametrize("key,action", [("BackSpace", "undo"), ("Escape", "cancel"), ("Return", "commit"),
                                        ("KP_Enter", "commit"), ("a", None), ("", None), ("Delete", None)])
def test_keys(key, action):
    assert key_action(key) == action


def test_the_newest_job_supersedes_the_running_one_and_replaces_a_waiting_one():
    jobs = LatestOnly()
    ran: list[str] = []
    first_started, release_first = threading.Event(), threading.Event()
    first_cancel: list[threading.Event] = []

    def first(cancel: threading.Event) -> None:
        first_cancel.append(cancel)
        ran.append("first")
        first_started.set()
        release_first.wait(WAIT)

    def named(name: str, done: threading.Event | None = None):
        def job(cancel: threading.Event) -> None:
            ran.append(name)
            if done is not None:
                done.set()
        return job

    worker = threading.Thread(target=jobs.run_forever, daemon=True)
    worker.start()
    jobs.submit(first)
    assert first_started.wait(WAIT)
    assert not first_cancel[0].is_set()
    jobs.submit(named("second"))                        # arrives while the first runs: the first is told to stop
    assert first_cancel[0].is_set()
    third_done = threading.Event()
    jobs.submit(named("third", third_done))             # replaces the second before it started
    release_first.set()
    assert third_done.wait(WAIT)
    jobs.close()
    worker.join(WAIT)
    assert not worker.is_alive()
    assert ran == ["first", "third"]


def test_close_cancels_the_running_job_and_drops_later_ones():
    jobs = LatestOnly()
    started = threading.Event()
    seen: list[threading.Event] = []

    def running(cancel: threading.Event) -> None:
        seen.append(cancel)
        started.set()
        cancel.wait(WAIT)

    worker = threading.Thread(target=jobs.run_forever, daemon=True)
    worker.start()
    jobs.submit(running)
    assert started.wait(WAIT)
    jobs.close()
    worker.join(WAIT)
    assert not worker.is_alive() and seen[0].is_set()
    jobs.submit(lambda cancel: seen.append(cancel))
    assert jobs.take() is None and len(seen) == 1


def test_a_failing_job_does_not_stop_the_worker():
    jobs = LatestOnly()
    done = threading.Event()

    def boom(_cancel):
        raise RuntimeError("the daemon went away")

    def runner():
        while True:
            try:
                jobs.run_forever()
                return
            except RuntimeError:
                continue
    worker = threading.Thread(target=runner, daemon=True)
    worker.start()
    jobs.submit(boom)
    jobs.submit(lambda _c: done.set())
    assert done.wait(WAIT)
    jobs.close()


def test_the_overlay_tints_by_the_alpha():
    rgba = overlay_rgba(bytes([0, 128, 255]), 3, 1)
    assert rgba == bytes([255, 64, 32, 0, 255, 64, 32, 70, 255, 64, 32, 140])
    deep = overlay_rgba(bytes([0x00, 0x00, 0xff, 0x80, 0xff, 0xff]), 3, 1, depth=16)
    assert deep == rgba
    with pytest.raises(ValueError, match="needs 4"):
        overlay_rgba(bytes(3), 2, 2)


LAYER = LayerRect(x=10, y=20, width=100, height=50)


def test_the_procedure_dialog_says_which_prompt_it_will_send():
    assert describe_prompt(LAYER, (0, 30, 60, 200)).startswith("Prompt: the selection's box (50 x 40 px).")
    both = describe_prompt(LAYER, (10, 20, 30, 40), [(15.0, 25.0), (16.0, 26.0)], [(20.0, 30.0), (500.0, 500.0)])
    assert both.startswith("Prompt: the selection's box (20 x 20 px) + 2 foreground points (the active path's "
                           "anchors) + 1 background point (paths named \"MAM background\"). 1 anchor(s) off the layer")
    assert describe_prompt(LAYER, None, [(15.0, 25.0)]).startswith("Prompt: 1 foreground point (")
    nothing = describe_prompt(LAYER, None)
    assert nothing.startswith("Prompt: none yet. Nothing to go on: select around the subject")
    assert "does not overlap" in describe_prompt(LAYER, (300, 300, 400, 400))


def test_click_to_select_in_a_script_says_what_to_call_instead():
    text = click_needs_a_person()
    assert "plug-in-mam-add-layer-mask" in text and "MAM background" in text
