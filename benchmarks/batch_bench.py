"""Benchmark: mam-batch throughput, local (one engine in-process) vs Ray Data with 1 and 2 actors.

Real photos from ../shared/data (alphamatting + COCO), shrunk to --side px, box prompts; each configuration runs
the installed `mam-batch` command from scratch into a fresh folder. Two figures per run: images/min over the whole
command (engine loads and Ray start included) and steady images/min (between the first and the last output file
written, from their modification times). Every engine uses 1 CPU thread (--threads 1), so 1 local engine,
1 actor and 2 actors compare like for like and write the same bytes.
"Local, 2 engines side by side" runs two plain mam-batch processes at once, each on half the prompts: the scaling
this machine gives two independent processes, the ceiling any scheduler can reach for 2 actors.
Usage: python benchmarks/batch_bench.py [--images 40] [--side 200] [--backends classic tiny]
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image
from ray_common import DATA, machine, ray_head


def make_photos(folder: Path, count: int, side: int) -> Path:
    sources = sorted((DATA / "alphamatting-lowres" / "input").glob("*.png"))
    sources += sorted((DATA / "coco-tiny").rglob("*.jpg"))
    lines = []
    for i in range(count):
        src = sources[i % len(sources)]
        im = Image.open(src).convert("RGB")
        scale = side / max(im.size)
        im = im.resize((round(im.width * scale), round(im.height * scale)), Image.BILINEAR)
        if i >= len(sources):  # a repeat: mirrored, so every file is a distinct image
            im = im.transpose(Image.FLIP_LEFT_RIGHT)
        rel = f"set{i % 3}/{i:03d}.png"
        (folder / rel).parent.mkdir(parents=True, exist_ok=True)
        im.save(folder / rel)
        w, h = im.size
        lines.append(json.dumps({"file": rel, "box": [w * 0.15, h * 0.1, w * 0.85, h * 0.95]}))
    (folder / "prompts.jsonl").write_text("\n".join(lines) + "\n")
    return folder


def run(photos: Path, out: Path, backend: list[str], ray: list[str], parts: int = 1) -> tuple[float, float, int]:
    """(whole-command images/min, steady images/min, images ok). Steady: between the first and the last output
    file written (their modification times, set by whichever engine wrote them), so neither engine loads nor the
    way Ray hands rows back to the driver count. parts > 1: that many local mam-batch processes side by side, each
    on its share of the prompts (no Ray at all: what the machine itself gives to independent processes)."""
    exe = str(Path(sys.executable).with_name("mam-batch"))
    lines = (photos / "prompts.jsonl").read_text().splitlines()
    cmds = []
    for k in range(parts):
        prompts = photos / "prompts.jsonl"
        if parts > 1:
            prompts = photos / f"prompts-part{k}.jsonl"
            prompts.write_text("\n".join(lines[k::parts]) + "\n")
        cmds.append([exe, *([str(photos)] if parts == 1 else []), "--prompts", str(prompts), "-o", str(out),
                     "--summary", str(out / f"summary{k}.csv"), "--no-progress", *backend, *ray])
    start = time.monotonic()
    procs = [subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True) for cmd in cmds]
    errors = [proc.communicate()[1] for proc in procs]
    wall = time.monotonic() - start
    for cmd, proc, err in zip(cmds, procs, errors):
        if proc.returncode != 0:
            raise RuntimeError(f"{' '.join(cmd)} failed:\n{err}")
    stamps = sorted(p.stat().st_mtime for p in out.rglob("*.png"))
    n = len(stamps)
    steady = (n - 1) / max(stamps[-1] - stamps[0], 1e-9) * 60
    return n / wall * 60, steady, n


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--images", type=int, default=40)
    p.add_argument("--side", type=int, default=200)
    p.add_argument("--backends", nargs="+", default=["classic", "tiny"])
    args = p.parse_args()
    backends = {"classic": ["--backend", "classic"],
                "tiny": ["--backend", "mam", "--model-type", "tiny", "--random-weights", "0", "--device", "cpu"]}
    print(f"# mam-batch throughput; {machine()}; {args.images} photos, long side {args.side} px")
    with tempfile.TemporaryDirectory() as tmp, ray_head(num_cpus=2) as address:
        photos = make_photos(Path(tmp) / "photos", args.images, args.side)
        print("| backend | run | images/min (whole command) | images/min (steady) | ok |")
        print("|---|---|---|---|---|")
        for name in args.backends:
            trees = {}
            for label, ray, parts in (("local, 1 engine", [], 1),
                                      ("local, 2 engines side by side (no Ray)", [], 2),
                                      ("Ray, 1 actor", ["--ray", address, "--actors", "1"], 1),
                                      ("Ray, 2 actors", ["--ray", address, "--actors", "2"], 1)):
                out = Path(tmp) / f"{name}-{len(trees)}"
                whole, steady, n = run(photos, out, backends[name], ray, parts)
                trees[label] = {q.relative_to(out).as_posix(): q.read_bytes() for q in out.rglob("*.png")}
                print(f"| {name} | {label} | {whole:.1f} | {steady:.1f} | {n} |", flush=True)
            same = all(t == trees["local, 1 engine"] for t in trees.values())
            print(f"| {name} | outputs identical across the four runs: {same} | | | |", flush=True)
    return 0


if __name__ == "__main__":
    np.seterr(all="ignore")
    sys.exit(main())
