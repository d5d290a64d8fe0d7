"""What the Krita plugin shows about a request (issue 11): menu entries named alike, the progress bar's state per
stage (busy while a long stage runs, a percentage otherwise, full when done), the "Done" line's time (the daemon's
total, not total + its parts) and no score in classic mode."""
import pytest

from plugins.krita.mam_krita.ui_text import (
    ACTIONS,
    BUSY_STAGES,
    SELECT_UNDO_NOTE,
    done_text,
    progress_view,
    result_score,
    total_seconds,
)


def test_the_three_menu_entries_all_name_the_plugin():
    assert [text for _, text, _ in ACTIONS] == ["Select Subject (Matting Anything)",
                                                "Matte to Transparency Mask (Matting Anything)",
                                                "Extract Subject to New Layer (Matting Anything)"]
    assert [a for a, _, _ in ACTIONS] == ["mam_select_subject", "mam_matte_to_mask", "mam_extract_subject"]


@pytest.mark.parametrize("stage,fraction,view", [
    ("queued", 0.0, (True, 0, "Matting… waiting in the daemon's queue")),
    ("encode", 0.0, (True, 0, "Matting… encoding the image")),
    ("detect", 0.0, (True, 0, "Matting… finding the subject by name")),
    ("decode", 0.6, (False, 60, "Matting… predicting the mask")),
    ("m2m", 0.7, (False, 70, "Matting… matting the edges")),
    ("fusion", 0.92, (False, 92, "Matting… combining mask and matte")),
    ("done", 1.0, (False, 100, "Matting… applying the result")),
    ("something_new", 0.5, (False, 50, "Matting… something_new")),
    ("m2m", 1.7, (False, 100, "Matting… matting the edges")),
    ("m2m", -1.0, (False, 0, "Matting… matting the edges")),
])
def test_progress_is_busy_through_long_stages_and_a_percentage_otherwise(stage, fraction, view):
    assert progress_view(stage, fraction) == view


def test_every_busy_stage_has_words():
    for stage in BUSY_STAGES:
        assert progress_view(stage, 0.0)[2] != f"Matting… {stage}"


def test_the_time_is_the_daemons_total_not_total_plus_its_parts():
    timings = {"encode": 2.0, "decode": 0.5, "m2m": 1.0, "fusion": 0.4, "total": 4.0}
    assert total_seconds(timings) == 4.0
    assert total_seconds({"encode": 2.0, "decode": 0.5}) == 2.5
    assert done_text(0.91, timings) == "Done (score 0.91, 4.0 s)."


def test_no_score_in_classic_mode():
    classic = {"model": {"backend": "classic", "device": "cpu"}}
    assert result_score(0.0, classic) is None
    assert result_score(0.87, {"model": {"backend": "mam"}}) == 0.87
    assert result_score(0.87, None) == 0.87
    line = done_text(None, {"segment": 1.0, "total": 1.2}, " New layer \"Subject (Matting Anything)\".", ["a note"])
    assert line == "Done (1.2 s). New layer \"Subject (Matting Anything)\". a note"
    assert "score" not in line
    assert done_text(None, {}) == "Done."


def test_the_select_undo_note_names_the_undoable_alternative():
    assert "Krita 5.2" in SELECT_UNDO_NOTE and "Matte to Transparency Mask" in SELECT_UNDO_NOTE
