"""`mam-matte`: one image, one prompt, an alpha PNG (and optionally an RGBA cut-out) on disk."""
from __future__ import annotations

import argparse
import sys
from typing import Sequence

import numpy as np

from mam_engine.image_io import alpha_to_uint, read_mask, read_rgb, write_png_atomic
from mam_engine.pipelines import PIPELINES, EngineSettings, pipeline_class
from mam_engine.request import GUIDANCES, REFINE_METHODS, RequestError, check_request
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
                              m2m_checkpoint=args.m2m_checkpoint, random_weights_seed=args.random_weights)
    try:
        pipeline = pipeline_class(args.backend)
        pipeline.check_settings(settings)
        image = read_rgb(args.image)
        mask = read_mask(args.mask, image.shape[:2]) if args.mask else None
        # The daemon's validator, before torch is imported: a wrong box costs milliseconds, not a model load.
        request = check_request(image.shape[1], image.shape[0], box=args.box, points=args.point or None, mask=mask,
                                guidance=args.guidance, refine=args.refine, refine_band=args.refine_band,
                                foreground=bool(args.rgba), always_refines=pipeline.always_refines)
        from mam_engine.engine import MattingEngine

        engine = MattingEngine.from_settings(settings, args.backend)
        result = engine.run(image, request)
        write_png_atomic(args.output, alpha_to_uint(result.alpha, args.depth))
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
    print(f"{args.output}: {image.shape[1]}×{image.shape[0]}, score {result.score:.3f}, "
          f"{result.timings['total']:.2f} s on {engine.describe()['device']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
