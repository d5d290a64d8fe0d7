"""The text stage of every pipeline: phrase → boxes (the detector) → one segment → matte → refine run per box.

Each detection is matted by the pipeline's own `run` with the detection's box (and the user's points inside it) as
the prompt, so refinement, caching and progress behave exactly as for a drawn box; the image embedding is computed
once and reused by the other instances. `instances="best"` mattes the highest-scoring detection, `"all"` each one
(best first, at most `max_instances`), and the result's alpha is their union (the per-pixel maximum). Foreground
colours, when asked for, are estimated once, on that union. No detection is an empty matte with a note, never an
exception.
"""
from __future__ import annotations

import time
import weakref
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from mam_engine.detect import Detector, clip_box, load_detector, narrow, nms
from mam_engine.request import NMS_IOU, MatteRequest, Prompt
from mam_engine.weights.catalog import MissingWeightsError, detector_problem, find_detector

if TYPE_CHECKING:
    from mam_engine.pipelines.base import EngineSettings, MatteResult, Pipeline, ProgressCallback

# One detector per pipeline object, loaded on its first text request (a daemon without text users never pays it).
_DETECTORS: weakref.WeakKeyDictionary[Pipeline, Detector] = weakref.WeakKeyDictionary()
DETECT_SHARE = 0.1  # progress fraction the detector stage takes; the instances share the rest


def detector_folder(settings: EngineSettings) -> Path:
    """Where this engine's detector is; MissingWeightsError (naming `mam-weights download ...`) when it is not."""
    if settings.detector_checkpoint is None:
        return find_detector(settings.detector)
    folder = Path(settings.detector_checkpoint)
    problem = detector_problem(folder)
    if problem is not None:
        raise MissingWeightsError(f"--detector-checkpoint: {problem}")
    return folder


def text_available(settings: EngineSettings) -> bool:
    """Detector weights are present (a few stat calls: cheap enough for every hello and request)."""
    try:
        detector_folder(settings)
    except MissingWeightsError:
        return False
    return True


def detector_for(pipeline: Pipeline) -> Detector:
    detector = _DETECTORS.get(pipeline)
    if detector is None:
        detector = _DETECTORS[pipeline] = load_detector(detector_folder(pipeline.settings), pipeline.settings.device)
    return detector


def run_text(pipeline: Pipeline, image: np.ndarray, request: MatteRequest, report: ProgressCallback,
             key: str | None) -> MatteResult:
    from mam_engine.pipelines.base import Instance, MatteResult, foreground_stage

    query = request.text
    assert query is not None
    start = time.perf_counter()
    height, width = image.shape[:2]
    report("detect", 0.0)
    detector = detector_for(pipeline)
    t0 = time.perf_counter()
    found = detector.detect(image, key, query.text, query.box_threshold, query.text_threshold)
    timings = {"detect": time.perf_counter() - t0}
    notes = list(found.notes)
    picked, why = narrow(nms(found.detections, NMS_IOU), request.prompt)
    boxes = [(d, clip_box(d.box, width, height)) for d in picked]
    chosen = [(d, b) for d, b in boxes if b is not None]
    if query.instances == "best":
        chosen = chosen[:1]
    elif len(chosen) > query.max_instances:
        notes.append(f"{len(chosen)} instances found; the {query.max_instances} best were matted (max_instances)")
        chosen = chosen[:query.max_instances]
    if not chosen:
        notes.append(why or f"nothing matched {query.text!r} above box threshold {query.box_threshold:g} (the best "
                            f"candidate scored {found.best_score:.3f}): the matte is empty")
        return _empty(image, request, notes, timings, start, report)
    instances = []
    options = replace(request.options, foreground=False)  # estimated once below, on the union
    share = (1.0 - DETECT_SHARE - 0.05) / len(chosen)
    for i, (detection, box) in enumerate(chosen):
        points = tuple(p for p in request.prompt.points if box[0] <= p[0] <= box[2] and box[1] <= p[1] <= box[3])
        sub = MatteRequest(width, height, Prompt(box, points, None), options)
        lo = DETECT_SHARE + i * share
        one = pipeline.run(image, sub, _scaled(report, lo, share), key)
        for stage, seconds in one.timings.items():
            if stage != "total":
                timings[stage] = timings.get(stage, 0.0) + seconds
        notes += [f"instance {i} ({detection.label}): {n}" for n in one.notes]
        instances.append(Instance(one.alpha, one.mask, box, detection.score, detection.label, one.score))
    alpha = np.maximum.reduce([inst.alpha for inst in instances]) if len(instances) > 1 else instances[0].alpha
    mask = np.logical_or.reduce([inst.mask for inst in instances]) if len(instances) > 1 else instances[0].mask
    foreground = foreground_stage(image, alpha, report, timings) if request.options.foreground else None
    timings["total"] = time.perf_counter() - start
    report("done", 1.0)
    return MatteResult(alpha=alpha, mask=mask, score=instances[0].mask_score, timings=timings, notes=notes,
                       foreground=foreground, instances=instances)


def _scaled(report: ProgressCallback, lo: float, share: float) -> ProgressCallback:
    """An instance's progress mapped into its slice of the request's, so fractions never go back; its 'done' is
    not passed on (the request is done after the last instance)."""
    def scaled(stage: str, fraction: float) -> None:
        if stage != "done":
            report(stage, lo + share * fraction)
    return scaled


def _empty(image: np.ndarray, request: MatteRequest, notes: list[str], timings: dict[str, float], start: float,
           report: ProgressCallback) -> MatteResult:
    from mam_engine.pipelines.base import MatteResult

    height, width = image.shape[:2]
    foreground = np.zeros((height, width, 3), np.uint8) if request.options.foreground else None
    timings["total"] = time.perf_counter() - start
    report("done", 1.0)
    return MatteResult(alpha=np.zeros((height, width), np.float32), mask=np.zeros((height, width), bool), score=0.0,
                       timings=timings, notes=notes, foreground=foreground)
