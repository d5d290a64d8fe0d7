"""Click to Select in real GIMP 3 (issue 11): per click, the daemon's time, the editor's time and the total, on a
1-MP and an 8-MP canvas (a real photo, truck.jpg, upscaled), with the classic backend and the tiny random MAM model.

    .venv/bin/python benchmarks/gimp_click_bench.py [--clicks 6] [--sizes 1,8] [--suite trixie]

GIMP runs its GUI under Xvfb in the editors root (tests/support/editor_chroot.py; needs root), the plug-in installed
in a fresh profile, the daemons on the host (tests/support/daemon_harness.py). A script inside GIMP opens each canvas,
runs "Click to Select..." (interactive) and clicks on the truck with xdotool, one click at a time: the next click
only after the preview of the previous one is on screen. The dialog writes its steps to a trace
(MAM_CLICK_TRACE, gimp_click_dialog.py); the daemon's own time per request comes from its log (server_timings).

Per click:
  daemon  server_timings.total of the request (received -> reply sent: queue, convert, engine, alpha encoding)
  editor  total - daemon: the dialog (points drawn, worker hand-off, tint + composite + draw of the answer) and the
          client (digest of the canvas, request, reply decoding) and loopback
  total   the dialog's button-release handler -> the first draw of the view showing that click's matte
and the parts of `editor`: `client` = the client call minus the daemon, `dialog` = the rest. `input` (xdotool
started -> release handler) is shown apart: it is the test driver's cost, not the artist's. The layer is read and
scaled to the view once, when the dialog opens (not per click): those lines come first.
"""
from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

from PIL import Image  # noqa: E402

from support.daemon_harness import CLASSIC_BACKEND, TINY_RANDOM_MODEL, running_daemon  # noqa: E402
from support.editor_chroot import editors_root_or_skip, gimp_series, mounted_proc, virtual_display  # noqa: E402

PHOTO = ROOT.parent / "shared" / "data" / "sam-notebook-images" / "truck.jpg"   # 1800 x 1200
# Points on the truck in the photo's own pixels (the first is SAM's notebook point); each click adds one.
TRUCK_POINTS = [(500, 375), (1125, 625), (900, 500), (300, 600), (1400, 450), (700, 700), (1550, 650), (1000, 350),
                (1200, 420), (600, 520)]
VIEW_MAX = (960, 720)                  # gimp_clicks.VIEW_MAX: the dialog shows the layer scaled to fit, top-left
INSTALLER = ROOT / "plugins" / "gimp" / "install.py"
BACKENDS = {"classic": CLASSIC_BACKEND, "tiny": TINY_RANDOM_MODEL}
BACKEND_NAMES = {"classic": "classic backend (GrabCut, no weights)",
                 "tiny": "tiny random MAM (--model-type tiny --random-weights 0)"}

GIMP_SIDE = r'''
import json, os, statistics, subprocess, threading, time
import gi
gi.require_version("Gimp", "3.0")
gi.require_version("Gegl", "0.4")
from gi.repository import Gegl, Gimp, Gio

job = json.load(open(os.environ["MAM_BENCH_JOB"]))
trace = os.environ["MAM_CLICK_TRACE"]
report = {"gimp": Gimp.version(), "runs": []}


def xdotool(*args):
    subprocess.run(["xdotool", *[str(a) for a in args]], check=True, timeout=60)


def events():
    try:
        with open(trace) as f:
            return [json.loads(line) for line in f if line.strip()]
    except FileNotFoundError:
        return []


def wait_for(test, timeout):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if any(test(e) for e in events()):
            return True
        time.sleep(0.02)
    return False


def drive(clicks, run):
    found = subprocess.run(["xdotool", "search", "--sync", "--onlyvisible", "--name", "Click to Select"],
                           capture_output=True, text=True, check=True, timeout=120).stdout.split()
    window = found[-1]
    xdotool("windowfocus", "--sync", window)
    run["connected"] = wait_for(lambda e: e["event"] == "connected", 300)
    time.sleep(job["settle"])                    # prepare (sent when the dialog opened) runs meanwhile
    run["sent"] = []
    for generation, (x, y) in enumerate(clicks, 1):
        run["sent"].append(time.time())
        xdotool("mousemove", "--window", window, x, y, "click", 1)
        if not wait_for(lambda e: e["event"] == "drawn" and e.get("overlay") and e["generation"] == generation,
                        job["click_timeout"]):
            run["timed_out"] = generation
            break
        time.sleep(job["pause"])
    xdotool("key", "Escape")


for canvas in job["canvases"]:
    image = Gimp.file_load(Gimp.RunMode.NONINTERACTIVE, Gio.File.new_for_path(canvas["path"]))
    display = Gimp.Display.new(image)
    Gimp.displays_flush()
    layer = image.get_layers()[0]
    w, h = layer.get_width(), layer.get_height()
    reads = []
    for _ in range(3):     # what the plug-in does once per dialog: the layer's pixels as R'G'B'A u8
        t0 = time.perf_counter()
        layer.get_buffer().get(Gegl.Rectangle.new(0, 0, w, h), 1.0, "R'G'B'A u8", Gegl.AbyssPolicy.CLAMP)
        reads.append(time.perf_counter() - t0)
    for backend, endpoint in job["endpoints"].items():
        if os.path.exists(trace):
            os.remove(trace)
        run = {"canvas": canvas["name"], "backend": backend, "size": [w, h], "read_layer_s": statistics.median(reads)}
        helper = threading.Thread(target=drive, args=(canvas["clicks"], run), daemon=True)
        helper.start()
        proc = Gimp.get_pdb().lookup_procedure("plug-in-mam-click-select")
        config = proc.create_config()
        config.set_property("run-mode", Gimp.RunMode.INTERACTIVE)
        config.set_property("image", image)
        config.set_core_object_array("drawables", [layer])
        config.set_property("endpoint", endpoint)
        run["called"] = time.time()
        result = proc.run(config)
        helper.join(10)
        run["status"] = result.index(0).value_nick
        run["trace"] = events()
        report["runs"].append(run)
    display.delete()
    image.delete()
json.dump(report, open(job["report"], "w"))
'''


def canvases(sizes: list[float], folder: Path) -> list[dict]:
    """truck.jpg upscaled (bicubic) to each size in megapixels, as PNG, with the view positions of the clicks."""
    photo = Image.open(PHOTO).convert("RGB")
    found = []
    for mp in sizes:
        scale = (mp * 1_000_000 / (photo.width * photo.height)) ** 0.5
        width, height = round(photo.width * scale), round(photo.height * scale)
        name = f"truck_{mp:g}mp"
        photo.resize((width, height), Image.Resampling.BICUBIC).save(folder / f"{name}.png", compress_level=1)
        view = min(VIEW_MAX[0] / width, VIEW_MAX[1] / height)
        clicks = [(int(x * scale * view), int(y * scale * view)) for x, y in TRUCK_POINTS]
        found.append({"name": name, "file": f"{name}.png", "size": [width, height], "clicks": clicks})
    return found


def run_gimp(root: Path, job: dict, photos: Path, timeout: float) -> dict:
    """GIMP's GUI on a virtual display with a fresh profile holding the plug-in, running GIMP_SIDE."""
    inside = Path("/tmp") / f"mam-click-bench-{uuid.uuid4().hex[:8]}"
    home = root / inside.relative_to("/")
    try:
        (home / "out").mkdir(parents=True)
        plug_ins = home / ".config" / "GIMP" / gimp_series(root) / "plug-ins"
        subprocess.run([sys.executable, str(INSTALLER), "--dest", str(plug_ins)], check=True, capture_output=True)
        for canvas in job["canvases"]:
            shutil.copy(photos / canvas["file"], home / canvas["file"])
            canvas["path"] = str(inside / canvas["file"])
        (home / "bench.py").write_text(GIMP_SIDE)
        job = dict(job, report=str(inside / "out" / "report.json"))
        (home / "job.json").write_text(json.dumps(job))
        env = ["env", f"HOME={inside}", f"TMPDIR={inside}", f"MAM_BENCH_JOB={inside / 'job.json'}",
               f"MAM_CLICK_TRACE={inside / 'out' / 'trace.jsonl'}"]
        with mounted_proc(root), virtual_display(root) as display:
            gimp = subprocess.run(["chroot", str(root), *env, f"DISPLAY={display}", f"gimp-{gimp_series(root)}",
                                   "--no-splash", "--batch-interpreter=python-fu-eval", "-b",
                                   f"exec(open('{inside / 'bench.py'}').read())", "--quit"],
                                  capture_output=True, text=True, timeout=timeout)
        report = home / "out" / "report.json"
        if not report.exists():
            raise SystemExit(f"GIMP's side did not finish (rc {gimp.returncode}):\n{gimp.stdout[-3000:]}\n"
                             f"{gimp.stderr[-3000:]}")
        return json.loads(report.read_text())
    finally:
        shutil.rmtree(home, ignore_errors=True)


def server_totals(log: str) -> dict[str, float]:
    """Request id -> server_timings.total, from the daemon's event=matte_done lines."""
    found = {}
    for match in re.finditer(r"event=matte_done id=(\S+) .*server_timings=(\S+)", log):
        parts = dict(item.split(":") for item in match.group(2).split(","))
        found[match.group(1)] = float(parts["total"])
    return found


def first(events: list[dict], name: str, generation: int, **extra) -> float:
    for e in events:
        if e["event"] == name and e.get("generation") == generation and all(e.get(k) == v for k, v in extra.items()):
            return float(e["t"])
    raise LookupError(f"no {name} event for click {generation}")


def clicks_of(run: dict, totals: dict[str, float]) -> list[dict]:
    events = run["trace"]
    rows = []
    for generation, sent in enumerate(run["sent"], 1):
        reply = next(e for e in events if e["event"] == "reply" and e["generation"] == generation)
        t = {name: first(events, name, generation) for name in ("release", "submitted", "request", "answer",
                                                                   "rendered")}
        drawn = first(events, "drawn", generation, overlay=True)
        daemon = totals[reply["id"]]
        total = drawn - t["release"]
        call = reply["t"] - t["request"]
        rows.append({"daemon": daemon, "editor": total - daemon, "total": total, "client": call - daemon,
                     "dialog": total - call, "tint_draw": drawn - t["answer"], "input": t["release"] - sent,
                     "timings": reply["timings"], "size": reply["size"]})
    return rows


def ms(value: float) -> str:
    return f"{value * 1000:7.0f}"


def print_run(run: dict, totals: dict[str, float]) -> None:
    width, height = run["size"]
    events = run["trace"]
    print(f"\n{run['canvas']}: {width}x{height} ({width * height / 1e6:.1f} MP), {BACKEND_NAMES[run['backend']]}; "
          f"status {run['status']}")
    opened = next(e["t"] for e in events if e["event"] == "open")
    built = next(e["t"] for e in events if e["event"] == "built")
    print(f"  dialog opening (once): procedure called -> dialog built {ms(built - run['called']).strip()} ms "
          f"(plug-in start + layer read + scale to the view; of which scale + widgets {ms(built - opened).strip()} "
          f"ms); the layer read alone {ms(run['read_layer_s']).strip()} ms")
    if run.get("timed_out"):
        print(f"  click {run['timed_out']} got no preview in time")
    rows = clicks_of(run, totals)
    print("  click   daemon   editor    total |  client   dialog  tint+draw    input   (ms)  engine stages")
    for index, row in enumerate(rows, 1):
        stages = " ".join(f"{k} {v * 1000:.0f}" for k, v in row["timings"].items())
        print(f"  {index:5d} {ms(row['daemon'])}  {ms(row['editor'])}  {ms(row['total'])} | {ms(row['client'])}  "
              f"{ms(row['dialog'])}    {ms(row['tint_draw'])}  {ms(row['input'])}        {stages}")
    med = {k: statistics.median(r[k] for r in rows) for k in ("daemon", "editor", "total", "client", "dialog",
                                                              "tint_draw", "input")}
    print(f"  median{ms(med['daemon'])}  {ms(med['editor'])}  {ms(med['total'])} | {ms(med['client'])}  "
          f"{ms(med['dialog'])}    {ms(med['tint_draw'])}  {ms(med['input'])}   over {len(rows)} clicks; "
          f"preview alpha {rows[0]['size'][0]}x{rows[0]['size'][1]}")
    if rows:
        has = "encode" in rows[0]["timings"]
        print(f"  first click after prepare: engine timings {sorted(rows[0]['timings'])} -> "
              f"{'HAS encode' if has else 'no encode'}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--clicks", type=int, default=6)
    parser.add_argument("--sizes", default="1,8", help="canvas sizes in megapixels")
    parser.add_argument("--backends", default="classic,tiny")
    parser.add_argument("--suite", default="trixie")
    parser.add_argument("--settle", type=float, default=8.0, help="seconds between the dialog's prepare and click 1")
    parser.add_argument("--click-timeout", type=float, default=180, help="seconds to wait for a click's preview")
    parser.add_argument("--dump", help="also write GIMP's side's raw report (the traces) to this JSON file")
    parser.add_argument("--pause", type=float, default=0.5, help="seconds between a preview and the next click")
    args = parser.parse_args()
    if not 1 <= args.clicks <= len(TRUCK_POINTS):
        parser.error(f"--clicks is 1..{len(TRUCK_POINTS)}")
    root = editors_root_or_skip("the GIMP click benchmark", args.suite)
    started = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    print(f"machine: {platform.machine()}, {os.cpu_count()} cores; load average "
          f"{' '.join(f'{v:.2f}' for v in os.getloadavg())} at start; {started}")
    names = args.backends.split(",")
    with contextlib.ExitStack() as stack:
        daemons = {name: stack.enter_context(running_daemon(model=BACKENDS[name])) for name in names}
        folder = Path(stack.enter_context(tempfile.TemporaryDirectory()))
        plan = canvases([float(v) for v in args.sizes.split(",")], folder)
        for canvas in plan:
            canvas["clicks"] = canvas["clicks"][:args.clicks]
        job = {"canvases": plan, "endpoints": {name: d.endpoint for name, d in daemons.items()},
               "settle": args.settle, "pause": args.pause, "click_timeout": args.click_timeout}
        report = run_gimp(root, job, folder, timeout=3000)
        if args.dump:
            Path(args.dump).write_text(json.dumps(report, indent=1))
        totals: dict[str, float] = {}
        for d in daemons.values():
            totals.update(server_totals(d.log()))
    print(f"GIMP {report['gimp']} (Debian {args.suite} root), Xvfb; view {VIEW_MAX[0]}x{VIEW_MAX[1]} max")
    for run in report["runs"]:
        print_run(run, totals)
    print(f"\nload average {' '.join(f'{v:.2f}' for v in os.getloadavg())} at the end")


if __name__ == "__main__":
    main()
