"""Prompt extraction for the Krita plugin: selection bytes -> box/mask, vector shapes -> points."""
import numpy as np
import pytest

from plugins.krita.mam_krita.prompts import (
    BACKGROUND,
    FOREGROUND,
    PromptError,
    ShapeInfo,
    bounding_box,
    fill_rgb,
    is_points_layer,
    mask_from_selection,
    points_from_shapes,
    shape_label,
)


def _sel(h, w, rect=None, value=255):
    a = np.zeros((h, w), np.uint8)
    if rect:
        x0, y0, x1, y1 = rect
        a[y0:y1, x0:x1] = value
    return a


@pytest.mark.parametrize("rect", [(3, 2, 9, 7), (0, 0, 12, 10), (11, 9, 12, 10), (0, 5, 1, 6)])
def test_bounding_box_matches_numpy(rect):
    a = _sel(10, 12, rect)
    assert bounding_box(a.tobytes(), 12, 10) == rect


def test_bounding_box_of_irregular_soft_selection():
    rng = np.random.default_rng(1)
    a = np.zeros((40, 50), np.uint8)
    a[5:30, 7:44] = rng.integers(0, 256, size=(25, 37), dtype=np.uint8)
    a[5, 7] = a[29, 43] = 200                       # pin the extremes so the box is known
    ys, xs = np.nonzero(a)
    expect = (xs.min(), ys.min(), xs.max() + 1, ys.max() + 1)
    assert bounding_box(a.tobytes(), 50, 40) == expect


def test_bounding_box_threshold_ignores_faint_pixels():
    a = _sel(8, 8, (1, 1, 7, 7), value=10)
    a[3:5, 2:6] = 200
    assert bounding_box(a.tobytes(), 8, 8) == (1, 1, 7, 7)
    assert bounding_box(a.tobytes(), 8, 8, threshold=128) == (2, 3, 6, 5)


def test_empty_selection_has_no_box():
    assert bounding_box(bytes(64), 8, 8) is None


def test_wrong_size_is_a_clear_error():
    with pytest.raises(PromptError, match="63 bytes for 8x8"):
        bounding_box(bytes(63), 8, 8)
    with pytest.raises(PromptError, match="expected 64"):
        mask_from_selection(b"\x00" * 65, 8, 8)


def test_mask_is_the_selection_bytes():
    a = _sel(6, 5, (1, 1, 4, 5), value=180)
    assert mask_from_selection(bytearray(a.tobytes()), 5, 6) == a.tobytes()


@pytest.mark.parametrize("name,ok", [("MAM points", True), ("mam  Points ", True), ("MAM background", True),
                                     ("MAM", False), ("points", False), ("Vector Layer 1", False)])
def test_point_layer_names(name, ok):
    assert is_points_layer(name) is ok


@pytest.mark.parametrize("svg,rgb", [
    ('<ellipse fill="#ff0000" stroke="#000000"/>', (255, 0, 0)),
    ('<ellipse fill="#F0a" />', (255, 0, 170)),
    ('<path style="stroke:#00ff00;fill:#102030"/>', (16, 32, 48)),
    ('<rect fill="rgb(200, 10, 20)"/>', (200, 10, 20)),
    ('<rect fill="none" stroke="#ff0000"/>', None),
])
def test_fill_colour_parsing(svg, rgb):
    assert fill_rgb(svg) == rgb


def test_labels_follow_layer_name_and_red_fill():
    fg = ShapeInfo("MAM points", 0, 0, 1, 1, '<ellipse fill="#00aa00"/>')
    red = ShapeInfo("MAM points", 0, 0, 1, 1, '<ellipse fill="#e01010"/>')
    dark_red = ShapeInfo("MAM points", 0, 0, 1, 1, '<ellipse fill="#700000"/>')
    bg = ShapeInfo("mam background", 0, 0, 1, 1, '<ellipse fill="#00aa00"/>')
    other = ShapeInfo("Sketch", 0, 0, 1, 1, '<ellipse fill="#ff0000"/>')
    assert [shape_label(s) for s in (fg, red, dark_red, bg, other)] == [
        FOREGROUND, BACKGROUND, FOREGROUND, BACKGROUND, None]


def test_points_are_shape_centres_in_pixels():
    shapes = [
        ShapeInfo("MAM points", 10, 20, 14, 24),                         # centre (12, 22) pt
        ShapeInfo("MAM background", 70, 0, 74, 2),                       # centre (72, 1) pt
        ShapeInfo("MAM points", 500, 500, 510, 510),                     # outside the image
        ShapeInfo("Layer 2", 1, 1, 2, 2),                                # not a point layer
    ]
    points, outside = points_from_shapes(shapes, dpi_x=144, dpi_y=72, width=200, height=100)
    assert points == [(24.0, 22.0, FOREGROUND), (144.0, 1.0, BACKGROUND)]
    assert outside == 1


def test_bad_resolution_is_rejected():
    with pytest.raises(PromptError, match="resolution"):
        points_from_shapes([], 0, 72, 10, 10)


def test_prompt_from_selection_and_points():
    from plugins.krita.mam_krita.prompts import build_prompt
    sel = _sel(30, 40, (5, 6, 20, 25), value=255).tobytes()
    shapes = [ShapeInfo("MAM points", 10, 10, 12, 12), ShapeInfo("MAM background", 100, 100, 102, 102)]
    p = build_prompt(sel, shapes, 40, 30, 72, 72, refine_selection=False)
    assert p.box == (5, 6, 20, 25) and p.points == [(11.0, 11.0, FOREGROUND)] and p.mask is None
    assert p.notes == ["1 point shape(s) outside the image were ignored"]
    refined = build_prompt(sel, [], 40, 30, 72, 72, refine_selection=True)
    assert refined.mask == sel and refined.points == []


def test_points_alone_are_enough_and_refining_the_selection_needs_one():
    from plugins.krita.mam_krita.prompts import build_prompt
    p = build_prompt(None, [ShapeInfo("MAM points", 1, 1, 3, 3)], 40, 30, 72, 72, refine_selection=True)
    assert p.box is None and p.mask is None and p.points == [(2.0, 2.0, FOREGROUND)]


@pytest.mark.parametrize("selection", [None, bytes(1200)])
def test_nothing_to_matte_is_refused(selection):
    from plugins.krita.mam_krita.prompts import build_prompt
    with pytest.raises(PromptError, match="Nothing to matte"):
        build_prompt(selection, [ShapeInfo("Sketch", 1, 1, 3, 3)], 40, 30, 72, 72, refine_selection=False)
