import numpy as np
import pytest
import torch

from mam_engine.model.preprocess import (
    PIXEL_MEAN,
    PIXEL_STD,
    Frame,
    mask_to_model_frame,
    model_input,
)
from mam_engine.request import RequestError, check_image_array


@pytest.mark.parametrize(
    "hw, resized",
    [((1200, 1800), (683, 1024)), ((534, 800), (684, 1024)), ((1024, 1024), (1024, 1024)), ((3000, 10), (1024, 3))],
)
def test_resized_size_rounds_half_up(hw, resized):
    assert Frame.for_size(*hw).resized == resized


def test_model_input_normalises_then_pads_with_zeros():
    image = np.zeros((300, 600, 3), np.uint8)
    image[...] = (200, 100, 50)
    x = model_input(image, Frame.for_size(300, 600), torch.device("cpu"))
    assert x.shape == (1, 3, 1024, 1024) and x.dtype == torch.float32
    expected = [(v - m) / s for v, m, s in zip((200, 100, 50), PIXEL_MEAN, PIXEL_STD)]
    assert torch.allclose(x[0, :, 0, 0], torch.tensor(expected), atol=1e-6)
    assert torch.allclose(x[0, :, 511, 1023], torch.tensor(expected), atol=1e-6)  # newh = 512
    assert (x[0, :, 512:, :] == 0).all()


def test_coordinates_scale_per_axis():
    f = Frame.for_size(1200, 1800)
    out = f.to_model_coords(np.array([[1800.0, 1200.0], [900.0, 0.0]]))
    assert out[0] == pytest.approx([1024.0, 683.0])
    assert out[1] == pytest.approx([512.0, 0.0])


def test_mask_lands_in_the_padded_frame():
    mask = np.ones((100, 200), bool)
    grid = mask_to_model_frame(mask, Frame.for_size(100, 200))
    assert grid.shape == (256, 256)
    assert grid[:100, :].min() > 0.99 and grid[140:, :].max() == 0.0


@pytest.mark.parametrize("bad, message", [
    (np.zeros((5, 5), np.uint8), "H×W×3 uint8"), (np.zeros((5, 5, 4), np.uint8), "H×W×3 uint8"),
    (np.zeros((5, 5, 3), np.float32), "H×W×3 uint8"), (np.zeros((0, 5, 3), np.uint8), "image.height"),
    ([[1, 2, 3]], "numpy array"),
])
def test_bad_images_are_named(bad, message):
    with pytest.raises(RequestError, match=message):
        check_image_array(bad)


@pytest.mark.parametrize("hw, resized", [((1, 4000), (1, 1024)), ((4000, 1), (1024, 1)), ((3, 4000), (1, 1024)),
                                         ((1200, 1800), (683, 1024))])
def test_the_model_frame_keeps_at_least_one_row_and_column(hw, resized):
    assert Frame.for_size(*hw).resized == resized
