"""GrabCut selection for the no-weights backend: box, points as hard constraints, existing selection, bad prompts."""

import cv2
import numpy as np
import pytest

from mam_engine.classic.grabcut import grabcut
from mam_engine.evaluation import metrics


def _scene(size: int = 120, seed: int = 0):
    """A red disk and a blue square on a noisy green-grey background."""
    rng = np.random.default_rng(seed)
    image = np.clip(rng.normal([90, 140, 90], 12, (size, size, 3)), 0, 255).astype(np.uint8)
    disk = np.zeros((size, size), np.uint8)
    cv2.circle(disk, (40, 60), 22, 1, -1)
    square = np.zeros((size, size), bool)
    square[45:80, 75:110] = True
    image[disk.astype(bool)] = (210, 40, 40)
    image[square] = (40, 50, 210)
    return image, disk.astype(bool), square


def test_box_selects_the_subject():
    image, disk, _ = _scene()
    seg = grabcut(image, box=(12, 32, 68, 88))
    assert seg.notes == []
    assert metrics.iou(seg.mask, disk) > 0.9


def test_negative_point_removes_an_object_inside_the_box():
    image, disk, square = _scene()
    box = (12, 32, 115, 88)
    both = grabcut(image, box=box).mask
    assert both[square].mean() > 0.5  # without the click the square is selected too
    seg = grabcut(image, box=box, points=[(92, 62, 0)])
    assert seg.mask[square].mean() < 0.1
    assert metrics.iou(seg.mask, disk) > 0.85


def test_positive_points_alone_are_enough():
    image, disk, _ = _scene()
    seg = grabcut(image, points=[(40, 60, 1), (35, 55, 1)])
    assert metrics.iou(seg.mask, disk) > 0.8


def test_existing_selection_seeds_the_segmentation():
    image, disk, _ = _scene()
    rough = cv2.dilate(disk.astype(np.uint8), np.ones((7, 7), np.uint8)).astype(bool)
    seg = grabcut(image, mask=rough)
    assert metrics.iou(seg.mask, disk) > metrics.iou(rough, disk)


def test_large_images_are_segmented_at_working_size_and_returned_full_size():
    image, disk, _ = _scene()
    big = cv2.resize(image, (960, 960), interpolation=cv2.INTER_NEAREST)
    big_disk = cv2.resize(disk.astype(np.uint8), (960, 960), interpolation=cv2.INTER_NEAREST).astype(bool)
    seg = grabcut(big, box=(96, 256, 544, 704))
    assert seg.mask.shape == (960, 960)
    assert metrics.iou(seg.mask, big_disk) > 0.9


def test_whole_canvas_box_does_not_crash():
    image, _, _ = _scene()
    seg = grabcut(image, box=(0, 0, 120, 120))
    assert seg.mask.shape == (120, 120)


def test_no_prompt_is_refused():
    image, _, _ = _scene(size=20)
    with pytest.raises(ValueError, match="needs a box, points or a mask"):
        grabcut(image)
    with pytest.raises(ValueError, match="mask shape"):
        grabcut(image, mask=np.zeros((5, 5), bool))


def test_featureless_box_is_retried_from_its_centre_not_left_blank():
    # Inside and outside the box look the same, so GrabCut first explains everything as background; the retry seeds
    # the box centre as foreground and says so.
    rng = np.random.default_rng(0)
    image = np.clip(rng.normal(120, 10, (100, 100, 3)), 0, 255).astype(np.uint8)
    seg = grabcut(image, box=(30, 30, 70, 70))
    assert seg.mask.any()
    assert seg.mask[50, 50] and not seg.mask[:30].any()
    assert any("retried" in n for n in seg.notes)
