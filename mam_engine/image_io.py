"""Reading images and writing PNGs whole or not at all."""
from __future__ import annotations

import os
import secrets
import stat
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


ALPHA_DTYPES = {8: np.dtype(np.uint8), 16: np.dtype("<u2")}  # 16-bit little-endian: the daemon's wire order


def alpha_to_uint(alpha: np.ndarray, depth: int = 8) -> np.ndarray:
    """Float alpha → 8- or 16-bit samples; the one quantisation the CLI and the daemon share.

    Each sample is round(α · max) with halves rounded up (max = 255 or 65535), worked in float32 as the engine's
    alpha is; values below 0 (and NaN) give 0, above 1 give max. (The reference benchmark truncates instead, which
    darkens every edge pixel by up to one level; we round.) Little-endian uint16 at 16 bits.
    """
    if depth not in ALPHA_DTYPES:
        raise ValueError(f"alpha depth must be 8 or 16, got {depth}")
    scale = 255.0 if depth == 8 else 65535.0
    scaled = np.multiply(alpha, scale, dtype=np.float32)  # one temporary, worked in place: canvases are big
    np.fmax(scaled, 0.0, out=scaled)  # fmax/fmin rather than clip: NaN becomes 0, not an undefined cast
    np.fmin(scaled, scale, out=scaled)
    scaled += 0.5
    return scaled.astype(ALPHA_DTYPES[depth])


def _create_temp_beside(path: Path) -> tuple[int, Path]:
    """A new, empty file next to `path` (same folder, so os.replace is atomic), opened for writing.

    Created with mode 0666: the kernel applies the process umask (or the folder's default ACL), as for any file a
    program creates, so no umask has to be read (os.umask can only be read by setting it, racing other threads).
    """
    folder = path.parent
    for _ in range(100):
        tmp = folder / f".{path.name}.{secrets.token_hex(6)}.tmp"
        try:
            return os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0), 0o666), tmp
        except FileExistsError:
            continue
    raise FileExistsError(f"cannot create a temporary file next to {path}")


def write_png_atomic(path: str | Path, array: np.ndarray) -> None:
    """Writes `array` as a PNG at `path` whole or not at all.

    A new file gets the permissions any new file gets (0666 less the umask); an existing file keeps its mode.
    The PNG is written to a temporary file in the same folder and moved over `path` with os.replace; on any
    failure the temporary file is removed and an existing `path` is left untouched.
    """
    path = Path(path)
    image = Image.fromarray(array)
    try:
        keep_mode: int | None = stat.S_IMODE(os.stat(path).st_mode)
    except FileNotFoundError:
        keep_mode = None
    fd, tmp = _create_temp_beside(path)
    try:
        with os.fdopen(fd, "wb") as f:
            image.save(f, format="PNG")
            f.flush()
            os.fsync(f.fileno())
            if keep_mode is not None:
                os.chmod(f.fileno() if os.chmod in os.supports_fd else tmp, keep_mode)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
