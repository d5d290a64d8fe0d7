"""What the plugin shows about a request: menu entries, progress (stage, busy or a percentage), the "Done" line.

Pure Python (no Krita, no Qt), so the wording and the arithmetic are tested without an editor.
"""
from __future__ import annotations

from typing import Mapping, Optional, Sequence

SELECTION, MASK, SUBJECT_LAYER = "selection", "mask", "subject_layer"
SUFFIX = " (Matting Anything)"

# (action id, menu text, target): every entry names the plugin, as Krita's Select menu mixes it with its own
ACTIONS = (
    ("mam_select_subject", "Select Subject" + SUFFIX, SELECTION),
    ("mam_matte_to_mask", "Matte to Transparency Mask" + SUFFIX, MASK),
    ("mam_extract_subject", "Extract Subject to New Layer" + SUFFIX, SUBJECT_LAYER),
)

# Stages the daemon reports when they begin (docs/PROTOCOL.md 4.3); each of these is one long call with no finer
# fraction, so the bar is busy (indeterminate) through them rather than frozen at the fraction they started at.
BUSY_STAGES = frozenset({"upload", "queued", "start", "encode", "detect", "segment", "refine", "foreground"})
STAGE_TEXT = {
    "upload": "sending the image",
    "queued": "waiting in the daemon's queue",
    "start": "starting",
    "encode": "encoding the image",
    "detect": "finding the subject by name",
    "decode": "predicting the mask",
    "m2m": "matting the edges",
    "fusion": "combining mask and matte",
    "segment": "segmenting (classic)",
    "refine": "refining the edges",
    "foreground": "estimating the subject's colours",
    "done": "applying the result",
}

SELECT_UNDO_NOTE = ("Select Subject can't be undone in Krita 5.2; use Matte to Transparency Mask for an undoable "
                    "result.")


def progress_view(stage: str, fraction: float) -> tuple[bool, int, str]:
    """(busy, percent, text) for the docker's bar: busy = indeterminate, as no finer fraction will come until the
    stage ends; otherwise the daemon's fraction as a percentage. Unknown stages are shown by name."""
    percent = int(round(100 * max(0.0, min(1.0, fraction))))
    text = f"Matting… {STAGE_TEXT.get(stage, stage)}"
    if stage == "done":
        return False, 100, text
    return stage in BUSY_STAGES, percent, text


def total_seconds(timings: Mapping[str, float]) -> float:
    """The request's time: the daemon's `total` when it sends one (the other stages are parts of it, so they are
    not added to it), else the sum of the stages."""
    if "total" in timings:
        return float(timings["total"])
    return float(sum(timings.values()))


def done_text(score: Optional[float], timings: Mapping[str, float], made: str = "",
              notes: Sequence[str] = ()) -> str:
    """The docker's line after a matte was applied. `score` None: the backend has none (classic: GrabCut has no
    confidence), so none is shown."""
    parts = [f"score {score:.2f}"] if score is not None else []
    if timings:
        parts.append(f"{total_seconds(timings):.1f} s")
    detail = f" ({', '.join(parts)})" if parts else ""
    return f"Done{detail}.{made}" + "".join(f" {note}" for note in notes)


def result_score(score: float, hello) -> Optional[float]:
    """The score to show: None when the daemon answering is in classic mode (its score is a placeholder 0.0)."""
    model = hello.get("model") if isinstance(hello, dict) else None
    if isinstance(model, dict) and model.get("backend") == "classic":
        return None
    return score
