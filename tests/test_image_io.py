"""PNG writing (atomic, with the permissions any new file gets) and the one alpha quantisation shared by the CLI
and the daemon."""
from __future__ import annotations

import os
import stat
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from mam_engine import image_io
from mam_engine.cli import main as cli_main
from mam_engine.image_io import alpha_to_uint, write_png_atomic
from mam_server.alpha_frame import encode_alpha

posix_only = pytest.mark.skipif(os.name != "posix", reason="POSIX permission bits")


@contextmanager
def umask(value: int):
    old = os.umask(value)
    try:
        yield
    finally:
        os.umask(old)


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def _png(value: int = 7) -> np.ndarray:
    return np.full((3, 4), value, np.uint8)


# --- write_png_atomic: permissions ------------------------------------------------------------------------------

@posix_only
@pytest.mark.parametrize("mask, expected", [(0o022, 0o644), (0o077, 0o600), (0o002, 0o664)])
def test_new_file_gets_0666_less_the_umask(tmp_path, mask, expected):
    out = tmp_path / "alpha.png"
    with umask(mask):
        write_png_atomic(out, _png())
    assert _mode(out) == expected
    assert np.array_equal(np.asarray(Image.open(out)), _png())
    assert sorted(p.name for p in tmp_path.iterdir()) == ["alpha.png"]  # no temporary file left behind


@posix_only
@pytest.mark.parametrize("old_mode", [0o644, 0o640, 0o444])
def test_overwrite_keeps_the_existing_mode(tmp_path, old_mode):
    out = tmp_path / "alpha.png"
    Image.fromarray(_png(1)).save(out)
    os.chmod(out, old_mode)
    with umask(0o077):
        write_png_atomic(out, _png(200))
    assert _mode(out) == old_mode
    assert np.array_equal(np.asarray(Image.open(out)), _png(200))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["alpha.png"]


@posix_only
def test_a_failed_write_leaves_the_old_file_and_no_temporary(tmp_path, monkeypatch):
    out = tmp_path / "alpha.png"
    Image.fromarray(_png(1)).save(out)
    os.chmod(out, 0o644)
    before = out.read_bytes()

    def broken_replace(src, dst):
        assert Path(src).parent == tmp_path and Path(src).exists()  # the temporary is beside the target
        raise OSError("disk full")

    monkeypatch.setattr(image_io.os, "replace", broken_replace)
    with pytest.raises(OSError, match="disk full"):
        write_png_atomic(out, _png(200))
    assert out.read_bytes() == before and _mode(out) == 0o644
    assert sorted(p.name for p in tmp_path.iterdir()) == ["alpha.png"]


def test_an_unencodable_array_leaves_nothing(tmp_path):
    out = tmp_path / "alpha.png"
    with pytest.raises((TypeError, ValueError, OSError)):
        write_png_atomic(out, np.zeros((2, 2, 7), np.uint8))
    assert list(tmp_path.iterdir()) == []


@posix_only
def test_cli_outputs_get_normal_permissions(tmp_path):
    """mam-matte end to end: its alpha and RGBA files are 0644 under umask 022 (were 0600), and an existing
    output keeps its mode."""
    photo = tmp_path / "photo.png"
    Image.fromarray(np.random.default_rng(0).integers(0, 256, (48, 64, 3), dtype=np.uint8)).save(photo)
    alpha_png, rgba_png = tmp_path / "alpha.png", tmp_path / "cut.png"
    Image.fromarray(_png()).save(rgba_png)
    os.chmod(rgba_png, 0o664)
    with umask(0o022):
        rc = cli_main([str(photo), "--box", "8,8,56,40", "-o", str(alpha_png), "--rgba", str(rgba_png),
                       "--model-type", "tiny", "--random-weights", "0", "--device", "cpu"])
    assert rc == 0
    assert _mode(alpha_png) == 0o644 and _mode(rgba_png) == 0o664
    assert np.asarray(Image.open(rgba_png)).shape == (48, 64, 4)


# --- alpha quantisation: one function for the CLI and the daemon -----------------------------------------------

HALVES = [0.5 / 255, 1.5 / 255, 127.5 / 255, 254.5 / 255, 0.5 / 65535, 65534.5 / 65535, 0.5]


@pytest.mark.parametrize("depth", [8, 16])
def test_cli_and_daemon_samples_are_byte_identical(depth):
    rng = np.random.default_rng(3)
    alpha = np.concatenate([
        np.array(HALVES + [0.0, 1.0, -0.25, 1.5, 0.999, 1e-9, np.nan, np.inf, -np.inf]),
        rng.random(4000), (np.arange(256) + 0.5) / 255, (np.arange(0, 65536, 97) + 0.5) / 65535,
    ]).astype(np.float32).reshape(1, -1)
    ours = alpha_to_uint(alpha, depth)
    wire, x, y = encode_alpha(alpha, depth, crop=False)
    assert (x, y) == (0, 0)
    assert ours.dtype == wire.dtype == (np.uint8 if depth == 8 else np.dtype("<u2"))
    assert ours.tobytes() == wire.tobytes()


@pytest.mark.parametrize("depth, top", [(8, 255), (16, 65535)])
def test_quantisation_rounds_to_nearest_half_up(depth, top):
    """round(α·top), halves up, in float32 (the engine's alpha type); the CLI used to truncate at 8 bits."""
    values = np.array([0.0, 0.5 / 255, 1.5 / 255, 254.5 / 255, 0.999, 0.5, 1.0, 1.2, -0.1, np.nan], np.float32)
    got = alpha_to_uint(values, depth).tolist()
    products = [float(np.float32(v) * np.float32(top)) for v in values[:-1]]
    expected = [int(np.floor(min(max(p, 0.0), top) + 0.5)) for p in products] + [0]
    assert got == expected
    if depth == 8:
        assert got[:7] == [0, 1, 2, 255, 255, 128, 255]  # truncation gave 0, 1, 254, 254, 127


def test_cli_writes_the_daemons_samples(tmp_path):
    """The PNG mam-matte writes holds exactly what the daemon would send for the same engine alpha."""
    from mam_engine import MattingEngine

    image = np.random.default_rng(1).integers(0, 256, (40, 56, 3), dtype=np.uint8)
    photo = tmp_path / "photo.png"
    Image.fromarray(image).save(photo)
    expected = MattingEngine(model_type="tiny", random_weights_seed=0, device="cpu").matte(
        image, box=(6, 4, 50, 36)).alpha
    for depth in (8, 16):
        out = tmp_path / f"alpha{depth}.png"
        assert cli_main([str(photo), "--box", "6,4,50,36", "-o", str(out), "--depth", str(depth),
                         "--model-type", "tiny", "--random-weights", "0", "--device", "cpu"]) == 0
        written = np.asarray(Image.open(out))
        wire, _, _ = encode_alpha(expected, depth, crop=False)
        assert written.astype(np.int64).tolist() == wire.astype(np.int64).tolist(), depth
