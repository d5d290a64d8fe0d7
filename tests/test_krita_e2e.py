"""End to end in real Krita 5.2.9 (trixie) and 5.3.4 (sid), the editor matrix: the plugin zip installed
by Krita's own importer, a real daemon
on loopback, a real photo, 8-bit and 16-bit documents.

Krita 5.2 only exists here inside the Debian 13 root that tests/editors/ensure_root.sh builds (cached).
The daemon runs on the host from this venv (tiny random model); Krita runs in the chroot (same
network) as the real GUI process under Xvfb — kritarunner has no window, so no menu actions and no
undo — with tests/editors/krita_e2e_driver.py installed as a second Python plugin. The driver
triggers mam_krita's own menu actions and controller and dumps what Krita then holds; this side
checks it against a direct request to the same daemon made with the harness's own pyzmq client.
"""
from __future__ import annotations

import hashlib
import os
import shutil
from contextlib import ExitStack, contextmanager
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from support.daemon_harness import WireClient, alpha_array, free_port, refined_and_plain_alphas, running_daemon
from support.editor_chroot import (
    SUITES,
    editors_root_or_skip,
    ground_truth_photo,
)
from support.krita_session import run_krita
from support.tiny_detector import build_tiny_detector

ROOT = Path(__file__).resolve().parents[1]
DRIVER = ROOT / "tests" / "editors" / "krita_e2e_driver.py"
PHOTO = "GT01"
DEPTHS = ("U8", "U16", "F16", "F32")
KRITA_TIMEOUT_S = 400
MASK_NAME = "Matte (Matting Anything)"
SUBJECT_NAME = "Subject (Matting Anything)"
SMALL_FACTOR = 5   # the refine-edges case runs on a 160x99 copy of the photo
PHRASE = "the dog"            # typed into the docker's text field (the random detector finds arbitrary boxes)
EMPTY_BOX = [0, 0, 4, 4]      # a selection that narrows every detection away: "nothing found"

pytestmark = [pytest.mark.editors, pytest.mark.timeout(1800)]


@pytest.fixture(scope="module", params=SUITES)
def editors_root(request) -> Path:
    """Each root of the editor matrix in turn: Krita 5.2.9 (trixie) and Krita 5.3.x (sid)."""
    return editors_root_or_skip("Krita", request.param)


@contextmanager
def _weights_dir(folder: Path):
    """MAM_WEIGHTS_DIR for the daemons started inside (they keep it); the old value afterwards."""
    saved = os.environ.get("MAM_WEIGHTS_DIR")
    os.environ["MAM_WEIGHTS_DIR"] = str(folder)
    try:
        yield
    finally:
        if saved is None:
            del os.environ["MAM_WEIGHTS_DIR"]
        else:
            os.environ["MAM_WEIGHTS_DIR"] = saved


@pytest.fixture(scope="module")
def daemon(editors_root, tmp_path_factory):
    """A fresh tiny-model daemon per Krita release (not conftest's one per module): each session's first request on
    a photo must find no embedding cached by the other release's session (the progress bar's encoding stage). Its
    weights folder is empty, so it offers no text prompts."""
    with ExitStack() as stack:
        with _weights_dir(tmp_path_factory.mktemp("no-detector")):
            d = stack.enter_context(running_daemon())
        yield d


@pytest.fixture(scope="module")
def photo() -> dict:
    """The photo and the selection box the driver draws: the tight box of the ground-truth subject; and a
    small copy (1/5 size) with a box inside it, for the slower classic edge refinement."""
    source, _gt, box = ground_truth_photo(PHOTO)
    full = Image.open(source).convert("RGB")
    small = full.resize((full.width // SMALL_FACTOR, full.height // SMALL_FACTOR), Image.BILINEAR)
    w, h = small.size
    return {"path": source, "rgba": np.asarray(Image.open(source).convert("RGBA")), "box": box,
            "small": small, "small_box": [w // 4, h // 5, 3 * w // 4, 4 * h // 5]}


def _krita_session(root: Path, endpoint: str, classic_endpoint: str, photo: dict, extra: dict,
                   folder: Path) -> tuple[dict, Path]:
    """One Krita GUI session in the root (`folder`: where the small photo is written first); returns the driver's
    results and dump folder (inside the root's /tmp; removed by the fixture)."""
    photo["small"].save(folder / f"{PHOTO}_small.png")
    config = {"photo": f"{{dir}}/{PHOTO}.png", "box": photo["box"], "depths": list(DEPTHS),
              "small_photo": f"{{dir}}/{PHOTO}_small.png", "small_box": photo["small_box"],
              "endpoint": endpoint, "classic_endpoint": classic_endpoint,
              "dead_endpoint": f"tcp://127.0.0.1:{free_port()}", "timeout_s": 240, **extra}
    files = {f"{PHOTO}.png": photo["path"], f"{PHOTO}_small.png": folder / f"{PHOTO}_small.png"}
    results, out, _home = run_krita(root, DRIVER, "mam_krita_e2e", "MAM_KRITA_E2E", config, files, KRITA_TIMEOUT_S)
    return results, out


@pytest.fixture(scope="module")
def text_daemon(tmp_path_factory):
    """A daemon that offers text prompts: the tiny random SAM (backend sam) and a tiny random Grounding DINO saved
    as real files in its weights folder (MAM_WEIGHTS_DIR), as tests/test_text_prompts.py starts it."""
    folder = tmp_path_factory.mktemp("weights")
    build_tiny_detector(folder / "grounding-dino-tiny")
    with ExitStack() as stack:
        with _weights_dir(folder):
            d = stack.enter_context(running_daemon("--backend", "sam"))
        yield d


@pytest.fixture(scope="module")
def session(editors_root, daemon, classic_daemon, text_daemon, photo, tmp_path_factory):
    extra = {"text_endpoint": text_daemon.endpoint, "phrase": PHRASE, "empty_box": EMPTY_BOX}
    results, out = _krita_session(editors_root, daemon.endpoint, classic_daemon.endpoint, photo, extra,
                                  tmp_path_factory.mktemp("krita-files"))
    yield results, out
    if not os.environ.get("MAM_E2E_KEEP"):   # set it to keep Krita's dumps and screenshots for a look
        shutil.rmtree(out.parent, ignore_errors=True)


def _canvas(results: dict, out: Path, depth: str) -> tuple[dict, bytes]:
    info = results["cases"][depth]["canvas"]
    return info, (out / info["file"]).read_bytes()


def _direct_alpha(endpoint: str, info: dict, pixels: bytes, box: list[int]) -> np.ndarray:
    """The daemon's full-frame alpha for the canvas Krita read and the box drawn, asked from the host."""
    spec = {"width": info["width"], "height": info["height"], "format": info["fmt"], "stride": info["stride"],
            "digest": hashlib.blake2b(pixels, digest_size=16).hexdigest()}
    with WireClient(endpoint) as client:
        client.matte("direct", pixels=pixels, spec=spec, prompt={"box": box},
                     options={"guidance": "alpha", "depth": 8, "crop": False})
        reply = client.wait_for("direct")
    assert reply.type == "result", reply.header
    alpha = alpha_array(reply)
    assert alpha.min() < alpha.max(), "the daemon's alpha is constant: comparing it would prove little"
    return alpha


def _dump(out: Path, name: str, shape: tuple[int, int]) -> np.ndarray:
    return np.frombuffer((out / name).read_bytes(), np.uint8).reshape(shape)


def test_plugin_installs_and_registers(session, daemon):
    results, _ = session
    assert {"mam_select_subject", "mam_matte_to_mask", "mam_extract_subject"} <= set(results["select_menu"])
    assert results["docker_id"] in results["dockers"]
    with WireClient(daemon.endpoint) as client:
        version = client.hello().header["server_version"]
    assert results["docker_status"] == [f"Daemon: connected: tiny on cpu, server {version} — RANDOM WEIGHTS "
                                        "(test mode): mattes are meaningless"]
    assert (results["guidance_saved"], results["guidance_restored"]) == ("mask", "alpha")
    assert results["guidance_items"] == ["M2M alpha", "SAM mask"], "guidance names what guides the fusion"


def test_refine_edges_from_the_docker_reaches_the_daemon(session, daemon, photo):
    """"Refine edges (classic)", ticked in the docker (offered: this daemon lists refine:classic), makes Select
    Subject send options.refine="classic": the selection is byte for byte the daemon's classic-refined alpha."""
    results, out = session
    case = results["refine_edges"]
    assert case["checkbox"] == [True, "Refine edges (classic)"]
    assert case["refine_selection_label"] == "Refine the selection"
    assert case["saved"] == ["true", "mask"] and case["saved_after"] == ["false", "alpha"]
    assert case["outcome"][0] == "applied", case["outcome"]
    assert "not available" not in case["outcome"][1]
    info = case["canvas"]
    pixels = (out / info["file"]).read_bytes()
    assert (info["width"], info["height"]) == photo["small"].size
    spec = {"width": info["width"], "height": info["height"], "format": info["fmt"], "stride": info["stride"],
            "digest": hashlib.blake2b(pixels, digest_size=16).hexdigest()}
    alphas = refined_and_plain_alphas(daemon.endpoint, pixels, spec, photo["small_box"])
    assert np.array_equal(_dump(out, case["selection_file"], alphas["classic"].shape), alphas["classic"])


@pytest.mark.parametrize("depth,fmt,dtype,order,scale", [
    ("U8", "BGRA8", np.uint8, [2, 1, 0, 3], 1),
    ("U16", "BGRA16", np.dtype("<u2"), [2, 1, 0, 3], 257),
    ("F16", "RGBAF16", np.dtype("<f2"), [0, 1, 2, 3], 1 / 255),
    ("F32", "RGBAF32", np.dtype("<f4"), [0, 1, 2, 3], 1 / 255),
])
def test_canvas_is_sent_as_krita_holds_it(session, photo, depth, fmt, dtype, order, scale):
    """The bytes sent are the photo in Krita's own channel order and depth (converted in Krita, same profile)."""
    results, out = session
    case = results["cases"][depth]
    assert case.get("converted", True) and case["depth"] == depth
    info, pixels = _canvas(results, out, depth)
    assert info["fmt"] == fmt
    rgba = photo["rgba"]
    sent = np.frombuffer(pixels, dtype).reshape(rgba.shape).astype(np.float64) / scale
    assert np.abs(sent - rgba[..., order]).max() <= (0 if depth == "U8" else 1)


@pytest.mark.parametrize("depth", DEPTHS)
def test_transparency_mask_equals_the_daemons_alpha(session, daemon, photo, depth):
    results, out = session
    case = results["cases"][depth]
    assert case["mask_outcome"][0] == "applied", case["mask_outcome"]
    assert case["mask_outcome"][2], "no progress reached the controller"
    info, pixels = _canvas(results, out, depth)
    expected = _direct_alpha(daemon.endpoint, info, pixels, photo["box"])
    assert np.array_equal(_dump(out, case["mask_file"], expected.shape), expected)
    if depth == "U8":   # the photo is opaque, so the canvas alpha is now exactly the matte
        assert np.array_equal(_dump(out, case["projection_alpha_file"], expected.shape), expected)
    assert case["layer_unchanged_by_mask"], "the plugin changed the layer's own pixels"


@pytest.mark.parametrize("depth", DEPTHS)
def test_one_undo_removes_the_mask(session, depth):
    case = session[0]["cases"][depth]
    assert case["children_after_mask"] == [[MASK_NAME, "transparencymask"]]
    assert case["children_after_undo"] == [], "one undo did not remove the transparency mask"
    assert case["selection_kept_by_mask"], "one undo changed more than the plugin's step"


@pytest.mark.parametrize("depth", DEPTHS)
def test_selection_equals_the_daemons_alpha(session, daemon, photo, depth):
    results, out = session
    case = results["cases"][depth]
    assert case["selection_outcome"][0] == "applied", case["selection_outcome"]
    info, pixels = _canvas(results, out, depth)
    expected = _direct_alpha(daemon.endpoint, info, pixels, photo["box"])
    assert np.array_equal(_dump(out, case["selection_file"], expected.shape), expected)
    assert case["layer_unchanged_by_selection"]


@pytest.mark.parametrize("depth", DEPTHS)
def test_one_undo_restores_the_previous_selection(session, depth):
    """Select Subject goes through Krita's own Select Opaque (issue 11; Document.setSelection records no undo step in
    Krita 5.2): one undo brings the previous selection back, in 5.2 and 5.3 alike."""
    case = session[0]["cases"][depth]
    assert case["selection_restored_by_undo"], "one undo did not bring the previous selection back"
    assert "can't be undone" not in case["selection_outcome"][1], case["selection_outcome"]
    assert case["undo_text_after_selection"] == "Undo Select Opaque"


def test_classic_daemon_is_named_in_the_docker_and_extracts_the_subject(session, classic_daemon, photo):
    """With no weights at all the plugin works end to end, and the docker says which mode answers."""
    results, out = session
    classic = results["classic"]
    with WireClient(classic_daemon.endpoint) as client:
        mode = client.hello().header["model"]["mode"]
    (status,) = classic["docker_status"]
    assert status.startswith("Daemon: connected: CLASSIC MODE (no model weights)") and mode in status, status
    assert classic["subject_outcome"][0] == "applied", classic["subject_outcome"]
    assert "score" not in classic["subject_outcome"][1], "classic mode has no score (GrabCut has no confidence)"
    info, pixels = _canvas(results, out, "U8")
    expected = _direct_subject(classic_daemon.endpoint, info, pixels, photo["box"])
    got = _subject_as_rgba8((out / classic["subject_file"]).read_bytes(), "U8", expected.shape[:2])
    assert np.array_equal(got, expected)


def _direct_subject(endpoint: str, info: dict, pixels: bytes, box: list[int]) -> np.ndarray:
    """The daemon's cropped alpha + foreground for the canvas Krita read, placed as a full-image RGBA8 layer
    (transparent black outside the window), asked from the host."""
    spec = {"width": info["width"], "height": info["height"], "format": info["fmt"], "stride": info["stride"],
            "digest": hashlib.blake2b(pixels, digest_size=16).hexdigest()}
    with WireClient(endpoint) as client:
        client.matte("subject", pixels=pixels, spec=spec, prompt={"box": box},
                     options={"guidance": "alpha", "depth": 8, "crop": True, "foreground": True})
        reply = client.wait_for("subject")
    assert reply.type == "result" and reply.header["frames"] == ["alpha", "foreground"], reply.header
    alpha = alpha_array(reply)
    h, w = alpha.shape
    x, y = reply.header["x"], reply.header["y"]
    colours = np.frombuffer(reply.frames[1], np.uint8).reshape(h, w, 3)
    assert alpha.max() > 0 and colours.min() < colours.max(), "an empty subject would prove little"
    layer = np.zeros((info["height"], info["width"], 4), np.uint8)
    layer[y:y + h, x:x + w] = np.dstack([colours, alpha])
    return layer


def _subject_as_rgba8(data: bytes, depth: str, shape: tuple[int, int]) -> np.ndarray:
    """A dumped subject layer in 8-bit RGBA: Krita's integer layers are BGRA, float layers RGBA in [0, 1]."""
    dtype, order, scale = {"U8": (np.uint8, [2, 1, 0, 3], 1), "U16": ("<u2", [2, 1, 0, 3], 1 / 257),
                           "F16": ("<f2", [0, 1, 2, 3], 255), "F32": ("<f4", [0, 1, 2, 3], 255)}[depth]
    values = np.frombuffer(data, dtype).reshape(*shape, 4)[..., order].astype(np.float64) * scale
    assert np.abs(values - np.round(values)).max() < 0.25, "the layer holds values between 8-bit steps"
    return np.round(values).astype(np.uint8)


@pytest.mark.parametrize("depth", DEPTHS)
def test_extract_subject_layer_holds_the_daemons_foreground_and_alpha(session, daemon, photo, depth):
    results, out = session
    case = results["cases"][depth]
    assert case["subject_outcome"][0] == "applied", case["subject_outcome"]
    assert case["top_after_subject"] == case["top_before_subject"] + [[SUBJECT_NAME, "paintlayer"]], \
        "the subject layer is not the one new layer right above the active (top) layer"
    assert case["subject_space"] == ["RGBA", depth]
    info, pixels = _canvas(results, out, depth)
    expected = _direct_subject(daemon.endpoint, info, pixels, photo["box"])
    got = _subject_as_rgba8((out / case["subject_file"]).read_bytes(), depth, expected.shape[:2])
    assert np.array_equal(got, expected)
    assert case["layer_unchanged_by_subject"], "the plugin changed the original layer's pixels"


@pytest.mark.parametrize("depth", DEPTHS)
def test_one_undo_removes_the_subject_layer(session, depth):
    case = session[0]["cases"][depth]
    assert SUBJECT_NAME in [name for name, _ in case["top_after_subject"]]
    assert case["top_after_subject_undo"] == case["top_before_subject"], "one undo did not remove the subject layer"
    assert case["depth_after_subject_undo"] == depth, "one undo took back more than the plugin's step"


def test_refine_sends_the_selection_as_the_mask(session, daemon, photo):
    results, out = session
    edge = results["edge"]
    assert edge["refine"][0] and edge["refine"][1][0] == "applied", edge["refine"]
    info, pixels = _canvas(results, out, "U8")
    width, height = info["width"], info["height"]
    x0, y0, x1, y1 = photo["box"]
    mask = np.zeros((height, width), np.uint8)
    mask[y0:y1, x0:x1] = 255
    spec = {"width": width, "height": height, "format": info["fmt"], "stride": info["stride"],
            "digest": hashlib.blake2b(pixels, digest_size=16).hexdigest()}
    with WireClient(daemon.endpoint) as client:
        client.send({"id": "refine", "type": "matte", "image": spec,
                     "prompt": {"box": photo["box"], "mask": {"width": width, "height": height}},
                     "options": {"guidance": "alpha", "depth": 8, "crop": False}, "frames": ["pixels", "mask"]},
                    pixels, mask.tobytes())
        reply = client.wait_for("refine")
    assert reply.type == "result", reply.header
    expected = alpha_array(reply)
    box_only = _dump(out, results["cases"]["U8"]["selection_file"], expected.shape)
    assert not np.array_equal(expected, box_only), "the mask changes nothing: this test could not tell"
    assert np.array_equal(_dump(out, edge["refine_file"], expected.shape), expected)


def test_nothing_to_matte_gives_a_message_and_changes_nothing(session):
    edge = session[0]["edge"]
    started, messages = edge["refused"]
    assert started is False and len(messages) == 1 and "Nothing to matte" in messages[0]
    assert edge["refused_left_no_selection"]


def test_points_come_from_the_mam_points_layer(session):
    """Shapes live in points (1/72 in) at 300 dpi; the prompt must come out in pixels."""
    edge = session[0]["edge"]
    assert edge["points_box"] is None
    (fx, fy, fl), (bx, by, bl) = edge["points"]
    assert (fl, bl) == (1, 0)
    assert abs(fx - 30) < 0.51 and abs(fy - 20) < 0.51 and abs(bx - 90) < 0.51 and abs(by - 60) < 0.51


def test_daemon_down_gives_the_start_command(session):
    (started, (outcome, text)), messages = session[0]["edge"]["down"]
    assert started and outcome == "failed"
    assert len(messages) == 1 and text == messages[0]
    assert "not running" in text and "mam-server --endpoint tcp://127.0.0.1:" in text and "Start server" in text


def test_cancel_applies_nothing(session):
    edge = session[0]["edge"]
    (started, (outcome, _)), messages = edge["cancel"]
    assert started and outcome == "cancelled" and messages == []
    assert edge["cancel_left_selection"]


def test_closing_the_image_mid_request_discards_the_result(session):
    edge = session[0]["edge"]
    started, (outcome, text) = edge["closed"]
    assert started and outcome == "discarded", text


# --- text prompts (issue 12) ----------------------------------------------------------------------------------------

def _direct_text(endpoint: str, info: dict, pixels: bytes, box: list[int] | None, instances: str,
                 foreground: bool = False):
    """The text daemon's full-frame answer to the docker's text prompt for the canvas Krita read: (header, union
    alpha, instance alphas) for instances "all", the one instance being the union for "best"."""
    spec = {"width": info["width"], "height": info["height"], "format": info["fmt"], "stride": info["stride"],
            "digest": hashlib.blake2b(pixels, digest_size=16).hexdigest()}
    prompt: dict = {"text": PHRASE, **({"box": box} if box else {})}
    with WireClient(endpoint) as client:
        client.matte("text", pixels=pixels, spec=spec, prompt=prompt,
                     options={"guidance": "alpha", "depth": 8, "crop": False, "instances": instances,
                              **({"foreground": True} if foreground else {})})
        reply = client.wait_for("text")
    assert reply.type == "result", reply.header
    shape = (info["height"], info["width"])
    union = alpha_array(reply)
    frames = reply.frames[1:1 + len(reply.header["instances"])] if instances == "all" else [reply.frames[0]]
    return reply.header, union, [np.frombuffer(f, np.uint8).reshape(shape) for f in frames]


def _difference(name: str, got: np.ndarray, expected: np.ndarray) -> str:
    """Where two alphas differ, for a failure message."""
    ys, xs = np.nonzero(got != expected)
    return (f"{name}: {len(ys)} pixels differ, in x {xs.min()}..{xs.max()}, y {ys.min()}..{ys.max()}; got sum "
            f"{int(got.sum())} nonzero {int((got > 0).sum())}, expected sum {int(expected.sum())} nonzero "
            f"{int((expected > 0).sum())}")


def _text_canvas(results: dict, out: Path) -> tuple[dict, bytes]:
    info = results["text"]["canvas"]
    return info, (out / info["file"]).read_bytes()


def test_text_field_is_disabled_without_the_daemons_text_feature(session, daemon):
    """The main test daemon has no detector weights: the field is off, its tooltip names the command."""
    with WireClient(daemon.endpoint) as client:
        assert "text" not in client.hello().header.get("features", [])
    enabled, tooltip = session[0]["text"]["without_feature"]
    assert not enabled and "mam-weights download grounding-dino-tiny" in tooltip, tooltip
    assert session[0]["text"]["with_feature"][0] is True


def test_enter_in_the_text_field_selects_the_best_instance(session, text_daemon):
    results, out = session
    text = results["text"]
    outcome, line, messages = text["enter_best"]
    assert outcome == "applied" and messages == [], (line, messages)
    info, pixels = _text_canvas(results, out)
    header, union, (best,) = _direct_text(text_daemon.endpoint, info, pixels, None, "best")
    assert len(header["instances"]) == 1 and union.max() > union.min()
    assert np.array_equal(_dump(out, text["enter_best_file"], union.shape), union)
    assert text["all_saved_off"] == "false" and text["all_saved_on"] == "true"


def test_all_instances_masks_equal_the_daemons_and_one_undo_removes_them(session, text_daemon, photo):
    """Matte to Mask with "All instances" and the box selection narrowing: one group right above the layer, one
    clone of the layer per instance named "<label> <n> (Matting Anything)", each with its instance's mask byte for
    byte; one undo removes the whole group and changes nothing else."""
    results, out = session
    text = results["text"]
    assert text["mask_all"][0] == "applied", text["mask_all"]
    info, pixels = _text_canvas(results, out)
    header, _union, alphas = _direct_text(text_daemon.endpoint, info, pixels, photo["box"], "all")
    assert len(alphas) >= 2, "fewer than two instances: 'all instances' would prove little"
    (group_name, clones), = text["mask_groups"]
    assert group_name == "the dog (Matting Anything)"
    assert text["top_after_mask"] == text["top_before"] + [[group_name, "grouplayer"]]
    labels = [e["label"] or "Matte" for e in header["instances"]]
    assert [c[0] for c in clones] == [f"{label} {i} (Matting Anything)" for i, label in enumerate(labels, 1)]
    assert len(clones) == len(alphas)
    for (name, kind, masks, files), expected in zip(clones, alphas):
        assert kind == "clonelayer" and masks == [name]
        got = _dump(out, files[0], expected.shape)
        assert np.array_equal(got, expected), _difference(name, got, expected)
    assert text["top_after_mask_undo"] == text["top_before"], "one undo did not remove the group of instances"
    assert text["layer_children_after_mask_undo"] == [] and text["selection_kept_by_mask_undo"]


def test_all_instances_extract_one_layer_each_in_one_undo_step(session, text_daemon, photo):
    results, out = session
    text = results["text"]
    assert text["extract_all"][0] == "applied", text["extract_all"]
    info, pixels = _text_canvas(results, out)
    header, _union, alphas = _direct_text(text_daemon.endpoint, info, pixels, photo["box"], "all", foreground=True)
    labels = [e["label"] or "Subject" for e in header["instances"]]
    assert [(g, n, k) for g, n, k, _ in text["extract_layers"]] == [
        ("the dog (Matting Anything)", f"{label} {i} (Matting Anything)", "paintlayer")
        for i, label in enumerate(labels, 1)]
    for (_, name, _, file), expected in zip(text["extract_layers"], alphas):
        bgra = np.frombuffer((out / file).read_bytes(), np.uint8).reshape(*expected.shape, 4)
        assert np.array_equal(bgra[..., 3], expected), name
    assert text["top_after_extract_undo"] == text["top_before"], "one undo did not remove the group of layers"


def test_all_instances_select_subject_selects_their_union(session, text_daemon, photo):
    results, out = session
    text = results["text"]
    assert text["select_all"][0] == "applied", text["select_all"]
    info, pixels = _text_canvas(results, out)
    header, union, alphas = _direct_text(text_daemon.endpoint, info, pixels, photo["box"], "all")
    assert np.array_equal(union, np.maximum.reduce(alphas))
    assert np.array_equal(_dump(out, text["select_all_file"], union.shape), union)


def test_nothing_found_is_a_line_in_the_docker_and_changes_nothing(session, text_daemon):
    results, out = session
    text = results["text"]
    info, pixels = _text_canvas(results, out)
    header, union, _ = _direct_text(text_daemon.endpoint, info, pixels, EMPTY_BOX, "all")
    assert header["instances"] == [] and union.max() == 0, "the corner box still finds something"
    outcome, line, messages = text["not_found"]
    assert outcome == "not_found" and messages == [], "a dialog was shown"
    assert line.startswith('Nothing matching "the dog" was found') and text["not_found_status"] == [line]
    assert text["not_found_unchanged"] == [True, True, True]


# --- issue 11: what Krita shows -------------------------------------------------------------------------------------

def test_the_menu_entries_name_the_plugin_alike(session):
    assert session[0]["select_menu_texts"] == {
        "mam_select_subject": "Select Subject (Matting Anything)",
        "mam_matte_to_mask": "Matte to Transparency Mask (Matting Anything)",
        "mam_extract_subject": "Extract Subject to New Layer (Matting Anything)",
        "mam_click_select": "Click to Select (Matting Anything)"}


def test_the_progress_bar_is_busy_while_encoding_and_full_when_done(session):
    """The docker's bar, read right after the docker handled each progress signal of Matte to Mask on the 8-bit
    photo (the first request on that canvas: it encodes): busy (range 0..0) while queued and encoding, the
    daemon's fraction in the later stages, the stage named in words, and full with "Done" at the end (not 0 %)."""
    bars = session[0]["progress_bars"]["mam_matte_to_mask"]
    first = bars[:bars.index(next(b for b in bars if b[0] == "finished")) + 1]
    stages = [b[0] for b in first]
    assert stages[0] == "queued" and "encode" in stages and stages[-1] == "finished", stages
    busy = [b for b in first if b[0] in ("queued", "start", "encode")]
    assert busy and all((low, high) == (0, 0) for _, low, high, _, _ in busy), busy
    assert [lines for stage, _, _, _, lines in first if stage == "encode"][0] == ["Matting… encoding the image"]
    determinate = [b for b in first if b[0] in ("decode", "m2m", "fusion")]
    assert determinate and all(high == 100 and 0 < value < 100 for _, _, high, value, _ in determinate), first
    assert first[-1][1:] == [0, 100, 100, "Done"], first[-1]


def test_select_subject_draws_marching_ants_along_the_subject_edge(session):
    """Screenshots (the whole virtual screen) without a selection and 2 s after Select Subject: over the image they
    differ, and nearly every differing pixel lies within 3 screen pixels of the selection's outline (the edge of its
    non-zero pixels) mapped through the view's image-to-widget transform. Before the fix no outline was drawn."""
    results, out = session
    ants = results["ants"]
    assert ants["outcome"][0] == "applied", ants["outcome"]
    before = np.asarray(Image.open(out / ants["before"]).convert("RGB")).astype(np.int16)
    after = np.asarray(Image.open(out / ants["after"]).convert("RGB")).astype(np.int16)
    x0, y0, cw, ch = ants["canvas_rect"]
    changed = np.abs(after - before).max(axis=2)[y0:y0 + ch, x0:x0 + cw] > 0
    height, width = results["text"]["canvas"]["height"], results["text"]["canvas"]["width"]
    selected = _dump(out, ants["selection_file"], (height, width)) > 0
    padded = np.pad(selected, 1)
    inside_neighbours = padded[:-2, 1:-1] & padded[2:, 1:-1] & padded[1:-1, :-2] & padded[1:-1, 2:]
    edge_y, edge_x = np.nonzero(selected & ~inside_neighbours)
    assert len(edge_x) > 100, "the selection has hardly any outline: this test could not tell"
    m11, m12, m21, m22, dx, dy = ants["image_to_widget"]
    near = np.zeros_like(changed)
    for ox, oy in ((0, 0), (1, 0), (0, 1), (1, 1)):   # each edge pixel's corners, in widget pixels
        sx = np.round((edge_x + ox) * m11 + (edge_y + oy) * m21 + dx).astype(int)
        sy = np.round((edge_x + ox) * m12 + (edge_y + oy) * m22 + dy).astype(int)
        ok = (sx >= 0) & (sx < cw) & (sy >= 0) & (sy < ch)
        near[sy[ok], sx[ok]] = True
    grown = near.copy()
    for _ in range(3):
        grown[1:] |= grown[:-1].copy()
        grown[:-1] |= grown[1:].copy()
        grown[:, 1:] |= grown[:, :-1].copy()
        grown[:, :-1] |= grown[:, 1:].copy()
    # Krita 5.3 also shows a floating selection toolbar on the canvas, below the image: only the image's area counts
    left, top = int(np.floor(dx)) - 3, int(np.floor(dy)) - 3
    right, bottom = int(np.ceil(width * m11 + dx)) + 4, int(np.ceil(height * m22 + dy)) + 4
    on_image = np.zeros_like(changed)
    on_image[max(0, top):max(0, bottom), max(0, left):max(0, right)] = True
    changed &= on_image
    assert changed.sum() > 200, f"only {changed.sum()} canvas pixels changed: no marching ants"
    along = (changed & grown).sum() / changed.sum()
    assert along > 0.9, f"{changed.sum()} pixels changed, only {along:.0%} of them along the outline"
    assert ants["undo_steps"] == "Undo Select Opaque" and ants["undo_restored_box"], ants
