"""Click to select end to end in real Krita 5.2.9 (trixie root) under Xvfb, driven by REAL input events.

The plugin zip is installed by Krita's own importer; a real daemon (tiny random model) runs on loopback;
tests/editors/krita_click_driver.py, a second plugin, opens a real photo in a zoomed and rotated view, shows the
docker (whose scheduler sends `prepare`), then presses Ctrl+Shift+K, clicks, Shift+clicks, presses Backspace, Esc,
Enter and Ctrl+Z with xdotool (XTEST events, as a mouse and keyboard would send them). This side checks what Krita
then holds against a direct request to the same daemon for the same points, made with the harness's pyzmq client.
"""
from __future__ import annotations

import hashlib
import shutil
from pathlib import Path

import numpy as np
import pytest

from support.daemon_harness import WireClient, alpha_array
from support.editor_chroot import editors_root_or_skip, ground_truth_photo
from support.krita_session import run_krita

ROOT = Path(__file__).resolve().parents[1]
DRIVER = ROOT / "tests" / "editors" / "krita_click_driver.py"
MASK_NAME = "Matte (Matting Anything)"
KRITA_TIMEOUT_S = 400

pytestmark = [pytest.mark.editors, pytest.mark.timeout(1200)]


def run_click_driver(root: Path, config: dict, files: dict[str, Path], timeout_s: int = KRITA_TIMEOUT_S) -> tuple:
    """One Krita GUI session with the click driver (support.krita_session.run_krita): (results, out folder,
    session folder to remove)."""
    return run_krita(root, DRIVER, "mam_krita_click", "MAM_KRITA_CLICK", config, files, timeout_s)


@pytest.fixture(scope="module")
def session(daemon):
    root = editors_root_or_skip("Krita", "trixie")
    source, _gt, box = ground_truth_photo("GT01")
    x0, y0, x1, y1 = box
    config = {"endpoint": daemon.endpoint, "photo": "{dir}/GT01.png", "timeout_s": 240,
              "zoom": 0.7, "rotation": 15.0,
              "fg": [(x0 + x1) / 2, (y0 + y1) / 2], "bg": [max(2, x0 - 20), max(2, y0 - 15)],
              "extra": [(x0 + x1) / 2, y0 + (y1 - y0) / 4]}
    results, out, home = run_click_driver(root, config, {"GT01.png": source})
    yield results, out, config
    shutil.rmtree(home, ignore_errors=True)


def _direct(endpoint: str, info: dict, pixels: bytes, points: list, box, preview=None) -> tuple:
    spec = {"width": info["width"], "height": info["height"], "format": info["fmt"], "stride": info["stride"],
            "digest": hashlib.blake2b(pixels, digest_size=16).hexdigest()}
    prompt: dict = {"points": [[x, y, int(label)] for x, y, label in points]}
    if box is not None:
        prompt["box"] = list(box)
    options = {"guidance": "alpha", "depth": 8, "crop": preview is not None}
    if preview is not None:
        options["preview"] = preview
    with WireClient(endpoint) as client:
        client.matte("direct", pixels=pixels, spec=spec, prompt=prompt, options=options)
        reply = client.wait_for("direct")
    assert reply.type == "result", reply.header
    return alpha_array(reply), reply.header


def test_clicks_land_where_the_pointer_was(session):
    """The view is zoomed to 70 % and rotated 15°: the points the plugin recorded from the real clicks are the
    image points the pointer was moved to (within the rounding of a screen pixel at this zoom)."""
    results, _, config = session
    assert results["view"]["rotation"] == pytest.approx(15.0) and abs(results["view"]["zoom"] - 0.7) < 0.01
    (fx, fy, fl), (bx, by, bl) = results["prompts"]
    assert (fl, bl) == (1, 0), "a click is foreground, a Shift+click background"
    assert abs(fx - config["fg"][0]) <= 1.5 and abs(fy - config["fg"][1]) <= 1.5
    assert abs(bx - config["bg"][0]) <= 1.5 and abs(by - config["bg"][1]) <= 1.5
    assert results["box"] is None


def test_backspace_removes_the_last_click_and_fills_nothing(session):
    results, _, config = session
    before = results["prompts_before_backspace"]
    assert len(before) == 3 and before[:2] == results["prompts"] and before[2][2] == 1
    assert abs(before[2][0] - config["extra"][0]) <= 1.5
    assert results["backspace_left_layer"], "Backspace reached Krita (fill with background colour)"


def test_preview_is_the_daemons_preview_for_the_same_points(session, daemon):
    results, out, _ = session
    info = results["canvas"]
    pixels = (out / info["file"]).read_bytes()
    expected, header = _direct(daemon.endpoint, info, pixels, results["prompts"], None, preview=1024)
    p = results["preview"]
    assert [p["x"], p["y"], p["width"], p["height"], p["scale"]] == [header["x"], header["y"], header["width"],
                                                                     header["height"], header["scale"]]
    got = np.frombuffer((out / results["preview_file"]).read_bytes(), np.uint8).reshape(expected.shape)
    assert np.array_equal(got, expected)


def test_enter_commits_the_daemons_full_alpha_as_a_mask(session, daemon):
    results, out, _ = session
    assert results["output"] == "mask"
    assert results["commit_outcome"][0] == "applied", results["commit_outcome"]
    assert results["active_after_commit"] is False
    info = results["canvas"]
    pixels = (out / info["file"]).read_bytes()
    expected, _ = _direct(daemon.endpoint, info, pixels, results["prompts"], None)
    assert expected.min() < expected.max(), "a constant alpha would prove little"
    got = np.frombuffer((out / results["mask_file"]).read_bytes(), np.uint8).reshape(expected.shape)
    assert np.array_equal(got, expected)
    assert results["after_commit"]["children"] == [[MASK_NAME, "transparencymask"]]
    assert results["after_commit"]["layer"] == results["before_commit"]["layer"]


def test_one_undo_removes_the_committed_mask(session):
    results = session[0]
    before, after, undone = results["before_commit"], results["after_commit"], results["after_undo"]
    assert len(after["history"]["rows"]) == len(before["history"]["rows"]) + 1, \
        "the commit is not exactly one step in Krita's Undo History"
    assert undone["children"] == [] and undone["projection"] == before["projection"]
    assert undone["layer"] == before["layer"]


def test_esc_leaves_no_trace(session):
    results = session[0]
    before, after = results["before_esc"], results["after_esc"]
    assert len(results["esc_prompts"]) == 2, "the clicks before Esc did not register"
    assert before["history"]["rows"], "Krita's Undo History docker could not be read"
    assert after == before
    assert results["overlay_gone"]


def test_first_click_after_prepare_skips_the_encoder(session):
    results = session[0]
    assert any(line.startswith("prepare ") for line in results["prepare_log"]), results["prepare_log"]
    first = results["first_preview"]
    assert "encode" not in first["timings"], first
    assert first["sent_pixels"] is False, "the first click uploaded the canvas again"
