"""Prompt rules of the GIMP plug-in (selection box, path anchors, background path), without GIMP."""
from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "plugins" / "gimp" / "mam_gimp"))
from gimp_prompt import BACKGROUND_PATH_NAME, LayerRect, PromptError, bezier_anchors, build_prompt, is_background_path  # noqa: E402

LAYER = LayerRect(x=10, y=20, width=100, height=50)


def test_bezier_anchors_take_the_middle_pair_of_each_triplet():
    # GIMP lists (in-handle, anchor, out-handle) per anchor; handles differ from anchors here.
    points = [0, 0, 5, 6, 9, 9,
              20, 21, 30, 31, 40, 41]
    assert bezier_anchors(points) == [(5.0, 6.0), (30.0, 31.0)]


def test_bezier_anchors_reject_a_partial_triplet():
    with pytest.raises(ValueError, match="6 numbers per anchor"):
        bezier_anchors([1, 2, 3, 4])


@pytest.mark.parametrize("name,expected", [
    (BACKGROUND_PATH_NAME, True), ("mam BACKGROUND", True), ("  MAM background 2", True),
    ("Path", False), ("background", False), ("MAM", False)])
def test_background_path_names(name, expected):
    assert is_background_path(name) is expected


def test_selection_box_is_moved_into_layer_coordinates_and_clipped():
    prompt = build_prompt(LAYER, (0, 30, 60, 200))
    assert prompt.box == (0, 10, 50, 50)
    assert prompt.points == [] and not prompt.use_mask


def test_selection_outside_the_layer_is_refused():
    with pytest.raises(PromptError, match="does not overlap"):
        build_prompt(LAYER, (200, 200, 300, 300))


def test_anchors_become_labelled_points_in_layer_coordinates():
    prompt = build_prompt(LAYER, None, foreground=[(15.0, 25.5)], background=[(109.0, 69.0)])
    assert prompt.box is None
    assert prompt.points == [(5.0, 5.5, 1), (99.0, 49.0, 0)]


def test_anchors_off_the_layer_are_left_out_and_counted():
    prompt = build_prompt(LAYER, (10, 20, 20, 30), foreground=[(0.0, 0.0), (12.0, 22.0)],
                          background=[(110.0, 20.0)])
    assert prompt.points == [(2.0, 2.0, 1)]
    assert prompt.dropped_points == 2


def test_no_selection_and_no_foreground_anchor_explains_what_to_draw():
    with pytest.raises(PromptError, match=BACKGROUND_PATH_NAME):
        build_prompt(LAYER, None, background=[(20.0, 30.0)])


def test_foreground_anchors_all_off_the_layer_are_reported_as_such():
    with pytest.raises(PromptError, match="outside the active layer"):
        build_prompt(LAYER, None, foreground=[(500.0, 500.0)])


def test_refining_needs_a_selection():
    with pytest.raises(PromptError, match="needs a selection"):
        build_prompt(LAYER, None, foreground=[(20.0, 30.0)], refine_selection=True)
    assert build_prompt(LAYER, (10, 20, 30, 40), refine_selection=True).use_mask
