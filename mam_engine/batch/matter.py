"""One task → its output files and one summary row. The same class runs in-process (local) and as each actor of
the Ray Data pool (`map_batches` with a callable class: the engine loads once per actor), so both write the same
bytes.

Every failure of one file (unreadable image, missing mask, a prompt the engine's validator refuses, an engine
error) becomes an `error` row; nothing here stops the run. Outputs are written whole or not at all
(`write_png_atomic`); if the run is interrupted between an image's two outputs, the one already written is removed,
so an image has all its outputs or none.
"""
from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import numpy as np

from mam_engine.batch.jobs import row
from mam_engine.image_io import alpha_to_uint, read_mask, write_png_atomic
from mam_engine.pipelines import EngineSettings
from mam_engine.request import RequestError, check_request


def read_image(path: str) -> tuple[np.ndarray, np.ndarray | None]:
    """RGB pixels, and the alpha channel when the file has one (for --box-from-alpha)."""
    from PIL import Image

    try:
        with Image.open(path) as im:
            im.load()
            alpha = np.asarray(im.getchannel("A")) if "A" in im.getbands() else None
            return np.asarray(im.convert("RGB")), alpha
    except FileNotFoundError:
        raise
    except (OSError, SyntaxError, ValueError) as exc:  # Pillow raises SyntaxError for some broken headers
        raise ValueError(f"not an image this program can read ({exc})") from exc


def box_of(alpha: np.ndarray, what: str) -> list[float]:
    """The tight box of alpha >= 128 (the rough selection's opaque part)."""
    ys, xs = np.nonzero(alpha >= 128)
    if len(xs) == 0:
        raise ValueError(f"{what} has no pixel >= 128: nothing marks the subject")
    return [float(xs.min()), float(ys.min()), float(xs.max() + 1), float(ys.max() + 1)]


class BatchMatter:
    """Callable class for `Dataset.map_batches`: a batch of tasks (columns of strings) → a batch of summary rows."""

    def __init__(self, settings: dict[str, Any], backend: str, depth: int = 8, guidance: str = "alpha",
                 refine: str | None = None, refine_band: int | None = None, threads: int | None = 1) -> None:
        if threads:
            # CPU float reductions depend on the thread count: every engine of a job uses the same one, so a local
            # run and a Ray run give the same bytes.
            import cv2

            cv2.setNumThreads(threads)
            if backend != "classic":
                import torch

                torch.set_num_threads(threads)
        from mam_engine.engine import MattingEngine

        self.engine = MattingEngine.from_settings(EngineSettings(**settings), backend)
        self.depth, self.guidance, self.refine, self.refine_band = depth, guidance, refine, refine_band

    def __call__(self, batch: dict[str, Any]) -> dict[str, list]:
        rows = [self.process({k: str(batch[k][i]) for k in batch}) for i in range(len(batch["file"]))]
        return {k: [r[k] for r in rows] for k in rows[0]} if rows else {}

    def process(self, task: dict[str, str]) -> dict[str, Any]:
        start = time.perf_counter()
        rel = task["rel"]
        try:
            image, own_alpha = read_image(task["file"])
        except FileNotFoundError:
            return row(rel, "missing", error=f"{task['file']}: no such file")
        except ValueError as exc:
            return row(rel, "error", error=f"{task['file']}: {exc}")
        h, w = image.shape[:2]
        prompt = json.loads(task["prompt"])
        where = f"prompt line {prompt['line']}: " if "line" in prompt else ""
        try:
            box, points, mask = prompt.get("box"), prompt.get("points"), None
            if "mask" in prompt:
                mask = read_mask(prompt["mask"], (h, w))
            if "box_from_alpha" in prompt:
                if prompt["box_from_alpha"]:
                    from PIL import Image

                    with Image.open(prompt["box_from_alpha"]) as m:
                        box = box_of(np.asarray(m.convert("L")), prompt["box_from_alpha"])
                elif own_alpha is None:
                    raise ValueError("--box-from-alpha: the image has no alpha channel (give --alpha-dir)")
                else:
                    box = box_of(own_alpha, "the image's alpha channel")
            # The daemon's validator: the same refusals, the same messages.
            request = check_request(w, h, box=box, points=points, mask=mask, guidance=self.guidance,
                                    refine=self.refine, refine_band=self.refine_band,
                                    foreground="out_rgba" in task,
                                    always_refines=self.engine.pipeline.always_refines)
        except RequestError as exc:
            return row(rel, "error", width=w, height=h, error=f"{where}{exc.code}: {exc}")
        except (OSError, ValueError) as exc:
            return row(rel, "error", width=w, height=h, error=f"{where}{exc}")
        try:
            result = self.engine.run(image, request)
            arrays = {"alpha": alpha_to_uint(result.alpha, self.depth)}
            if "out_rgba" in task:
                if result.foreground is None:
                    raise RuntimeError("the engine returned no foreground")
                arrays["rgba"] = np.dstack((result.foreground, alpha_to_uint(result.alpha, 8)))
        except Exception as exc:  # an engine failure on one file must not stop the others
            return row(rel, "error", width=w, height=h, error=f"{type(exc).__name__}: {exc}")
        try:
            self._write({kind: Path(task[f"out_{kind}"]) for kind in arrays if f"out_{kind}" in task}, arrays)
        except OSError as exc:  # a full disk or a read-only folder: this file failed, the run goes on
            return row(rel, "error", width=w, height=h, error=f"cannot write its outputs: {exc}")
        return row(rel, "ok", score=float(result.score), width=w, height=h, seconds=time.perf_counter() - start,
                   timings={str(k): float(v) for k, v in result.timings.items()})

    @staticmethod
    def _write(paths: dict[str, Path], arrays: dict[str, np.ndarray]) -> None:
        written: list[Path] = []
        try:
            for kind, path in paths.items():
                path.parent.mkdir(parents=True, exist_ok=True)
                write_png_atomic(path, arrays[kind])
                written.append(path)
        except BaseException:  # Ctrl-C (or a full disk) between two outputs: none of this image's stays
            for path in written:
                path.unlink(missing_ok=True)
            raise
