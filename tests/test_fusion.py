"""MAM_SPEC §6 rules, checked on hand-made masks and alphas whose answers are worked out by hand."""
import cv2
import numpy as np
import pytest

from mam_engine.model.fusion import fuse, fuse_from, outside_box, unknown_from_mask, unknown_from_pred

# OpenCV's 5×5 ellipse (the kernel of width 10): a disc without its four corners' outer pixels.
ELLIPSE_5 = np.array(
    [[0, 0, 1, 0, 0],
     [1, 1, 1, 1, 1],
     [1, 1, 1, 1, 1],
     [1, 1, 1, 1, 1],
     [0, 0, 1, 0, 0]], dtype=bool)


def test_box_max_row_and_column_are_exclusive():
    m = np.zeros((10, 12), bool)
    m[2:6, 3:8] = True  # rows 2..5, cols 3..7
    out = outside_box(m)
    assert not out[2:5, 3:7].any()
    assert out[5, 3:8].all() and out[2:6, 7].all()  # last row / column stay "outside"
    assert out[:2].all() and out[:, :3].all()


def test_box_of_empty_mask_is_everything():
    assert outside_box(np.zeros((4, 4), bool)).all()


def test_pred_unknown_is_one_soft_pixel_grown_by_the_ellipse():
    a = np.zeros((15, 15), np.float32)
    a[7, 7] = 0.5
    u = unknown_from_pred(a, 10)
    expected = np.zeros_like(u)
    expected[5:10, 5:10] = ELLIPSE_5
    assert np.array_equal(u, expected)


def test_pred_unknown_excludes_opaque_and_ignores_faint():
    a = np.zeros((15, 15), np.float32)
    a[7, 7] = 1.0  # > 1 - 1/255: opaque, excluded itself but grows the band
    a[0, 0] = 0.5 / 255  # below 1/255: not unknown
    u = unknown_from_pred(a, 10)
    assert not u[7, 7] and u[7, 6] and u[5, 7] and not u[5, 5]
    assert not u[0, 0] and not u[1, 1]


def test_mask_unknown_is_a_thin_band_outside():
    m = np.zeros((20, 20), bool)
    m[8:12, 8:12] = True
    u = unknown_from_mask(m, 10)
    assert not u[m].any()
    assert u[10, 7] and u[10, 6] and not u[10, 5]  # 1 and 2 px left: band; 3 px: not
    assert not u[6, 6]  # diagonal corner beyond the ellipse
    assert not u[0, 0]


def test_mask_unknown_never_takes_pixels_from_outside_the_image():
    assert not unknown_from_mask(np.zeros((9, 9), bool), 10).any()
    m = np.zeros((9, 9), bool)
    m[:, :2] = True  # touching the left edge
    u = unknown_from_mask(m, 10)
    assert u[4, 2] and u[4, 3] and not u[4, 4]


def _fields(shape, post):
    return (np.full(shape, 0.5, np.float32), np.full(shape, 0.25, np.float32), np.full(shape, 0.75, np.float32), post)


def test_alpha_guidance():
    post = np.zeros((80, 80), bool)
    post[30:50, 30:50] = True
    alpha = fuse(*_fields(post.shape, post), guidance="alpha")
    assert alpha[40, 40] == pytest.approx(0.75)  # os8 inside the box, then refined twice down to os1
    assert alpha[49, 40] == 1.0  # the box's excluded last row keeps the post mask (1 is opaque: never refined)
    assert alpha[40, 27] == pytest.approx(0.75)  # the unknown band grows outside the box
    assert alpha[40, 5] == 0.0 and alpha[0, 0] == 0.0
    assert alpha.dtype == np.float32


def test_mask_guidance():
    post = np.zeros((80, 80), bool)
    post[30:50, 30:50] = True
    alpha = fuse(*_fields(post.shape, post), guidance="mask")
    assert alpha[40, 40] == 1.0 and alpha[31, 31] == 1.0  # inside the mask: opaque, untouched
    assert alpha[40, 29] == pytest.approx(0.75)  # band outside: os8, then refined to os1
    assert alpha[40, 5] == 0.0


def test_unknown_guidance_is_rejected():
    post = np.ones((4, 4), bool)
    with pytest.raises(ValueError, match="guidance"):
        fuse(*_fields(post.shape, post), guidance="trimap")


def _fuse_literal(a8, a4, a1, post_mask, guidance):
    """MAM_SPEC §6 transcribed with boolean indexing and np.nonzero (the implementation before issue 14's
    large-canvas work): the faster fuse must give bitwise the same alpha."""
    post = post_mask.astype(np.float32)
    if guidance == "alpha":
        alpha = a8.copy()
        out = np.ones(post_mask.shape, dtype=bool)
        ys, xs = np.nonzero(post_mask)
        if ys.size:
            out[ys.min() : ys.max(), xs.min() : xs.max()] = False
        alpha[out] = post[out]
    else:
        alpha = post.copy()
        region = unknown_from_mask(post_mask, 10)
        alpha[region] = a8[region]
    for alphas, width in ((a4, 20), (a1, 10)):
        u = cv2.dilate((alpha >= 1 / 255).astype(np.uint8), cv2.getStructuringElement(cv2.MORPH_ELLIPSE,
                                                                                     (width // 2, width // 2)))
        u[alpha > 1 - 1 / 255] = 0
        alpha[u.astype(bool)] = alphas[u.astype(bool)]
    return alpha


@pytest.mark.parametrize("guidance", ["alpha", "mask"])
@pytest.mark.parametrize("blob", [(slice(20, 70), slice(30, 90)), (slice(0, 100), slice(0, 40)), (slice(0, 0),)])
def test_fuse_is_bitwise_the_literal_rules(guidance, blob):
    rng = np.random.default_rng(3)
    soft = [np.where(rng.random((100, 120)) < 0.5, rng.random((100, 120)), np.round(rng.random((100, 120))))
            .astype(np.float32) for _ in range(3)]
    post = np.zeros((100, 120), bool)
    post[blob] = True
    got = fuse(*soft, post, guidance)
    assert got.dtype == np.float32
    assert np.array_equal(got, _fuse_literal(*soft, post, guidance))


def test_fuse_from_reads_os4_and_os1_only_around_the_soft_band():
    """A trained M2M's alphas are 0 or 1 away from the edge: fusion then reads os4/os1 over a box around the soft
    band only, so a large canvas upsamples a fraction of the window, and the answer is fuse's."""
    yy, xx = np.mgrid[:200, :300]
    ring = np.hypot(yy - 40, xx - 60) - 25  # a small subject in the top-left corner of a 200×300 window
    soft = [np.clip(0.5 - ring / s, 0, 1).astype(np.float32) for s in (6.0, 4.0, 2.0)]
    post = ring < 0
    asked: list[tuple[int, int]] = []

    def read(index, rows, cols):
        asked.append((index, (rows.stop - rows.start) * (cols.stop - cols.start)))
        return soft[index][rows, cols]

    got = fuse_from(read, post, "alpha")
    assert np.array_equal(got, fuse(*soft, post, "alpha"))
    areas = dict(asked)
    assert set(areas) == {0, 1, 2}
    assert areas[1] < 0.25 * post.size and areas[2] < 0.25 * post.size
