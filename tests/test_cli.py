"""mam-matte on real photos with the tiny random model, its errors, and the alpha encoding (rounded, as the daemon)."""
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

from mam_engine import MattingEngine
from mam_engine.cli import main
from mam_engine.image_io import alpha_to_uint


def test_writes_alpha_and_rgba_equal_to_the_engine(shared_data, tmp_path):
    photo = shared_data / "sam-notebook-images" / "dog.jpg"
    alpha_png, rgba_png = tmp_path / "alpha.png", tmp_path / "cut.png"
    rc = main([str(photo), "--box", "60,40,420,500", "--point", "200,300", "--point", "30,30,0",
               "-o", str(alpha_png), "--rgba", str(rgba_png), "--model-type", "tiny", "--random-weights", "0",
               "--device", "cpu"])
    assert rc == 0
    image = np.asarray(Image.open(photo).convert("RGB"))
    expected = MattingEngine(model_type="tiny", random_weights_seed=0, device="cpu").matte(
        image, box=(60, 40, 420, 500), points=[(200, 300, 1), (30, 30, 0)]).alpha
    written = np.asarray(Image.open(alpha_png))
    assert written.dtype == np.uint8 and np.array_equal(written, alpha_to_uint(expected))
    rgba = np.asarray(Image.open(rgba_png))
    assert rgba.shape == image.shape[:2] + (4,) and np.array_equal(rgba[..., 3], written)


def test_missing_weights_say_where_to_put_them(shared_data, tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("MAM_WEIGHTS_DIR", str(tmp_path / "weights"))
    out = tmp_path / "a.png"
    rc = main([str(shared_data / "sam-notebook-images" / "dog.jpg"), "--box", "1,1,50,50", "-o", str(out)])
    err = capsys.readouterr().err
    assert rc == 1 and "mam_vitb.pth" in err and str(tmp_path / "weights") in err
    assert not out.exists()


@pytest.mark.parametrize("args, message", [
    (["--box", "1,2,3"], "--box x0,y0,x1,y1"),
    (["--point", "a,b"], "comma-separated numbers"),
])
def test_usage_errors_exit_2(tmp_path, args, message, capsys):
    with pytest.raises(SystemExit) as exc:
        main(["photo.jpg", "-o", str(tmp_path / "a.png"), *args])
    assert exc.value.code == 2 and message in capsys.readouterr().err


@pytest.mark.parametrize("args, message", [
    ([], "prompt: needs a box, at least one point, or a mask"),
    (["--box=-5,10,100,100"], "box: [-5.0, 10.0, 100.0, 100.0] must satisfy 0 <= x0 < x1 <= 1800"),
    (["--box", "10,10,1900,100"], "x1 <= 1800"),
    (["--point", "1801,10"], "points[0]: (1801.0, 10.0) lies outside the 1800×1200 image"),
    (["--box", "10,10,100,100", "--refine-band", "8"], "options.refine_band: needs options.refine = 'classic'"),
])
def test_the_daemons_validator_refuses_a_request_before_torch_is_imported(shared_data, tmp_path, args, message):
    """Same rules and words as the daemon (partly-outside boxes are refused, not clipped), in milliseconds."""
    photo = shared_data / "sam-notebook-images" / "truck.jpg"
    argv = [str(photo), "-o", str(tmp_path / "a.png"), *args]
    code = (f"import sys; from mam_engine.cli import main; rc = main({argv!r}); "
            "print('rc', rc, 'torch' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.stdout.strip().splitlines()[-1] == "rc 2 False", out.stdout + out.stderr
    assert message in out.stderr
    assert not (tmp_path / "a.png").exists()


def test_unreadable_image_is_named(tmp_path, capsys):
    bad = tmp_path / "notes.jpg"
    bad.write_text("not an image")
    assert main([str(bad), "--box", "1,1,5,5", "-o", str(tmp_path / "a.png"), "--model-type", "tiny",
                 "--random-weights", "0"]) == 1
    assert "notes.jpg" in capsys.readouterr().err


def test_console_entry_point_runs():
    out = subprocess.run([sys.executable, "-m", "mam_engine.cli", "--help"], capture_output=True, text=True)
    assert out.returncode == 0 and "--box" in out.stdout


def test_alpha_encoding_rounds_like_the_daemon():
    """8-bit rounds to nearest (halves up), as the daemon's frames do; the reference's truncation is not kept."""
    a = np.array([0.0, 0.999, 1.0, 0.5, 0.5 / 255, 254.5 / 255], np.float32)
    assert alpha_to_uint(a).tolist() == [0, 255, 255, 128, 1, 255]
    assert alpha_to_uint(a, 16).tolist() == [0, 65469, 65535, 32768, 129, 65407]


@pytest.mark.parametrize("args, message", [
    (["--text", " "], "text: is empty"),
    (["--text", "dogs" * 2500], "text: 10000 characters; max_text_chars is 1000"),
    (["--box", "1,1,5,5", "--box-threshold", "0.3"], "options.box_threshold: applies only to a text prompt"),
    (["--text", "dog", "--box-threshold", "1.5"], "options.box_threshold: must be a number in [0, 1]"),
    (["--text", "the dog"], "mam-weights download grounding-dino-tiny"),
])
def test_text_requests_are_checked_before_torch_or_transformers(shared_data, tmp_path, args, message):
    photo = shared_data / "sam-notebook-images" / "truck.jpg"
    argv = [str(photo), "-o", str(tmp_path / "a.png"), *args]
    code = (f"import sys; from mam_engine.cli import main; rc = main({argv!r}); "
            "print('rc', rc, 'torch' in sys.modules, 'transformers' in sys.modules)")
    env = {**__import__("os").environ, "MAM_WEIGHTS_DIR": str(tmp_path / "empty")}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, env=env)
    assert out.stdout.strip().splitlines()[-1] == "rc 2 False False", out.stdout + out.stderr
    assert message in out.stderr


def test_text_all_instances_write_one_file_each_and_the_union(tmp_path, capsys):
    from support.tiny_detector import build_tiny_detector

    folder = build_tiny_detector(tmp_path / "det")
    image = (np.random.default_rng(0).random((90, 120, 3)) * 255).astype(np.uint8)
    Image.fromarray(image).save(tmp_path / "in.png")
    out = tmp_path / "alpha.png"
    rc = main([str(tmp_path / "in.png"), "--text", "the dog", "--instances", "all", "--box-threshold", "0.7",
               "-o", str(out), "--model-type", "tiny", "--random-weights", "0", "--backend", "sam",
               "--detector-checkpoint", str(folder), "--device", "cpu"])
    assert rc == 0
    printed = capsys.readouterr().out
    engine = MattingEngine(model_type="tiny", random_weights_seed=0, device="cpu", backend="sam",
                           detector_checkpoint=folder)
    direct = engine.matte(image, text="the dog", box_threshold=0.7, instances="all")
    assert len(direct.instances) >= 2
    for i, inst in enumerate(direct.instances):
        written = np.asarray(Image.open(tmp_path / f"alpha_{i}.png"))
        assert np.array_equal(written, alpha_to_uint(inst.alpha, 8))
        assert f"{inst.score:.3f}" in printed and f"alpha_{i}.png" in printed
    assert not (tmp_path / f"alpha_{len(direct.instances)}.png").exists()
    assert np.array_equal(np.asarray(Image.open(out)), alpha_to_uint(direct.alpha, 8))
