"""MattingEngine with backend="classic" (no weights at all), backend="sam", and the refine/foreground options."""

import cv2
import numpy as np
import pytest

from mam_engine import MattingEngine
from mam_engine.evaluation import metrics


def _scene():
    """An orange disk with a soft edge on a noisy blue background: a subject GrabCut and the refinement can find."""
    rng = np.random.default_rng(0)
    h, w = 120, 160
    yy, xx = np.mgrid[:h, :w]
    alpha = np.clip((36.0 - np.hypot(yy - 60, xx - 80)) / 3.0 + 0.5, 0, 1)
    fg = np.array([230.0, 140.0, 40.0])
    bg = np.array([40.0, 60.0, 170.0]) + rng.normal(0, 6, (h, w, 3))
    image = np.clip(alpha[..., None] * fg + (1 - alpha[..., None]) * bg, 0, 255).astype(np.uint8)
    return image, alpha


@pytest.fixture(scope="module")
def classic():
    # No checkpoint paths, no seed, an empty weights folder would make the model backends fail: classic loads nothing.
    return MattingEngine(backend="classic")


def test_classic_backend_describes_itself_and_needs_no_weights(classic):
    d = classic.describe()
    assert d["backend"] == "classic"
    assert "none" in str(d["weights"])


def test_classic_backend_mattes_from_a_box(classic):
    image, alpha = _scene()
    r = classic.matte(image, box=(36, 16, 124, 104))
    assert r.alpha.shape == alpha.shape and r.alpha.dtype == np.float32
    assert r.mask.dtype == bool and r.score == 0.0
    assert metrics.iou(r.alpha > 0.5, alpha > 0.5) > 0.95
    # The refinement gives a soft edge, closer to the truth than the GrabCut selection.
    assert metrics.sad(r.alpha, alpha) < metrics.sad(r.mask, alpha)
    assert {"segment", "refine", "total"} <= set(r.timings)


def test_classic_backend_foreground_and_progress(classic):
    image, alpha = _scene()
    stages = []
    r = classic.matte(image, points=[(80, 60, 1)], foreground=True, on_progress=lambda s, f: stages.append(s))
    assert r.foreground is not None and r.foreground.shape == image.shape and r.foreground.dtype == np.uint8
    assert stages[0] == "segment" and stages[-1] == "done" and "refine" in stages and "foreground" in stages


def test_classic_backend_accepts_a_selection_to_refine(classic):
    image, alpha = _scene()
    rough = cv2.dilate((alpha > 0.5).astype(np.uint8), np.ones((9, 9), np.uint8)).astype(bool)
    r = classic.matte(image, mask=rough)
    assert metrics.sad(r.alpha, alpha) < 0.5 * metrics.sad(rough, alpha)


@pytest.mark.parametrize(
    "kwargs, msg",
    [
        ({"refine": "bilateral"}, r"options.refine: must be null or one of \['classic'\], got 'bilateral'"),
        ({"refine_band": 0}, r"options.refine_band: 0 px is out of range \[1, 256\]"),
        ({"refine_band": 1000}, "out of range"),
        ({"foreground": "yes"}, "options.foreground: must be true or false"),
        ({}, "prompt: needs a box"),
    ],
)
def test_classic_backend_validates_options(classic, kwargs, msg):
    image, _ = _scene()
    prompt = {} if not kwargs else {"box": (36, 16, 124, 104)}
    with pytest.raises(ValueError, match=msg):
        classic.matte(image, **prompt, **kwargs)


def test_unknown_backend_is_named():
    with pytest.raises(ValueError, match="unknown backend 'gpu'"):
        MattingEngine(backend="gpu")


def test_sam_backend_with_refinement_runs_on_the_tiny_model():
    image, _ = _scene()
    eng = MattingEngine(model_type="tiny", random_weights_seed=0, backend="sam")
    assert eng.describe()["backend"] == "sam"
    r = eng.matte(image, box=(36, 16, 124, 104), refine="classic", foreground=True)
    assert r.alpha.shape == image.shape[:2] and 0.0 <= r.alpha.min() and r.alpha.max() <= 1.0
    assert r.foreground.shape == image.shape
    # Without M2M the unrefined alpha is exactly SAM's mask.
    plain = eng.matte(image, box=(36, 16, 124, 104))
    assert np.array_equal(plain.alpha, plain.mask.astype(np.float32))
    with pytest.raises(ValueError, match="options.refine_band: needs options.refine = 'classic'"):
        eng.matte(image, box=(36, 16, 124, 104), refine_band=5)


def test_cli_rgba_cutout_has_decontaminated_colours_without_weights(tmp_path):
    from PIL import Image

    from mam_engine.cli import main

    image, _ = _scene()
    src = tmp_path / "in.png"
    Image.fromarray(image).save(src)
    out, rgba_path = tmp_path / "alpha.png", tmp_path / "cut.png"
    assert main([str(src), "--box", "36,16,124,104", "--backend", "classic", "-o", str(out),
                 "--rgba", str(rgba_path)]) == 0
    rgba = np.asarray(Image.open(rgba_path))
    alpha = np.asarray(Image.open(out))
    assert rgba.shape == (*image.shape[:2], 4) and np.array_equal(rgba[..., 3], alpha)
    soft = (alpha > 40) & (alpha < 215)
    assert soft.any()
    # In the soft edge the photo mixes in the blue background; the cut-out's colours are closer to the orange subject.
    subject = np.array([230.0, 140.0, 40.0])
    naive = np.abs(image[soft].astype(float) - subject).mean()
    cut = np.abs(rgba[..., :3][soft].astype(float) - subject).mean()
    assert cut < 0.7 * naive
