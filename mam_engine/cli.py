"""`mam-matte`: one image, one prompt, an alpha PNG (and optionally an RGBA cut-out) on disk."""
from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Sequence

import numpy as np

from mam_engine.detect.stage import text_available
from mam_engine.image_io import alpha_to_uint, read_mask, read_rgb, write_png_atomic
from mam_engine.pipelines import PIPELINES, EngineSettings, MatteResult, pipeline_class
from mam_engine.request import GUIDANCES, INSTANCE_MODES, REFINE_METHODS, RequestError, check_request
from mam_engine.weights.catalog import MissingWeightsError


def _numbers(text: str, counts: tuple[int, ...], what: str) -> tuple[float, ...]:
    try:
        values = tuple(float(v) for v in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"{what} must be comma-separated numbers, got {text!r}") from None
    if len(values) not in counts:
        raise argparse.ArgumentTypeError(f"{what} needs {' or '.join(map(str, counts))} numbers, got {text!r}")
    return values


def _box(text: str) -> tuple[float, ...]:
    return _numbers(text, (4,), "--box x0,y0,x1,y1")


def _point(text: str) -> tuple[float, ...]:
    return _numbers(text, (2, 3), "--point x,y[,label]")


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="mam-matte", description="Matte a subject out of a photo with Matting Anything.")
    p.add_argument("image", help="input photo (any format Pillow reads)")
    p.add_argument("--box", type=_box, help="subject box in pixels: x0,y0,x1,y1")
    p.add_argument("--point", type=_point, action="append", default=[],
                   help="x,y[,label] (label 1 = foreground, default; 0 = background); repeat for more")
    p.add_argument("--text", help="find the subject by name, e.g. 'the dog' (needs `mam-weights download "
                                  "grounding-dino-tiny`); a --box limits where, --point picks which")
    p.add_argument("--box-threshold", type=float, help="with --text: keep boxes scoring above this (default 0.25)")
    p.add_argument("--text-threshold", type=float,
                   help="with --text: words scoring above this name a box's label (default 0.25)")
    p.add_argument("--instances", choices=INSTANCE_MODES,
                   help="with --text: 'best' (default) mattes the most confident detection; 'all' writes one file "
                        "per detection (alpha_0.png, ...) and their union to -o")
    p.add_argument("--detector-checkpoint", metavar="DIR",
                   help="a transformers Grounding DINO folder (default: grounding-dino-tiny in the weights folder)")
    p.add_argument("--mask", help="a rough selection to refine (grey PNG, >=128 inside), same size as the image")
    p.add_argument("--guidance", choices=GUIDANCES, default="alpha",
                   help="'alpha' (default, single subject) or 'mask' (stays close to SAM's mask; crowded scenes)")
    p.add_argument("-o", "--output", required=True, help="alpha matte PNG to write")
    p.add_argument("--depth", type=int, choices=(8, 16), default=8, help="bits per alpha sample (default 8)")
    p.add_argument("--rgba", help="also write an RGBA cut-out PNG (colours decontaminated in soft pixels)")
    p.add_argument("--backend", choices=list(PIPELINES), default="mam",
                   help="mam (default), sam (SAM's mask only) or classic (GrabCut, no weights needed)")
    p.add_argument("--refine", choices=REFINE_METHODS, help="re-solve the edge band at full resolution")
    p.add_argument("--refine-band", type=int, help="half-width in px of the re-solved band (default: from the image)")
    p.add_argument("--model-type", default="vit_b",
                   help="vit_b (default), vit_l, vit_h; tiny only with --random-weights")
    p.add_argument("--sam-checkpoint", help="SAM .pth (default: found in the weights folder, see mam-weights)")
    p.add_argument("--m2m-checkpoint", help="MAM .pth (default: found in the weights folder, see mam-weights)")
    p.add_argument("--device", default="auto", help="auto (default), cuda, mps or cpu")
    p.add_argument("--random-weights", type=int, metavar="SEED",
                   help="use seeded random weights instead of checkpoints (testing only: the matte is meaningless)")
    return p


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    settings = EngineSettings(model_type=args.model_type, device=args.device, sam_checkpoint=args.sam_checkpoint,
                              m2m_checkpoint=args.m2m_checkpoint, random_weights_seed=args.random_weights,
                              detector_checkpoint=args.detector_checkpoint)
    try:
        pipeline = pipeline_class(args.backend)
        pipeline.check_settings(settings)
        image = read_rgb(args.image)
        mask = read_mask(args.mask, image.shape[:2]) if args.mask else None
        # The daemon's validator, before torch is imported: a wrong box costs milliseconds, not a model load.
        request = check_request(image.shape[1], image.shape[0], box=args.box, points=args.point or None, mask=mask,
                                guidance=args.guidance, refine=args.refine, refine_band=args.refine_band,
                                foreground=bool(args.rgba), always_refines=pipeline.always_refines, text=args.text,
                                box_threshold=args.box_threshold, text_threshold=args.text_threshold,
                                instances=args.instances,
                                text_available=args.text is None or text_available(settings))
        from mam_engine.engine import MattingEngine

        engine = MattingEngine.from_settings(settings, args.backend)
        result = engine.run(image, request)
        write_png_atomic(args.output, alpha_to_uint(result.alpha, args.depth))
        written = [] if request.text is None else _write_instances(args.output, result, args.depth,
                                                                    request.text.instances)
        if result.foreground is not None:  # asked for with --rgba
            write_png_atomic(args.rgba, np.dstack((result.foreground, alpha_to_uint(result.alpha, 8))))
    except RequestError as exc:
        print(f"mam-matte: error: {exc}", file=sys.stderr)
        return 2
    except (OSError, ValueError, RuntimeError) as exc:
        print(f"mam-matte: error: {exc}", file=sys.stderr)
        if isinstance(exc, MissingWeightsError):
            print("mam-matte: no weights yet? --backend classic needs none (GrabCut + closed-form matting); "
                  "`mam-weights download vit_b` fetches the MAM model's", file=sys.stderr)
        return 1
    if request.text is not None:
        _print_instances(result, written, request.text.instances)
    for note in result.notes:
        print(f"note: {note}")
    print(f"{args.output}: {image.shape[1]}×{image.shape[0]}, score {result.score:.3f}, "
          f"{result.timings['total']:.2f} s on {engine.describe()['device']}")
    return 0


def instance_paths(output: str, count: int) -> list[str]:
    """alpha.png → alpha_0.png, alpha_1.png, ... next to it."""
    path = Path(output)
    return [str(path.with_name(f"{path.stem}_{i}{path.suffix or '.png'}")) for i in range(count)]


def _write_instances(output: str, result: MatteResult, depth: int, mode: str) -> list[str]:
    """With instances="all", one file per instance (-o holds their union); with "best" -o is the instance."""
    if mode != "all":
        return [output] * len(result.instances)
    paths = instance_paths(output, len(result.instances))
    for path, inst in zip(paths, result.instances):
        write_png_atomic(path, alpha_to_uint(inst.alpha, depth))
    return paths


def _print_instances(result: MatteResult, paths: list[str], mode: str) -> None:
    rows = [("#", "box (x0,y0,x1,y1)", "score", "label", "file")]
    for i, (inst, path) in enumerate(zip(result.instances, paths)):
        rows.append((str(i), ",".join(f"{v:.1f}" for v in inst.box), f"{inst.score:.3f}", inst.label, path))
    if len(rows) == 1:
        print("no instance found")
        return
    widths = [max(len(r[c]) for r in rows) for c in range(len(rows[0]))]
    for row in rows:
        print("  ".join(cell.ljust(w) for cell, w in zip(row, widths)).rstrip())


if __name__ == "__main__":
    sys.exit(main())
