"""Reading images and writing PNGs whole or not at all."""
from __future__ import annotations

import os
import tempfile
from pathlib import Path

import numpy as np
from PIL import Image


def read_rgb(path: str | Path) -> np.ndarray:
    try:
        with Image.open(path) as im:
            return np.asarray(im.convert("RGB"))
    except FileNotFoundError:
        raise
    except OSError as exc:
        raise ValueError(f"{path}: not an image this program can read ({exc})") from exc


def read_mask(path: str | Path, shape: tuple[int, int]) -> np.ndarray:
    """A selection as a grey image: >= 128 is inside."""
    with Image.open(path) as im:
        m = np.asarray(im.convert("L")) >= 128
    if m.shape != shape:
        raise ValueError(f"{path}: mask is {m.shape[1]}×{m.shape[0]}, the image is {shape[1]}×{shape[0]}")
    return m


def alpha_to_uint(alpha: np.ndarray, depth: int = 8) -> np.ndarray:
    """8-bit truncates as the reference benchmark saves (uint8(α·255)); 16-bit rounds to 0..65535."""
    a = np.clip(alpha, 0.0, 1.0)
    if depth == 8:
        return (a * 255).astype(np.uint8)
    if depth == 16:
        return np.rint(a * 65535).astype(np.uint16)
    raise ValueError(f"alpha depth must be 8 or 16, got {depth}")


def write_png_atomic(path: str | Path, array: np.ndarray) -> None:
    path = Path(path)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".png", dir=path.parent or ".")
    os.close(fd)
    try:
        Image.fromarray(array).save(tmp, format="PNG")
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
