"""Click to select, Qt-free: canvas-widget pixels <-> image pixels through the view's transforms."""
import math

import pytest

from plugins.krita.mam_krita.click_geometry import (
    Affine,
    affine_from_qtransform,
    box_from_corners,
    clamp_point,
    flake_to_image_from_document,
    image_corners_in_widget,
    is_drag,
    widget_to_image,
)


def close(a, b, tol=1e-9):
    return all(abs(p - q) <= tol for p, q in zip(a, b))


def view(zoom, pan, rotation=0.0, mirror=False, dpi=72.0):
    """A Krita-like view: flake = document points × zoom; widget = flake rotated/mirrored, then panned; image
    pixels = document points × dpi / 72. Returns (flakeToCanvas, flakeToImage, image->widget built by hand)."""
    flip = Affine.scaling(-1.0, 1.0) if mirror else Affine()
    flake_to_widget = flip.then(Affine.rotation(rotation)).then(Affine.translation(*pan))
    flake_to_image = Affine.scaling(1.0 / zoom * dpi / 72.0, 1.0 / zoom * dpi / 72.0)
    image_to_widget = Affine.scaling(zoom * 72.0 / dpi, zoom * 72.0 / dpi).then(flake_to_widget)
    return flake_to_widget, flake_to_image, image_to_widget


def test_identity_view_maps_widget_pixels_to_image_pixels():
    f2w, f2i, _ = view(1.0, (0.0, 0.0))
    assert widget_to_image(f2w, f2i).map(12.5, 7.0) == (12.5, 7.0)


@pytest.mark.parametrize("zoom,pan,rotation,mirror,dpi", [
    (0.5, (100.0, 40.0), 0.0, False, 72.0),
    (2.0, (-350.0, -120.0), 0.0, False, 300.0),
    (0.37, (512.0, 300.0), 30.0, False, 72.0),
    (1.5, (20.0, 900.0), -90.0, True, 150.0),
])
def test_zoom_pan_rotation_and_mirror_round_trip(zoom, pan, rotation, mirror, dpi):
    f2w, f2i, image_to_widget = view(zoom, pan, rotation, mirror, dpi)
    w2i = widget_to_image(f2w, f2i)
    for point in ((0.0, 0.0), (640.0, 480.0), (123.25, 77.5)):
        widget = image_to_widget.map(*point)
        assert close(w2i.map(*widget), point, 1e-6)
        assert close(w2i.inverted().map(*point), widget, 1e-6)


def test_zoom_and_pan_by_hand():
    """At 50 % with the image's corner at widget (100, 40), widget (300, 140) is image (400, 200)."""
    f2w, f2i, _ = view(0.5, (100.0, 40.0))
    assert close(widget_to_image(f2w, f2i).map(300.0, 140.0), (400.0, 200.0))


def test_rotation_by_hand():
    """A view rotated 90° clockwise: the image's x axis points down the widget."""
    f2w, f2i, _ = view(1.0, (500.0, 0.0), rotation=90.0)
    image_to_widget = widget_to_image(f2w, f2i).inverted()
    assert close(image_to_widget.map(10.0, 0.0), (500.0, 10.0))
    assert close(image_to_widget.map(0.0, 10.0), (490.0, 0.0))


def test_mirror_by_hand():
    f2w, f2i, _ = view(1.0, (800.0, 0.0), mirror=True)
    assert close(widget_to_image(f2w, f2i).map(790.0, 5.0), (10.0, 5.0))


def test_document_route_equals_the_image_route():
    """flakeToDocument (points) scaled by dpi/72 is flakeToImage."""
    zoom, dpi = 0.8, 300.0
    flake_to_document = Affine.scaling(1.0 / zoom, 1.0 / zoom)
    _, f2i, _ = view(zoom, (0.0, 0.0), dpi=dpi)
    assert close(flake_to_image_from_document(flake_to_document, dpi, dpi).as_tuple(), f2i.as_tuple())
    with pytest.raises(ValueError):
        flake_to_image_from_document(flake_to_document, 0.0, 72.0)


def test_then_matches_qtransform_order():
    """QTransform a * b applies a first: scale then translate moves by the unscaled offset."""
    t = Affine.scaling(2.0, 3.0).then(Affine.translation(10.0, 20.0))
    assert t.map(1.0, 1.0) == (12.0, 23.0)
    assert close(t.then(t.inverted()).as_tuple(), Affine().as_tuple())


def test_singular_transform_is_refused():
    with pytest.raises(ValueError, match="cannot be inverted"):
        Affine.scaling(0.0, 1.0).inverted()


class FakeQTransform:
    """Only the accessors affine_from_qtransform reads (QTransform's m11()…m33())."""

    def __init__(self, *m):
        self._m = m

    def __getattr__(self, name):
        index = ["m11", "m12", "m13", "m21", "m22", "m23", "m31", "m32", "m33"].index(name)
        return lambda: self._m[index]


def test_copy_from_a_qtransform():
    assert affine_from_qtransform(FakeQTransform(2, 0.5, 0, -0.5, 2, 0, 10, 20, 1)).as_tuple() == (
        2, 0.5, -0.5, 2, 10, 20)
    with pytest.raises(ValueError, match="perspective"):
        affine_from_qtransform(FakeQTransform(1, 0, 0.001, 0, 1, 0, 0, 0, 1))


def test_clamp_point_rounds_and_rejects_outside():
    assert clamp_point(10.123, 5.987, 100, 50) == (10.12, 5.99)
    assert clamp_point(100.0, 50.0, 100, 50) == (100.0, 50.0)      # the far edge is valid (protocol 4.2)
    assert clamp_point(-0.5, 3.0, 100, 50) is None
    assert clamp_point(3.0, 50.01, 100, 50) is None


def test_box_from_corners_is_whole_pixels_cut_to_the_image():
    assert box_from_corners((30.4, 80.6), (10.5, 20.2), 100, 100) == (10, 20, 31, 81)
    assert box_from_corners((-20.0, -5.0), (40.0, 300.0), 100, 100) == (0, 0, 40, 100)
    assert box_from_corners((-20.0, -5.0), (-3.0, 30.0), 100, 100) is None


def test_corners_of_a_rotated_box():
    corners = image_corners_in_widget(Affine.rotation(90.0), (0.0, 0.0, 10.0, 5.0))
    assert all(close(c, e) for c, e in zip(corners, [(0, 0), (0, 10), (-5, 10), (-5, 0)]))


def test_drag_threshold():
    assert not is_drag((10.0, 10.0), (13.0, 14.0))          # 5 px: still a click
    assert is_drag((10.0, 10.0), (16.0, 10.0))
    assert math.isclose(5.0, math.hypot(3.0, 4.0))
