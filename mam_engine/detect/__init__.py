"""Text → boxes: the detector stage that runs in front of segment → matte (torch-free here; models load on use).

A detector turns (image, phrase, thresholds) into scored, labelled boxes. Which class loads a folder is decided by
the folder's `config.json` `model_type`, so another transformers zero-shot detector is one line in
`DETECTOR_CLASSES` and one module; the pipelines never name a detector.
"""
from __future__ import annotations

import importlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Protocol, Sequence

import numpy as np

if TYPE_CHECKING:
    from mam_engine.request import Prompt

Box = tuple[float, float, float, float]

# config.json model_type -> "module:Class". MM-Grounding-DINO and LLMDet share Grounding DINO's processor and
# post-processing in transformers, so the same class loads them.
DETECTOR_CLASSES = {
    "grounding-dino": "mam_engine.detect.grounding_dino:GroundingDinoDetector",
    "mm-grounding-dino": "mam_engine.detect.grounding_dino:GroundingDinoDetector",
}


@dataclass(frozen=True)
class Detection:
    box: Box  # x0, y0, x1, y1 in image pixels, exactly as the detector's post-processing gives it (may overhang)
    score: float
    label: str


@dataclass
class DetectOutput:
    detections: list[Detection]  # above the box threshold, in the detector's query order
    best_score: float  # the highest box score of any query, kept or not (tells a user how far off a threshold is)
    notes: list[str] = field(default_factory=list)


class Detector(Protocol):
    def detect(self, image: np.ndarray, key: str | None, phrase: str, box_threshold: float,
               text_threshold: float) -> DetectOutput: ...


def load_detector(folder: Path, device: str) -> Detector:
    """The detector stored in `folder` (a transformers model folder), on `device`."""
    try:
        model_type = json.loads((folder / "config.json").read_text()).get("model_type")
    except (OSError, ValueError) as exc:
        raise ValueError(f"{folder / 'config.json'} cannot be read as a detector config: {exc}") from None
    if model_type not in DETECTOR_CLASSES:
        raise ValueError(f"{folder} holds a {model_type!r} model; text prompts support {sorted(DETECTOR_CLASSES)}")
    module, _, cls = DETECTOR_CLASSES[model_type].partition(":")
    return getattr(importlib.import_module(module), cls)(folder, device)


def iou(a: Box, b: Box) -> float:
    inter = _area((max(a[0], b[0]), max(a[1], b[1]), min(a[2], b[2]), min(a[3], b[3])))
    union = _area(a) + _area(b) - inter
    return inter / union if union > 0 else 0.0


def _area(b: Box) -> float:
    return max(0.0, b[2] - b[0]) * max(0.0, b[3] - b[1])


def nms(detections: Sequence[Detection], threshold: float) -> list[Detection]:
    """Greedy non-maximum suppression as the reference applies it (torchvision.ops.nms semantics: a box is dropped
    when its IoU with a kept, higher-scoring box exceeds `threshold`). Best first; ties keep the query order."""
    order = sorted(range(len(detections)), key=lambda i: -detections[i].score)
    kept: list[Detection] = []
    for i in order:
        if all(iou(detections[i].box, k.box) <= threshold for k in kept):
            kept.append(detections[i])
    return kept


def clip_box(box: Box, width: int, height: int) -> Box | None:
    """The box cut to the image; None when nothing of it is inside."""
    x0, y0 = min(max(box[0], 0.0), width), min(max(box[1], 0.0), height)
    x1, y1 = min(max(box[2], 0.0), width), min(max(box[3], 0.0), height)
    return (x0, y0, x1, y1) if x1 > x0 and y1 > y0 else None


def _inside(point: tuple[float, float, int], box: Box) -> bool:
    return box[0] <= point[0] <= box[2] and box[1] <= point[1] <= box[3]


def narrow(detections: Sequence[Detection], prompt: Prompt) -> tuple[list[Detection], str | None]:
    """Detections a box and points leave: a box limits where (at least half of a detection's area lies inside it),
    foreground points pick which (a detection containing one); background points never pick, they only reach SAM.
    Returns the survivors in order and, when the prompt removed every detection, a sentence saying so."""
    kept = list(detections)
    if prompt.box is not None:
        user = prompt.box
        kept = [d for d in kept if _area(d.box) > 0 and
                _area((max(d.box[0], user[0]), max(d.box[1], user[1]), min(d.box[2], user[2]),
                       min(d.box[3], user[3]))) >= 0.5 * _area(d.box)]
        if detections and not kept:
            return [], f"{len(detections)} detection(s), but none lies mostly inside the box"
    foreground = [p for p in prompt.points if p[2] == 1]
    if foreground:
        before = len(kept)
        kept = [d for d in kept if any(_inside(p, d.box) for p in foreground)]
        if before and not kept:
            return [], f"{before} detection(s), but none contains a foreground point"
    return kept, None
