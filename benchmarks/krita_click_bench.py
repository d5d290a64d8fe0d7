"""Benchmark: Click to select in real Krita 5.2.9 under Xvfb (the trixie editors root), per click.

A real daemon (tiny random model, CPU) on loopback; Krita's GUI runs tests/editors/krita_click_driver.py in its
"bench" mode: for a ~1-MP and a ~8-MP copy of a real photo it shows the docker (so `prepare` encodes the image),
enters Click to select with Ctrl+Shift+K and clicks (xdotool, real X events) a few times, each click waiting for
its preview. Per click it prints (medians over the clicks):
- daemon: the engine's own `timings["total"]` for the preview matte;
- client call: MamClient.matte as the plugin's thread saw it (hashing the canvas, transfer, daemon, decoding);
- editor: click event -> preview painted, minus the client call (event handling, thread hand-off, building the
  preview image, painting the overlay); hash: BLAKE2b of the canvas, which the client call includes;
- total: click event -> preview painted on the canvas.
The canvas is read once when the mode starts (or reused from the prepare): its time is printed apart.
Needs root (chroot) and the cached root (tests/editors/ensure_root.sh). Usage:
    .venv/bin/python benchmarks/krita_click_bench.py [--clicks 6] [--backend tiny|classic]
"""
from __future__ import annotations

import argparse
import hashlib
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "tests")]

from PIL import Image  # noqa: E402
from test_krita_click_e2e import run_click_driver  # noqa: E402

from support.daemon_harness import CLASSIC_BACKEND, TINY_RANDOM_MODEL, running_daemon  # noqa: E402
from support.editor_chroot import editors_root_or_skip, ground_truth_photo  # noqa: E402

SIZES = {"1MP": (1280, 795), "8MP": (3600, 2236)}


def _median(values):
    return statistics.median(values) if values else float("nan")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--clicks", type=int, default=5)
    parser.add_argument("--backend", choices=("tiny", "classic"), default="tiny")
    parser.add_argument("--sizes", nargs="+", default=list(SIZES), choices=list(SIZES))
    args = parser.parse_args()
    root = editors_root_or_skip("Krita", "trixie")
    source, _gt, (x0, y0, x1, y1) = ground_truth_photo("GT01")
    photo = Image.open(source).convert("RGB")
    with tempfile.TemporaryDirectory() as tmp:
        files, cases = {}, []
        for name in args.sizes:
            w, h = SIZES[name]
            path = Path(tmp) / f"click_{name}.png"
            photo.resize((w, h), Image.Resampling.BICUBIC).save(path)
            files[path.name] = path
            sx, sy = w / photo.width, h / photo.height
            cx, cy = (x0 + x1) / 2 * sx, (y0 + y1) / 2 * sy
            spots = [(cx, cy), (cx, (y0 + (y1 - y0) / 4) * sy), (max(4, (x0 - 20) * sx), max(4, (y0 - 15) * sy)),
                     (cx - (x1 - x0) / 6 * sx, cy + (y1 - y0) / 5 * sy), (cx + (x1 - x0) / 6 * sx, cy),
                     (max(4, (x1 + 15) * sx) if (x1 + 15) * sx < w else w - 4, cy)]
            cases.append({"name": name, "photo": "{dir}/" + path.name,
                          "points": [list(spots[i % len(spots)]) for i in range(args.clicks)]})
        model = TINY_RANDOM_MODEL if args.backend == "tiny" else CLASSIC_BACKEND
        with running_daemon(model=model) as daemon:
            config = {"endpoint": daemon.endpoint, "timeout_s": 180, "bench": cases}
            started = time.monotonic()
            results, out, home = run_click_driver(root, config, files, timeout_s=1500)
            elapsed = time.monotonic() - started
        hash_s = {}
        for name in args.sizes:   # what the client's BLAKE2b of the canvas costs (it runs inside the client call)
            data = bytes(4 * SIZES[name][0] * SIZES[name][1])
            t = time.perf_counter()
            hashlib.blake2b(data, digest_size=16).hexdigest()
            hash_s[name] = time.perf_counter() - t
    print(f"Krita Click to select, real Krita 5.2.9 under Xvfb, daemon: {args.backend} on CPU, "
          f"{args.clicks} clicks per canvas (medians; first click after prepare included), session {elapsed:.0f} s")
    print(f"{'canvas':>8} {'pixels':>10} {'daemon':>8} {'client':>8} {'editor':>8} {'(paint)':>8} "
          f"{'hash':>7} {'total':>8} {'read once':>10} {'thumb':>7}  first-click encode?")
    for name in args.sizes:
        case = results["bench"][name]
        stats = case["stats"]
        w, h = case["size"]

        def ms(key: str, stats: list = stats) -> float:
            return 1000 * _median([s[key] for s in stats])
        first_encode = "encode" in stats[0]["timings"] if stats else None
        print(f"{name:>8} {w}x{h:<5} {ms('daemon_s'):7.0f}ms {ms('client_call_s'):7.0f}ms {ms('editor_s'):7.0f}ms "
              f"{ms('paint_s'):7.1f}ms {1000 * hash_s[name]:6.0f}ms {ms('total_s'):7.0f}ms "
              f"{1000 * case['canvas_read_s']:9.0f}ms {1000 * case['thumbnail_s']:6.0f}ms  "
              f"{'yes' if first_encode else 'no'}")
    print("thumb: one Document.thumbnail(24, 24), for reference: why the prepare scheduler does not poll it")
    print("editor-side overhead per click = editor + hash (goal < 150 ms at 8 MP)")
    for name in args.sizes:
        stats = results["bench"][name]["stats"]
        overhead = [s["editor_s"] + hash_s[name] for s in stats]
        print(f"  {name}: median {1000 * _median(overhead):.0f} ms, max {1000 * max(overhead):.0f} ms")


if __name__ == "__main__":
    main()
