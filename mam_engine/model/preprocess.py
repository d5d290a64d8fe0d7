"""SAM's input transform (MAM_SPEC §2): resize the long side to 1024 with PIL bilinear, normalise, pad."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from PIL import Image

TARGET = 1024
PIXEL_MEAN = (123.675, 116.28, 103.53)
PIXEL_STD = (58.395, 57.12, 57.375)


@dataclass(frozen=True)
class Frame:
    """Where an image of `original` size sits inside the padded model frame."""

    original: tuple[int, int]  # (H, W)
    resized: tuple[int, int]  # (newh, neww)

    @classmethod
    def for_size(cls, height: int, width: int, target: int = TARGET) -> Frame:
        scale = target / max(height, width)
        # At least one row and column: a 1×4000 strip would otherwise round its short side to nothing.
        return cls((height, width), (max(1, int(height * scale + 0.5)), max(1, int(width * scale + 0.5))))

    def scale_xy(self) -> tuple[float, float]:
        (h, w), (newh, neww) = self.original, self.resized
        return neww / w, newh / h

    def to_model_coords(self, xy: np.ndarray) -> np.ndarray:
        """Image pixels → the 1024 frame, as ResizeLongestSide.apply_coords does."""
        sx, sy = self.scale_xy()
        out = np.array(xy, dtype=np.float64, copy=True)
        out[..., 0] *= sx
        out[..., 1] *= sy
        return out


def resize_longest(image: np.ndarray, frame: Frame) -> np.ndarray:
    newh, neww = frame.resized
    if (newh, neww) == image.shape[:2]:
        return image
    return np.asarray(Image.fromarray(image).resize((neww, newh), Image.Resampling.BILINEAR))


def model_input(image: np.ndarray, frame: Frame, device: torch.device) -> torch.Tensor:
    """1×3×1024×1024 float32: normalised on the 0–255 scale, zero-padded bottom/right after normalising."""
    resized = torch.tensor(resize_longest(image, frame), device=device)
    x = resized.permute(2, 0, 1).float()
    mean = torch.tensor(PIXEL_MEAN, device=device).view(3, 1, 1)
    std = torch.tensor(PIXEL_STD, device=device).view(3, 1, 1)
    x = (x - mean) / std
    padded = torch.zeros((1, 3, TARGET, TARGET), dtype=torch.float32, device=device)
    padded[0, :, : x.shape[1], : x.shape[2]] = x
    return padded


def mask_to_model_frame(mask: np.ndarray, frame: Frame, size: int = 256) -> np.ndarray:
    """A full-size binary mask → the padded frame at `size`² (SAM's low-res mask grid), float in [0, 1]."""
    newh, neww = frame.resized
    scaled = np.asarray(Image.fromarray(mask.astype(np.uint8) * 255).resize((neww, newh), Image.Resampling.BILINEAR))
    padded = np.zeros((TARGET, TARGET), dtype=np.uint8)
    padded[:newh, :neww] = scaled
    return np.asarray(Image.fromarray(padded).resize((size, size), Image.Resampling.BILINEAR), dtype=np.float32) / 255.0
