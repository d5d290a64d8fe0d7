"""`--backend auto`: which backend the daemon runs when the artist did not choose one, and why.

MAM when its weights are in the weights folder; otherwise the classic backend (no weights needed), said in
the log, in hello's `model.mode` and so in both plugins: a fallback is never silent. The installer and
`mam-doctor` ask the same question through `missing_mam_weights`, so all three agree on "weights present".
"""
from __future__ import annotations

from dataclasses import dataclass

from mam_engine.weights.catalog import (
    MODEL_TYPES,
    MissingWeightsError,
    WeightsError,
    find_checkpoint,
    get_entry,
    weights_dir,
)

AUTO = "auto"
FETCH_HINT = "mam-weights download vit_b"


@dataclass(frozen=True)
class BackendChoice:
    backend: str                 # the pipeline that runs: mam, sam or classic
    requested: str               # what the command line asked for (auto, mam, sam, classic)
    reason: str = ""             # why auto chose what it chose ("" when the backend was given explicitly)

    @property
    def fell_back(self) -> bool:
        return self.requested == AUTO and self.backend == "classic"


def missing_mam_weights(model_type: str = "vit_b") -> str | None:
    """None when the MAM backend would find its checkpoints for `model_type`; else why not (the weights
    module's own message: which file to put where, and the command that fetches it)."""
    if model_type not in MODEL_TYPES:
        return f"no checkpoints exist for model type {model_type!r}"
    try:
        m2m = find_checkpoint("m2m", model_type)
        if model_type == "vit_b" and get_entry(m2m.name).bundles_sam:
            return None
        find_checkpoint("sam", model_type)
    except (MissingWeightsError, WeightsError) as exc:
        return str(exc)
    return None


def choose_backend(requested: str, model_type: str, explicit_weights: bool) -> BackendChoice:
    """The backend to run. `explicit_weights`: checkpoint paths or --random-weights were given, which only
    the networked backends use, so auto means mam then (and a missing file is reported as such)."""
    if requested != AUTO:
        return BackendChoice(requested, requested)
    if explicit_weights:
        return BackendChoice("mam", AUTO, "checkpoints were given on the command line")
    problem = missing_mam_weights(model_type)
    if problem is None:
        return BackendChoice("mam", AUTO, f"MAM weights for {model_type} are in the weights folder")
    return BackendChoice("classic", AUTO, f"no MAM weights for {model_type} in {weights_dir()}; run `{FETCH_HINT}` "
                                          "and restart the daemon for the MAM model")
