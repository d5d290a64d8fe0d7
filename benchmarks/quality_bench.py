"""Quality benchmarks on real ground truth (a command that prints tables, not a test).

    python benchmarks/quality_bench.py refine      # refinement methods × coarse-mask variants, alphamatting-lowres
    python benchmarks/quality_bench.py grabcut     # classic backend IoU from GT boxes, coco-tiny
    python benchmarks/quality_bench.py foreground  # decontamination colour error, alphamatting-lowres
    python benchmarks/quality_bench.py large       # refinement time and peak memory on a 24-MP canvas
    python benchmarks/quality_bench.py crossval    # the guard's threshold chosen on one half, scored on the other
    python benchmarks/quality_bench.py firstcall   # first refinement in a fresh process: cold, cached, warmed up

Data default: ../shared/data next to the repository (see its README); --data overrides.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Callable

import cv2
import numpy as np

from mam_engine.classic import refine as refine_classic
from mam_engine.classic.foreground import estimate_foreground
from mam_engine.classic.grabcut import grabcut
from mam_engine.evaluation import coarse_masks, metrics

DEFAULT_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"
METRIC_NAMES = ("SAD", "MSE", "Grad", "Conn")


def _read_rgb(path: Path) -> np.ndarray:
    img = cv2.imread(str(path), cv2.IMREAD_COLOR)
    if img is None:
        raise SystemExit(f"cannot read image {path}")
    return cv2.cvtColor(img, cv2.COLOR_BGR2RGB)


def _alphamatting(data: Path, names: list[str] | None) -> list[tuple[str, np.ndarray, np.ndarray]]:
    root = data / "alphamatting-lowres"
    if not root.is_dir():
        raise SystemExit(f"alphamatting-lowres not found under {data} (see shared/data/README.md)")
    files = sorted((root / "gt").glob("GT*.png"))
    out = []
    for gt_path in files:
        if names and gt_path.stem not in names:
            continue
        gt = cv2.imread(str(gt_path), cv2.IMREAD_GRAYSCALE).astype(np.float32) / 255.0
        out.append((gt_path.stem, _read_rgb(root / "input" / gt_path.name), gt))
    return out


def _feather(image: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """The simplest soft edge: the mask blurred over a third of the default band (a baseline, not an option)."""
    sigma = refine_classic.default_band(mask.shape) / 3.0
    return np.clip(cv2.GaussianBlur(mask.astype(np.float32), (0, 0), sigma), 0.0, 1.0)


def _classic(solver: str, method: str = "twopass") -> Callable[[np.ndarray, np.ndarray], np.ndarray]:
    def run(image: np.ndarray, mask: np.ndarray) -> np.ndarray:
        r = refine_classic.refine(image, mask, solver=solver, method=method)
        for note in r.notes:
            print(f"    note: {note}", file=sys.stderr)
        return r.alpha

    return run


METHODS: dict[str, Callable[[np.ndarray, np.ndarray], np.ndarray]] = {
    "binary": lambda image, mask: mask.astype(np.float32),
    "feather": _feather,
    # classic-cf / -knn / -rw: the original two-pass implementation ("twopass"), kept for side-by-side figures.
    **{f"classic-{s}": _classic(s) for s in refine_classic.LAPLACIANS},
    "classic-fast": _classic("cf", "fast"),
    # issue 14: one colour guided filter of the mask inside the band (no linear system).
    "classic-guided": _classic("cf", "guided"),
    # issue 14: the locate pass at half resolution decides where the guided filter's input follows it.
    "classic-hybrid": _classic("cf", "hybrid"),
}


def bench_refine(args: argparse.Namespace) -> None:
    images = _alphamatting(args.data, args.images)
    methods = args.methods or ["binary", "feather", "classic-cf", "classic-fast"]
    for m in methods:
        if m not in METHODS:
            raise SystemExit(f"unknown method {m!r}; choose from {', '.join(METHODS)}")
    variants = args.variants or list(coarse_masks.VARIANTS)
    print(f"# refine: {len(images)} images, variants {', '.join(variants)}, methods {', '.join(methods)}")
    for variant in variants:
        scores = {m: {k: [] for k in METRIC_NAMES} for m in methods}
        seconds = {m: 0.0 for m in methods}
        pixels = 0
        for i, (name, image, gt) in enumerate(images):
            mask = coarse_masks.coarse_mask(gt, variant, seed=i)
            pixels += gt.size
            for m in methods:
                t0 = time.perf_counter()
                alpha = METHODS[m](image, mask)
                seconds[m] += time.perf_counter() - t0
                for k, v in metrics.all_metrics(alpha, gt).items():
                    scores[m][k].append(v)
            print(f"  {variant} {name}: " + ", ".join(f"{m} {scores[m]['SAD'][-1]:.2f}" for m in methods),
                  file=sys.stderr, flush=True)
        base = np.mean(scores["binary"]["SAD"]) if "binary" in scores else None
        print(f"\n## mask variant: {variant}\n")
        print("| method | SAD | MSE ×10³ | Grad | Conn | SAD vs binary | s/MP |")
        print("|---|---|---|---|---|---|---|")
        for m in methods:
            mean = {k: float(np.mean(v)) for k, v in scores[m].items()}
            rel = f"{(mean['SAD'] / base - 1) * 100:+.0f} %" if base else "–"
            print(f"| {m} | {mean['SAD']:.2f} | {mean['MSE']:.2f} | {mean['Grad']:.2f} | {mean['Conn']:.2f} | {rel} "
                  f"| {seconds[m] / pixels * 1e6:.2f} |", flush=True)


def _coco_instances(data: Path):
    root = data / "coco-tiny"
    ann_path = root / "instances_train2017_small.json"
    if not ann_path.is_file():
        raise SystemExit(f"coco-tiny not found under {data} (see shared/data/README.md)")
    ann = json.loads(ann_path.read_text())
    files = {im["id"]: (im["file_name"], im["height"], im["width"]) for im in ann["images"]}
    for a in ann["annotations"]:
        if a.get("iscrowd") or not isinstance(a["segmentation"], list):
            continue
        file_name, h, w = files[a["image_id"]]
        gt = np.zeros((h, w), dtype=np.uint8)
        polys = [np.round(np.asarray(p, dtype=np.float64).reshape(-1, 2)).astype(np.int32) for p in a["segmentation"]]
        cv2.fillPoly(gt, polys, 1)
        x, y, bw, bh = a["bbox"]
        yield root / "train_2017_small" / file_name, (x, y, x + bw, y + bh), gt.astype(bool), a["area"]


def bench_grabcut(args: argparse.Namespace) -> None:
    rows: dict[str, list[float]] = {"grabcut": [], "grabcut+classic": []}
    large: dict[str, list[float]] = {"grabcut": [], "grabcut+classic": []}
    cache: dict[Path, np.ndarray] = {}
    seconds = {k: 0.0 for k in rows}
    for n, (path, box, gt, area) in enumerate(_coco_instances(args.data)):
        if args.limit and n >= args.limit:
            break
        image = cache.setdefault(path, _read_rgb(path))
        t0 = time.perf_counter()
        seg = grabcut(image, box=box)
        t1 = time.perf_counter()
        results = {"grabcut": seg.mask}
        if args.refine:
            results["grabcut+classic"] = refine_classic.refine(image, seg.mask).alpha > 0.5
            seconds["grabcut+classic"] += time.perf_counter() - t0
        seconds["grabcut"] += t1 - t0
        for k, m in results.items():
            rows[k].append(metrics.iou(m, gt))
            if area >= 96 * 96:
                large[k].append(metrics.iou(m, gt))
        print(f"  {path.name} box {tuple(round(c) for c in box)}: IoU {rows['grabcut'][-1]:.3f}", file=sys.stderr,
              flush=True)
    print("\n## classic backend on coco-tiny: mean IoU vs GT instance masks from GT boxes\n")
    print("| method | instances | mean IoU | large (area ≥ 96²) instances | mean IoU large | s/instance |")
    print("|---|---|---|---|---|---|")
    for k, v in rows.items():
        if v:
            print(f"| {k} | {len(v)} | {np.mean(v):.3f} | {len(large[k])} | {np.mean(large[k]):.3f} "
                  f"| {seconds[k] / len(v):.2f} |")


def _backgrounds(images: list[tuple[str, np.ndarray, np.ndarray]], index: int, shape: tuple[int, int]):
    """New backgrounds: two flat colours and another photo of the set (so the background is textured)."""
    h, w = shape
    yield "green", np.broadcast_to(np.array([0, 177, 64], np.float32), (h, w, 3))
    yield "white", np.full((h, w, 3), 255.0, np.float32)
    other = images[(index + 1) % len(images)][1]
    yield "photo", cv2.resize(other, (w, h), interpolation=cv2.INTER_AREA).astype(np.float32)


def bench_foreground(args: argparse.Namespace) -> None:
    """Composite the photo with its GT alpha over new backgrounds; the true foreground is then the photo itself."""
    images = _alphamatting(args.data, args.images)
    # (background, cut-out) -> per-image mean abs error inside 0 < α < 1, plain and α-weighted
    err: dict[tuple[str, str], list[float]] = {}
    err_w: dict[tuple[str, str], list[float]] = {}
    seconds, pixels = 0.0, 0
    for i, (name, image, gt) in enumerate(images):
        soft = (gt > 0) & (gt < 1)
        a3 = gt[..., None]
        truth = image.astype(np.float32)
        for bg_name, bg in _backgrounds(images, i, gt.shape):
            comp = np.clip(np.rint(a3 * truth + (1 - a3) * bg), 0, 255).astype(np.uint8)
            t0 = time.perf_counter()
            est = estimate_foreground(comp, gt)
            seconds += time.perf_counter() - t0
            pixels += gt.size
            for k, f in (("naive", comp), ("estimated", est)):
                diff = np.abs(f.astype(np.float32) - truth).mean(axis=2)
                err.setdefault((bg_name, k), []).append(float(diff[soft].mean()))
                err_w.setdefault((bg_name, k), []).append(float((diff * gt)[soft].mean()))
            print(f"  {name} on {bg_name}: naive {err[bg_name, 'naive'][-1]:.1f}, "
                  f"estimated {err[bg_name, 'estimated'][-1]:.1f}", file=sys.stderr, flush=True)
    print(f"\n## foreground colour error inside 0 < α < 1 ({len(images)} images × 3 new backgrounds)\n")
    print("| background | cut-out | mean abs error (0–255) | α-weighted (what a new composite shows) |")
    print("|---|---|---|---|")
    for bg_name in dict.fromkeys(b for b, _ in err):
        for k in ("naive", "estimated"):
            print(f"| {bg_name} | {k} | {np.mean(err[bg_name, k]):.2f} | {np.mean(err_w[bg_name, k]):.2f} |")
    for k in ("naive", "estimated"):
        all_e = [v for (b, kk), vs in err.items() if kk == k for v in vs]
        all_w = [v for (b, kk), vs in err_w.items() if kk == k for v in vs]
        print(f"| all | {k} | {np.mean(all_e):.2f} | {np.mean(all_w):.2f} |")
    print(f"\nestimation time: {seconds / pixels * 1e6:.2f} s/MP")


def bench_large(args: argparse.Namespace) -> None:
    """Time and peak memory of the classic refinement on a large canvas (a photo and its GT upscaled)."""
    import resource

    name, image, gt = _alphamatting(args.data, [args.image])[0]
    h, w = args.height, args.width
    big = cv2.resize(image, (w, h), interpolation=cv2.INTER_CUBIC)
    big_gt = np.clip(cv2.resize(gt, (w, h), interpolation=cv2.INTER_LINEAR), 0, 1)
    mask = coarse_masks.coarse_mask(big_gt, "grid")
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    t0 = time.perf_counter()
    r = refine_classic.refine(big, mask, method=args.method)
    seconds = time.perf_counter() - t0
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    mp = h * w / 1e6
    print(f"\n## classic refinement ({args.method}) on a {w}×{h} ({mp:.1f} MP) canvas ({name} upscaled)\n")
    print(f"band {r.band} px, {r.unknown_pixels / 1e6:.2f} M unknown pixels, "
          f"{seconds:.1f} s = {seconds / mp:.2f} s/MP, "
          f"peak RSS {peak:.0f} MiB (inputs already loaded: {before:.0f} MiB), "
          f"SAD binary {metrics.sad(mask, big_gt):.1f} → {metrics.sad(r.alpha, big_gt):.1f}, notes {r.notes}")


GUARD_CANDIDATES = (0.0, 0.25, 0.5, 1.0, 2.0, 4.0, 8.0)


def bench_crossval(args: argparse.Namespace) -> None:
    """Choose the guard's threshold on half of the photos, report per photo on the other half, both ways.

    The refinement is solved once per photo and variant without the guard; the guard is a blend towards the input,
    so every candidate threshold is scored on the same solves. Objective: the mean over photos and variants of
    SAD(refined) / SAD(binary), so each photo counts equally and a photo made worse is penalised as much as another
    is improved.
    """
    images = _alphamatting(args.data, args.images)
    variants = args.variants or list(coarse_masks.VARIANTS)
    # (image, variant) -> binary SAD and SAD per candidate threshold
    table: dict[tuple[str, str], tuple[float, list[float]]] = {}
    for i, (name, image, gt) in enumerate(images):
        for variant in variants:
            mask = coarse_masks.coarse_mask(gt, variant, seed=i)
            a = mask.astype(np.float32)
            r = refine_classic.refine(image, mask, method=args.method, guard=0.0)
            sep = refine_classic.colour_separation(image, a, r.band)
            sads = [metrics.sad(refine_classic.apply_guard(a, r.alpha, sep, t), gt) for t in GUARD_CANDIDATES]
            table[name, variant] = (metrics.sad(mask, gt), sads)
            print(f"  {name} {variant}: binary {table[name, variant][0]:.2f}, "
                  + ", ".join(f"t={t:g} {v:.2f}" for t, v in zip(GUARD_CANDIDATES, sads)), file=sys.stderr, flush=True)
    names = [n for n, _, _ in images]
    halves = (names[0::2], names[1::2])
    print(f"# crossval: method {args.method}, {len(images)} photos, variants {', '.join(variants)}, guard thresholds "
          f"{GUARD_CANDIDATES}")
    for fold, (tune, held) in enumerate((halves, halves[::-1]), 1):
        scores = [float(np.mean([table[n, v][1][k] / table[n, v][0] for n in tune for v in variants]))
                  for k in range(len(GUARD_CANDIDATES))]
        best = int(np.argmin(scores))
        print(f"\n## fold {fold}: tuned on {' '.join(tune)}; held out {' '.join(held)}\n")
        print("tuning objective (mean SAD ratio) per threshold: "
              + ", ".join(f"{t:g}: {s:.3f}" for t, s in zip(GUARD_CANDIDATES, scores))
              + f" -> chosen {GUARD_CANDIDATES[best]:g}\n")
        for variant in variants:
            print(f"### held out, {variant} (guard {GUARD_CANDIDATES[best]:g}; unguarded for comparison)\n")
            print("| photo | binary SAD | refined SAD | change | unguarded SAD | change |")
            print("|---|---|---|---|---|---|")
            rows = [(n, table[n, variant][0], table[n, variant][1][best], table[n, variant][1][0]) for n in held]
            means = ("mean", *(float(np.mean([r[k] for r in rows])) for k in (1, 2, 3)))
            for n, b, g, u in [*rows, means]:
                print(f"| {n} | {b:.2f} | {g:.2f} | {(g / b - 1) * 100:+.1f} % | {u:.2f} "
                      f"| {(u / b - 1) * 100:+.1f} % |")
            worst = max((r[2] / r[1] - 1) * 100 for r in rows)
            print(f"\nworst held-out photo (guarded): {worst:+.1f} %\n", flush=True)


_FIRSTCALL = """
import sys, time
t0 = time.perf_counter()
import numpy as np
from mam_engine.classic import refine as r
if sys.argv[1] == "warm":
    r.warm_up()
t1 = time.perf_counter()
yy, xx = np.mgrid[:400, :600]
mask = np.hypot(yy - 200, xx - 300) < 120
image = np.where(mask[..., None], 180, 60).astype(np.uint8).repeat(3, axis=2)
t2 = time.perf_counter()
r.refine(image, mask, method=sys.argv[2])
t3 = time.perf_counter()
r.refine(image, mask, method=sys.argv[2])
t4 = time.perf_counter()
print(f"{t1 - t0:.2f} {t3 - t2:.2f} {t4 - t3:.2f}")
"""


def bench_firstcall(args: argparse.Namespace) -> None:
    """Fresh processes: the first refinement with an empty numba cache, with the cache, and after warm_up()."""
    import os
    import subprocess
    import tempfile

    root = Path(__file__).resolve().parents[1]
    print("| numba cache | warm_up() at start | method | start-up incl. warm_up s | first refinement s | second s |")
    print("|---|---|---|---|---|---|")
    with tempfile.TemporaryDirectory() as cold_dir:
        cases = [("empty (fresh install)", "cold", cold_dir), ("filled", "cold", None), ("filled", "warm", None),
                 ("empty (fresh install)", "warm", None)]
        for cache_label, warm, cache_dir in cases:
            env = dict(os.environ)
            if cache_label.startswith("empty"):
                env["NUMBA_CACHE_DIR"] = cache_dir or tempfile.mkdtemp()
            for method in ("fast",):
                out = subprocess.run([sys.executable, "-c", _FIRSTCALL, warm, method], cwd=root, env=env,
                                     capture_output=True, text=True, check=True).stdout.split()
                print(f"| {cache_label} | {'yes' if warm == 'warm' else 'no'} | {method} | {out[0]} | {out[1]} "
                      f"| {out[2]} |", flush=True)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python benchmarks/quality_bench.py", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA, help="the shared data folder")
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("refine", help="refinement methods vs GT alpha on coarse masks")
    p.add_argument("--images", nargs="*", help="e.g. GT01 GT05 (default: all)")
    p.add_argument("--variants", nargs="*", choices=coarse_masks.VARIANTS)
    p.add_argument("--methods", nargs="*", help=f"from {', '.join(METHODS)}")
    p.set_defaults(fn=bench_refine)
    p = sub.add_parser("grabcut", help="classic backend IoU on coco-tiny")
    p.add_argument("--limit", type=int, default=0, help="first N instances only")
    p.add_argument("--refine", action="store_true", help="also score GrabCut + classic refinement (slower)")
    p.set_defaults(fn=bench_grabcut)
    p = sub.add_parser("foreground", help="decontamination colour error")
    p.add_argument("--images", nargs="*")
    p.set_defaults(fn=bench_foreground)
    p = sub.add_parser("large", help="refinement time and memory on a large canvas")
    p.add_argument("--image", default="GT04")
    p.add_argument("--width", type=int, default=6000)
    p.add_argument("--height", type=int, default=4000)
    p.add_argument("--method", default=refine_classic.DEFAULT_METHOD, choices=refine_classic.METHODS)
    p.set_defaults(fn=bench_large)
    p = sub.add_parser("crossval", help="the guard's threshold by two-fold cross-validation, per-photo results")
    p.add_argument("--images", nargs="*")
    p.add_argument("--variants", nargs="*", choices=coarse_masks.VARIANTS)
    p.add_argument("--method", default=refine_classic.DEFAULT_METHOD, choices=refine_classic.METHODS)
    p.set_defaults(fn=bench_crossval)
    p = sub.add_parser("firstcall", help="first refinement in fresh processes (JIT compile, cache, warm_up)")
    p.set_defaults(fn=bench_firstcall)
    args = parser.parse_args(argv)
    args.fn(args)


if __name__ == "__main__":
    main()
