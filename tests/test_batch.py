"""mam-batch as its users run it (the installed command, real photos, a real local Ray cluster on loopback):
local and Ray runs write the same bytes; a killed or interrupted run resumes with nothing partial; bad files, missing
files and bad prompt lines are reported in the summary while every other file is matted."""
from __future__ import annotations

import csv
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from mam_engine.batch.jobs import TEMP_NAME, png_complete
from support.ray_cluster import ray_head

BATCH = [str(Path(sys.executable).with_name("mam-batch"))]
CLASSIC = ["--backend", "classic"]
SIDE = 120  # long side of the test copies: the classic backend mattes one in a fraction of a second


@pytest.fixture(scope="session")
def ray_cluster():
    with ray_head() as cluster:
        yield cluster


def _box(alpha: np.ndarray) -> list[float]:
    ys, xs = np.nonzero(alpha > 127)
    return [float(xs.min()), float(ys.min()), float(xs.max() + 1), float(ys.max() + 1)]


@pytest.fixture(scope="module")
def photos(shared_data, tmp_path_factory) -> Path:
    """30 real photos, shrunk, in a two-level tree (PNG and JPEG), with a JSONL of box prompts: the 18
    alphamatting photos boxed by their ground truth, 12 COCO photos by their first annotated instance."""
    root = tmp_path_factory.mktemp("photos")
    lines = []
    am = shared_data / "alphamatting-lowres"
    for src in sorted((am / "input").glob("GT*.png")):
        im, gt = Image.open(src).convert("RGB"), Image.open(am / "gt" / src.name).convert("L")
        scale = SIDE / max(im.size)
        size = (round(im.width * scale), round(im.height * scale))
        rel = f"alphamatting/{src.stem}.png"
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        im.resize(size, Image.BILINEAR).save(root / rel)
        lines.append({"file": rel, "box": _box(np.asarray(gt.resize(size, Image.NEAREST)))})
    coco = shared_data / "coco-tiny"
    annotations = json.loads((coco / "instances_train2017_small.json").read_text())
    first_box = {}
    for a in annotations["annotations"]:
        first_box.setdefault(a["image_id"], a["bbox"])
    names = {i["id"]: i["file_name"] for i in annotations["images"]}
    for image_id in sorted(first_box)[:12]:
        src = next(coco.rglob(names[image_id]))
        im = Image.open(src).convert("RGB")
        scale = SIDE / max(im.size)
        size = (round(im.width * scale), round(im.height * scale))
        rel = f"coco/sub/{src.stem}.jpg"
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        im.resize(size, Image.BILINEAR).save(root / rel, quality=92)
        x, y, w, h = (v * scale for v in first_box[image_id])
        box = [max(0.0, x), max(0.0, y), min(size[0], x + max(w, 2)), min(size[1], y + max(h, 2))]
        lines.append({"file": rel, "box": box})
    assert len(lines) == 30
    (root / "prompts.jsonl").write_text("".join(json.dumps(line) + "\n" for line in lines))
    return root


def batch(*args: str, timeout: float = 600) -> subprocess.CompletedProcess:
    return subprocess.run([*BATCH, *args, "--no-progress"], capture_output=True, text=True, timeout=timeout)


def summary(out: Path) -> dict[str, dict[str, str]]:
    with open(out / "summary.csv", newline="") as f:
        return {r["file"]: r for r in csv.DictReader(f)}


def tree(out: Path) -> dict[str, bytes]:
    return {p.relative_to(out).as_posix(): p.read_bytes() for p in sorted(out.rglob("*.png"))}


def with_trouble(photos: Path, tmp: Path) -> Path:
    """The photos' prompts plus a corrupt image, a line naming a missing file, a malformed line and a line the
    validator refuses (a box outside the image): returns the prompts file."""
    (photos / "alphamatting" / "corrupt.png").write_bytes(b"\x89PNG\r\n\x1a\n" + b"\0" * 64)
    lines = (photos / "prompts.jsonl").read_text().splitlines()
    lines += [json.dumps({"file": "alphamatting/corrupt.png", "box": [1, 1, 20, 20]}),
              json.dumps({"file": "coco/gone.jpg", "box": [1, 1, 20, 20]}),
              '{"file": "coco/sub/x.jpg", "box": [1, 2, 3',
              json.dumps({"file": "alphamatting/GT01.png", "box": [0, 0, 5000, 10]})]
    # the last line names GT01 a second time: it is refused as a repeat, the first line is used
    lines.insert(0, json.dumps({"file": "alphamatting/GT02.png", "box": [0, 0, 5000, 10]}))
    prompts = tmp / "prompts.jsonl"
    prompts.write_text("\n".join(lines) + "\n")
    return prompts


def test_local_and_ray_write_the_same_bytes_and_report_bad_inputs(photos, tmp_path, ray_cluster):
    prompts = with_trouble(photos, tmp_path)
    common = [str(photos), "--prompts", str(prompts), "--write", "both", "--depth", "16", *CLASSIC]
    local = batch(*common, "-o", str(tmp_path / "local"))
    remote = batch(*common, "-o", str(tmp_path / "ray"), "--ray", ray_cluster.address, "--actors", "2")
    assert local.returncode == 1, local.stderr  # some files failed: the exit code says so
    assert remote.returncode == 1, remote.stderr
    a, b = tree(tmp_path / "local"), tree(tmp_path / "ray")
    # 29 photos matted (GT02's only line is refused), an alpha and a cut-out each, mirroring the input tree
    assert len(a) == 58 and "alpha/coco/sub/" + next(iter(sorted(photos.glob("coco/sub/*.jpg")))).stem + ".png" in a
    assert a.keys() == b.keys()
    assert [k for k in a if a[k] != b[k]] == []
    rows_local, rows_ray = summary(tmp_path / "local"), summary(tmp_path / "ray")
    for rows in (rows_local, rows_ray):
        assert rows["alphamatting/corrupt.png"]["status"] == "error"
        assert "not an image" in rows["alphamatting/corrupt.png"]["error"]
        assert rows["coco/gone.jpg"]["status"] == "missing"
        assert rows["alphamatting/GT02.png"]["status"] == "error"
        assert "bad_request: box:" in rows["alphamatting/GT02.png"]["error"]  # the daemon's validator's words
        malformed = [r for k, r in rows.items() if k.startswith("prompts.jsonl:")]
        assert len(malformed) == 1 and "bad prompt line" in malformed[0]["error"]
        ok = [k for k, r in rows.items() if r["status"] == "ok"]
        assert len(ok) == 29
    assert {k: (r["status"], r["score"], r["width"], r["height"]) for k, r in rows_local.items()} == \
           {k: (r["status"], r["score"], r["width"], r["height"]) for k, r in rows_ray.items()}
    sixteen = Image.open(tmp_path / "local" / "alpha" / "alphamatting" / "GT01.png")
    assert sixteen.mode.startswith("I") and np.asarray(sixteen).max() > 255  # 16-bit samples
    rgba = Image.open(tmp_path / "local" / "rgba" / "alphamatting" / "GT01.png")
    assert rgba.mode == "RGBA" and rgba.size == Image.open(photos / "alphamatting" / "GT01.png").size


def _wait_for_rows(out: Path, n: int, proc: subprocess.Popen, timeout: float = 300) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert proc.poll() is None, proc.communicate()
        path = out / "summary.csv"
        if path.exists() and sum(1 for r in summary(out).values() if r["status"] == "ok") >= n:
            return
        time.sleep(0.05)
    raise AssertionError(f"fewer than {n} images done in {timeout}s")


def _whole(out: Path, rels: list[str]) -> list[str]:
    """The images with both outputs; fails if any image has one output without the other or a file is partial."""
    done = []
    for rel in rels:
        paths = [out / kind / Path(rel).with_suffix(".png") for kind in ("alpha", "rgba")]
        present = [p.exists() for p in paths]
        assert all(present) or not any(present), f"{rel}: one output without the other"
        if all(present):
            assert all(png_complete(p) for p in paths)
            for p in paths:
                Image.open(p).load()
            done.append(rel)
    assert not [p for p in out.rglob("*") if TEMP_NAME.match(p.name)], "a temporary file was left"
    return done


@pytest.mark.parametrize("how", ["kill", "ctrl-c"])
def test_a_stopped_run_resumes_with_nothing_partial(photos, tmp_path, how):
    prompts = photos / "prompts.jsonl"
    rels = [json.loads(line)["file"] for line in prompts.read_text().splitlines()][:12]
    (tmp_path / "list.txt").write_text("".join(f"{photos / r}\n" for r in rels))
    args = [*BATCH, str(tmp_path / "list.txt"), "--root", str(photos), "--prompts", str(prompts), "--write", "both",
            *CLASSIC, "--no-progress", "-o", str(tmp_path / "out")]
    # A test run started in the background inherits SIGINT ignored, and Python then never raises
    # KeyboardInterrupt: the child gets the default disposition back, as in an artist's terminal.
    proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    _wait_for_rows(tmp_path / "out", 3, proc)
    proc.send_signal(signal.SIGKILL if how == "kill" else signal.SIGINT)
    _, err = proc.communicate(timeout=120)
    if how == "ctrl-c":
        assert proc.returncode == 130 and "rerun to resume" in err, err
    first = _whole(tmp_path / "out", rels)
    assert 3 <= len(first) < len(rels)
    before = {r: (tmp_path / "out" / "alpha" / Path(r).with_suffix(".png")).stat().st_mtime_ns for r in first}
    again = subprocess.run(args, capture_output=True, text=True, timeout=600)
    # The prompts file names all 30 photos; the job is the 12 listed ones, and the first run's are skipped.
    assert again.returncode == 0, again.stderr
    assert f"{len(first)} image(s) already done, skipped" in again.stderr
    assert sorted(_whole(tmp_path / "out", rels)) == sorted(rels)
    assert all((tmp_path / "out" / "alpha" / Path(r).with_suffix(".png")).stat().st_mtime_ns == t
               for r, t in before.items()), "a finished image was matted again"
    rows = summary(tmp_path / "out")
    assert {rows[r]["status"] for r in first} == {"skipped"} and all(rows[r]["score"] for r in first)
    # and the resumed outputs are those of an uninterrupted run
    whole = subprocess.run([*args[:-1], str(tmp_path / "whole")], capture_output=True, text=True, timeout=600)
    assert whole.returncode == 0, whole.stderr
    out_tree, whole_tree = tree(tmp_path / "out"), tree(tmp_path / "whole")
    assert out_tree.keys() == whole_tree.keys() and all(out_tree[k] == whole_tree[k] for k in out_tree)


def test_csv_prompts_points_masks_and_box_from_alpha(photos, tmp_path):
    src = tmp_path / "in"
    (src / "cut").mkdir(parents=True)
    im = Image.open(photos / "alphamatting" / "GT05.png").convert("RGB")
    w, h = im.size
    rough = np.zeros((h, w), np.uint8)
    rough[h // 4: 3 * h // 4, w // 4: 3 * w // 4] = 255
    Image.fromarray(np.dstack([np.asarray(im), rough])).save(src / "cut" / "a.png")  # an RGBA rough cut-out
    im.save(src / "b.png")  # no alpha channel: --box-from-alpha cannot apply
    out = tmp_path / "out"
    r = batch(str(src), "--box-from-alpha", *CLASSIC, "-o", str(out))
    rows = summary(out)
    assert r.returncode == 1 and rows["cut/a.png"]["status"] == "ok" and rows["b.png"]["status"] == "error"
    assert "no alpha channel" in rows["b.png"]["error"]
    Image.fromarray(rough).save(tmp_path / "rough.png")
    (tmp_path / "p.csv").write_text("file,box,points,mask\n"
                                    f"in/b.png,,\"{w / 2},{h / 2},1;2,2,0\",\n"
                                    f"in/cut/a.png,,,rough.png\n")
    out2 = tmp_path / "out2"
    r = batch("--prompts", str(tmp_path / "p.csv"), *CLASSIC, "-o", str(out2))
    assert r.returncode == 0, r.stderr
    assert {k: v["status"] for k, v in summary(out2).items()} == {"in/b.png": "ok", "in/cut/a.png": "ok"}
    assert (out2 / "alpha" / "in" / "cut" / "a.png").exists()


def test_no_prompt_is_a_usage_error(tmp_path):
    r = batch(str(tmp_path), "-o", str(tmp_path / "out"))
    assert r.returncode == 2 and "--prompts" in r.stderr


def test_temporary_files_of_a_killed_writer_are_removed(photos, tmp_path):
    out = tmp_path / "out"
    stale = out / "alpha" / "alphamatting" / ".GT01.png.0123456789ab.tmp"
    stale.parent.mkdir(parents=True)
    stale.write_bytes(b"half a png")
    keep = out / "alpha" / "alphamatting" / "notes.tmp"
    keep.write_text("not ours")
    (tmp_path / "one.jsonl").write_text(json.dumps({"file": str(photos / "alphamatting" / "GT01.png"),
                                                    "box": [1, 1, 50, 50]}) + "\n")
    r = batch("--prompts", str(tmp_path / "one.jsonl"), *CLASSIC, "-o", str(out), "--root", str(photos))
    assert r.returncode == 0, r.stderr
    assert not stale.exists() and keep.exists()
    assert os.path.exists(out / "alpha" / "alphamatting" / "GT01.png")
