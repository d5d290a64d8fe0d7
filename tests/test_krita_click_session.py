"""Click to select, Qt-free: the prompt list, the pointer gestures, the keys, supersede and the prepare debounce."""
import pytest

from plugins.krita.mam_krita.click_session import (
    BACKGROUND,
    COMMIT,
    FOREGROUND,
    LEAVE,
    UNDO,
    PointerTracker,
    PrepareDebounce,
    PromptList,
    Supersede,
    key_action,
)


def test_prompt_list_keeps_order_and_removes_the_last():
    prompts = PromptList()
    assert not prompts and prompts.box is None and prompts.points == []
    prompts.add_point(10, 20, FOREGROUND)
    prompts.add_box((5, 6, 50, 60))
    prompts.add_point(30.5, 40.25, BACKGROUND)
    assert prompts.points == [(10.0, 20.0, 1), (30.5, 40.25, 0)] and prompts.box == (5, 6, 50, 60)
    assert prompts.remove_last() and prompts.points == [(10.0, 20.0, 1)]
    assert prompts.remove_last() and prompts.box is None
    assert prompts.remove_last() and not prompts
    assert prompts.remove_last() is False


def test_the_last_box_is_the_box_and_removing_it_brings_back_the_one_before():
    prompts = PromptList()
    prompts.add_box((0, 0, 10, 10))
    prompts.add_box((2, 2, 8, 9))
    assert prompts.box == (2, 2, 8, 9)
    prompts.remove_last()
    assert prompts.box == (0, 0, 10, 10)


def test_prompt_list_refuses_nonsense():
    prompts = PromptList()
    with pytest.raises(ValueError):
        prompts.add_point(1, 1, 2)
    with pytest.raises(ValueError):
        prompts.add_box((5, 5, 5, 9))
    assert not prompts


def test_left_click_is_a_foreground_point():
    t = PointerTracker()
    assert t.on_press(100, 50, "left", shift=False)
    assert t.on_move(102, 51) is None                   # jitter below the drag threshold
    assert t.on_release(102, 51, "left") == ("point", (100, 50), FOREGROUND)


def test_shift_click_and_right_click_are_background_points():
    t = PointerTracker()
    t.on_press(10, 10, "left", shift=True)
    assert t.on_release(10, 10, "left") == ("point", (10, 10), BACKGROUND)
    t.on_press(20, 20, "right", shift=False)
    assert t.on_release(20, 20, "right") == ("point", (20, 20), BACKGROUND)


def test_left_drag_is_a_box_with_a_rubber_band():
    t = PointerTracker()
    t.on_press(10, 10, "left", shift=False)
    assert t.on_move(40, 30) == ((10, 10), (40, 30))
    assert t.on_release(60, 70, "left") == ("box", (10, 10), (60, 70))
    assert t.press is None


def test_a_right_drag_is_still_a_background_point_at_the_press():
    t = PointerTracker()
    t.on_press(10, 10, "right", shift=False)
    assert t.on_move(80, 80) is None
    assert t.on_release(80, 80, "right") == ("point", (10, 10), BACKGROUND)


def test_other_buttons_are_not_the_modes():
    t = PointerTracker()
    assert t.on_press(1, 1, "middle", shift=False) is False       # Krita pans with it
    assert t.on_release(1, 1, "middle") is None
    t.on_press(1, 1, "left", shift=False)
    assert t.on_press(2, 2, "right", shift=False) is True        # owned, but the left gesture goes on
    assert t.on_release(2, 2, "right") is None
    assert t.on_release(1, 1, "left") == ("point", (1, 1), FOREGROUND)


@pytest.mark.parametrize("key,ctrl,shift,alt,expected", [
    ("backspace", False, False, False, UNDO),
    ("z", True, False, False, UNDO),
    ("z", False, False, False, None),           # a plain z is Krita's (zoom tool)
    ("z", True, True, False, None),             # Ctrl+Shift+Z is redo: not the mode's
    ("escape", False, False, False, LEAVE),
    ("return", False, False, False, COMMIT),
    ("enter", False, False, False, COMMIT),
    ("return", False, False, True, None),
    ("space", False, False, False, None),
    ("backspace", True, False, False, None),
])
def test_keys(key, ctrl, shift, alt, expected):
    assert key_action(key, ctrl, shift, alt) == expected


def test_supersede_drops_stale_answers():
    s = Supersede()
    first = s.begin()
    second = s.begin()
    assert not s.accept(first) and s.accept(second)
    third = s.begin()
    s.invalidate()                      # e.g. the last prompt was removed, or the mode left
    assert not s.accept(third)
    assert s.is_current(s.begin())


def test_prepare_waits_for_a_quiet_canvas_and_sends_once():
    d = PrepareDebounce(quiet_s=1.0)
    assert not d.observe(("doc", 1), 0.0)
    assert not d.observe(("doc", 1), 0.5)
    assert d.observe(("doc", 1), 1.2)
    assert not d.observe(("doc", 1), 5.0)          # sent already
    assert not d.observe(("doc", 2), 5.1)          # an edit: wait again
    assert not d.observe(("doc", 3), 5.9)          # still editing
    assert not d.observe(("doc", 3), 6.5)
    assert d.observe(("doc", 3), 7.0)
    assert not d.observe(None, 8.0)                # the docker hidden: nothing
    assert not d.observe(("doc", 3), 8.5)
    assert not d.observe(("doc", 3), 10.0)         # that canvas is prepared already
    d.forget()
    assert d.observe(("doc", 3), 10.1)
