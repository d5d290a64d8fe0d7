"""`python benchmarks/engine_bench.py`: the reference MAM path against the fast path on one image, in one process.

Prints per-stage medians, the ratios the speed goals are stated in, peak memory and the largest alpha difference
between the paths. No weights here? Seeded random weights of the real architecture time the same; their masks are
arbitrary, so the subject-size figures use synthetic SAM masks of a stated coverage.
"""
from __future__ import annotations

import argparse
import os
import platform
import resource
import statistics
import time
from pathlib import Path
from typing import Sequence

import numpy as np
import torch
from PIL import Image

from mam_engine import MattingEngine
from mam_engine.image_io import read_rgb
from mam_engine.model.predictor import MaskPrediction
from mam_engine.request import check_request

DEFAULT_IMAGE = Path(__file__).resolve().parents[2] / "shared" / "data" / "sam-notebook-images" / "truck.jpg"


def _image(path: str | None, size: int, shape: tuple[int, int] | None = None) -> tuple[np.ndarray, str]:
    source = Path(path) if path else DEFAULT_IMAGE
    if source.is_file():
        img = Image.fromarray(read_rgb(source))
        scale = size / max(img.size)
        wh = shape or (round(img.width * scale), round(img.height * scale))
        img = img.resize(wh, Image.BILINEAR)
        return np.asarray(img), f"{source.name} resized to {img.width}×{img.height}"
    yy, xx = np.mgrid[0:size, 0:size]
    synthetic = np.dstack((xx * 255 // size, yy * 255 // size, (xx + yy) * 127 // size)).astype(np.uint8)
    return synthetic, f"synthetic gradient {size}×{size} ({source} not found)"


def _prompts(h: int, w: int, n: int) -> list[dict]:
    """Varied boxes and clicks around the middle, as an artist's successive tries."""
    out = []
    for i in range(n):
        f = 0.15 + 0.05 * (i % 4)
        box = (w * f, h * f, w * (1 - f), h * (1 - f))
        out.append({"box": box} if i % 2 == 0 else {"points": [(w * (0.4 + 0.03 * i), h * 0.5, 1)], "box": box})
    return out


def _median(values: Sequence[float]) -> float:
    return statistics.median(values) if values else float("nan")


def _stage_medians(timings: list[dict[str, float]]) -> dict[str, float]:
    keys = sorted({k for t in timings for k in t})
    return {k: _median([t[k] for t in timings if k in t]) for k in keys}


def _fmt(stages: dict[str, float]) -> str:
    return "  ".join(f"{k} {v * 1000:.0f} ms" for k, v in stages.items())


def _synthetic_window_time(engine: MattingEngine, image: np.ndarray, coverage: float, runs: int) -> float:
    """decode + M2M + fusion for a SAM mask covering `coverage` of the frame (a centred ellipse)."""
    h, w = image.shape[:2]
    yy, xx = np.mgrid[0:h, 0:w]
    r = np.sqrt(coverage / np.pi)
    post = ((yy / h - 0.5) ** 2 + (xx / w - 0.5) ** 2) < r * r
    predictor = engine.pipeline.predictor
    encoded = predictor.set_image(image)
    guide = torch.tensor(np.asarray(Image.fromarray(post.astype(np.uint8) * 255).resize(encoded.frame.resized[::-1])))
    grid = torch.zeros(1, 1, 1024, 1024)
    grid[0, 0, : guide.shape[0], : guide.shape[1]] = (guide > 127).float()
    grid = torch.nn.functional.interpolate(grid, size=(256, 256), mode="nearest").to(predictor.device)
    prediction = MaskPrediction(guide=grid, mask=post, score=1.0)
    prompt = check_request(w, h, box=(w * 0.3, h * 0.3, w * 0.7, h * 0.7)).prompt
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        predictor.predict_mask(encoded, prompt)
        predictor.matte(encoded, prediction, "alpha")
        times.append(time.perf_counter() - t0)
    return _median(times)


def _flop_floor(args: argparse.Namespace) -> int:
    """The encoder's arithmetic (torch's FLOP counter) divided by the best fp32 matrix-multiply rate torch reaches
    here: the time no implementation of the same maths can beat on this CPU, next to the measured encoder time."""
    from torch.utils.flop_counter import FlopCounterMode

    if args.threads:
        torch.set_num_threads(args.threads)
    engine = MattingEngine(model_type=args.model_type, device="cpu", random_weights_seed=0)
    predictor = engine.pipeline.predictor
    image, described = _image(args.image, 1024)
    x = torch.randn(1, 3, 1024, 1024)
    with torch.inference_mode(), FlopCounterMode(display=False) as counter:
        predictor.sam.image_encoder(x)
    flops = counter.get_total_flops()
    n = 2048
    a, b = torch.randn(n, n), torch.randn(n, n)
    rates = []
    for _ in range(5):
        t0 = time.perf_counter()
        a @ b
        rates.append(2 * n**3 / (time.perf_counter() - t0))
    rate = max(rates)
    encode = []
    for _ in range(max(args.runs, 1)):
        with torch.inference_mode():
            t0 = time.perf_counter()
            predictor.sam.image_encoder(x)
            encode.append(time.perf_counter() - t0)
    print(f"machine: {platform.machine()} {os.cpu_count()} cpus, torch {torch.__version__} "
          f"({torch.get_num_threads()} threads); model {args.model_type} encoder (fast attention)")
    print(f"encoder FLOPs: {flops / 1e9:.0f} GFLOP; fp32 sgemm {n}² best of 5: {rate / 1e9:.1f} GFLOP/s")
    print(f"FLOP floor: {flops / rate:.2f} s; measured encoder median {_median(encode):.2f} s "
          f"({_median(encode) / (flops / rate):.2f}x the floor)")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python benchmarks/engine_bench.py", description=__doc__.splitlines()[0])
    p.add_argument("--image", help=f"photo to use (default {DEFAULT_IMAGE.name} from ../shared/data)")
    p.add_argument("--size", type=int, default=1024, help="long side the photo is resized to (default 1024)")
    p.add_argument("--model-type", default="vit_b")
    p.add_argument("--sam-checkpoint")
    p.add_argument("--m2m-checkpoint")
    p.add_argument("--device", default="auto")
    p.add_argument("--runs", type=int, default=3, help="first-prompt runs per path (each re-encodes)")
    p.add_argument("--reprompts", type=int, default=6, help="re-prompts on the cached embedding")
    p.add_argument("--precision", default="fp32", choices=("fp32", "bf16", "fp16"),
                   help="precision of the fast path (the reference is always fp32); the alpha error is printed")
    p.add_argument("--threads", type=int, help="torch CPU threads (default: torch's choice)")
    p.add_argument("--skip-reference", action="store_true", help="time only the fast path")
    p.add_argument("--shape", help="exact WxH the photo is resized to (e.g. 4000x3000 for 12 MP), instead of --size")
    p.add_argument("--flop-floor", action="store_true",
                   help="count the image encoder's FLOPs and time it against this machine's fp32 sgemm speed")
    args = p.parse_args(argv)
    if args.flop_floor:
        return _flop_floor(args)
    if args.threads:
        torch.set_num_threads(args.threads)
    seed = None if (args.sam_checkpoint or args.m2m_checkpoint) else 0
    shape = tuple(int(v) for v in args.shape.lower().split("x")) if args.shape else None
    image, described = _image(args.image, args.size, shape)  # type: ignore[arg-type]
    h, w = image.shape[:2]

    def engine(path: str, cache: int, precision: str = "fp32") -> MattingEngine:
        return MattingEngine(args.sam_checkpoint, args.m2m_checkpoint, model_type=args.model_type, device=args.device,
                             random_weights_seed=seed, path=path, cache_bytes=cache, precision=precision)

    fast = engine("fast", 1 << 30, args.precision)
    print(f"machine: {platform.machine()} {platform.processor() or ''} {os.cpu_count()} cpus, "
          f"torch {torch.__version__} ({torch.get_num_threads()} threads), device {fast.pipeline.predictor.device}")
    print(f"fast path precision: {args.precision}")
    print(f"model: {args.model_type}, weights: {'checkpoints' if seed is None else 'seeded random (seed 0)'}")
    print(f"image: {described}")
    prompts = _prompts(h, w, max(args.runs, args.reprompts))

    first = []
    for prompt in prompts[: args.runs]:
        fast.pipeline.predictor.cache.clear()
        first.append(fast.matte(image, **prompt))
    re = [fast.matte(image, **prompt) for prompt in prompts[: args.reprompts]]
    first_t, re_t = _median([r.timings["total"] for r in first]), _median([r.timings["total"] for r in re])
    print(f"fast first prompt   median {first_t:.3f} s   ({_fmt(_stage_medians([r.timings for r in first]))})")
    print(f"fast re-prompt      median {re_t:.3f} s   ({_fmt(_stage_medians([r.timings for r in re]))})")
    print(f"ratio first / re-prompt: {first_t / re_t:.1f}x")
    for coverage in (0.1, 0.4, 1.0):
        t = _synthetic_window_time(fast, image, coverage, max(args.reprompts // 2, 2))
        print(f"fast re-prompt, SAM mask covering {coverage:.0%} of the frame: median {t:.3f} s (decode+M2M+fusion)")

    if not args.skip_reference:
        ref = engine("reference", 0)
        refs = [ref.matte(image, **prompt) for prompt in prompts[: args.runs]]
        ref_t = _median([r.timings["total"] for r in refs])
        print(f"reference per prompt median {ref_t:.3f} s   ({_fmt(_stage_medians([r.timings for r in refs]))})")
        print(f"speed-up first prompt (reference / fast first): {ref_t / first_t:.2f}x")
        print(f"speed-up re-prompt (reference / fast re-prompt): {ref_t / re_t:.1f}x")
        diffs = [float(np.abs(a.alpha - b.alpha).max()) for a, b in zip(refs, first)]
        print(f"max |alpha(reference) - alpha(fast)| over {len(diffs)} prompts: {max(diffs):.2e}")
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    on_cuda = fast.pipeline.predictor.device.type == "cuda"
    print(f"peak resident memory: {peak_mb:.0f} MiB" + (
        f", CUDA peak {torch.cuda.max_memory_allocated() / 2**20:.0f} MiB" if on_cuda else ""))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
