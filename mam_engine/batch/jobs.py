"""From a command line to tasks: which files, which prompt for each, where the outputs go; the summary CSV.

No torch and no Ray here: the driver of a Ray run imports only this. A task is a flat dict of strings (it crosses
into Ray Data as one Arrow row); its prompt is checked against the image by the engine's validator in the worker,
once the image's size is known, so a bad prompt is refused with the daemon's message.
"""
from __future__ import annotations

import csv
import glob
import json
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Iterator

IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".tif", ".tiff", ".webp", ".bmp"}
WRITES = ("alpha", "rgba", "both")
PROMPT_KEYS = {"file", "box", "points", "mask"}
SUMMARY_FIELDS = ["file", "status", "score", "width", "height", "seconds", "timings", "error"]
# The temporary files of mam_engine.image_io.write_png_atomic: ".<name>.<12 hex>.tmp" beside the target.
TEMP_NAME = re.compile(r"^\..+\.[0-9a-f]{12}\.tmp$")


class BatchError(Exception):
    """The job as a whole cannot start (no inputs, unreadable prompts file): exit code 2."""


@dataclass
class Job:
    tasks: list[dict[str, str]]                                  # runnable: each becomes one summary row
    refused: list[dict[str, Any]] = field(default_factory=list)  # summary rows decided before any work


def is_glob(text: str) -> bool:
    return any(c in text for c in "*?[")


def _static_prefix(pattern: str) -> Path:
    """The folder part of a glob before its first wildcard: the root the outputs mirror."""
    parts = Path(pattern).parts
    fixed = []
    for part in parts:
        if is_glob(part):
            break
        fixed.append(part)
    prefix = Path(*fixed) if fixed else Path(".")
    return prefix if len(fixed) < len(parts) else prefix.parent


def collect_inputs(source: str, root: str | None = None) -> tuple[list[Path], list[Path], Path]:
    """(existing files, listed-but-missing files, root) for a folder, a glob, or a list file (one path a line)."""
    src = Path(source)
    missing: list[Path] = []
    if src.is_dir():
        files = sorted(p for p in src.rglob("*") if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES
                       and not p.name.startswith("."))
        base = src
    elif is_glob(source):
        files = sorted(Path(p) for p in glob.glob(source, recursive=True) if Path(p).is_file())
        base = _static_prefix(source)
    elif src.is_file():
        if src.suffix.lower() in IMAGE_SUFFIXES:
            files, base = [src], src.parent
        else:  # a list file: paths relative to the list's folder, '#' comments
            base = src.parent
            files = []
            for line in src.read_text(encoding="utf-8").splitlines():
                line = line.strip()
                if line and not line.startswith("#"):
                    p = Path(line) if Path(line).is_absolute() else base / line
                    (files if p.is_file() else missing).append(p)
    else:
        raise BatchError(f"{source}: no such folder, file or matching glob")
    base = Path(root) if root else base
    if not files and not missing:
        raise BatchError(f"{source}: no images found (looked for {', '.join(sorted(IMAGE_SUFFIXES))})")
    return files, missing, base


def relative(path: Path, root: Path) -> str:
    """`path` relative to `root`, as the outputs mirror it; a file outside the root keeps only its name."""
    try:
        return Path(os.path.relpath(path.resolve(), root.resolve())).as_posix() if _inside(path, root) else path.name
    except ValueError:  # another drive (Windows)
        return path.name


def _inside(path: Path, root: Path) -> bool:
    try:
        path.resolve().relative_to(root.resolve())
        return True
    except ValueError:
        return False


def output_paths(out: Path, rel: str, write: str) -> dict[str, Path]:
    """alpha → OUT/alpha/<rel>.png, rgba → OUT/rgba/<rel>.png: each tree mirrors the input's."""
    kinds = ("alpha", "rgba") if write == "both" else (write,)
    return {kind: out / kind / Path(rel).with_suffix(".png") for kind in kinds}


# --- prompts files ---------------------------------------------------------------------------------------------
def _numbers(text: str) -> list[float]:
    return [float(v) for v in re.split(r"[,\s]+", text.strip()) if v]


def _csv_row(row: dict[str, str]) -> dict[str, Any]:
    out: dict[str, Any] = {"file": (row.get("file") or "").strip()}
    box = (row.get("box") or "").strip()
    if box:
        out["box"] = json.loads(box) if box.startswith("[") else _numbers(box)
    points = (row.get("points") or "").strip()
    if points:
        out["points"] = (json.loads(points) if points.startswith("[")
                         else [_numbers(p) for p in points.split(";") if p.strip()])
    if (row.get("mask") or "").strip():
        out["mask"] = row["mask"].strip()
    return out


def read_prompts(path: str) -> Iterator[tuple[int, dict[str, Any] | None, str | None]]:
    """(line number, prompt, None) for each good line, (line number, None, why) for a line that cannot be read.

    JSON Lines: {"file": "sub/a.jpg", "box": [x0, y0, x1, y1], "points": [[x, y, label], ...], "mask": "m/a.png"}.
    CSV with a header naming the same columns: box as "x0 y0 x1 y1" (or a JSON list), points as "x,y,label;x,y",
    mask a grey image file (>= 128 inside). Paths are relative to the prompts file's folder.
    """
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise BatchError(f"cannot read the prompts file {path}: {exc}") from None
    if p.suffix.lower() == ".csv":
        reader = csv.DictReader(text.splitlines())
        if not reader.fieldnames or "file" not in reader.fieldnames:
            raise BatchError(f"{path}: a prompts CSV needs a header with a 'file' column")
        for n, row in enumerate(reader, start=2):
            try:
                yield n, _checked(_csv_row(row)), None
            except (ValueError, json.JSONDecodeError) as exc:
                yield n, None, f"{path}:{n}: {exc}"
        return
    for n, line in enumerate(text.splitlines(), start=1):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        try:
            record = json.loads(line)
            if not isinstance(record, dict):
                raise ValueError(f"must be a JSON object, got {type(record).__name__}")
            yield n, _checked(record), None
        except ValueError as exc:
            yield n, None, f"{path}:{n}: {exc}"


def _checked(record: dict[str, Any]) -> dict[str, Any]:
    unknown = set(record) - PROMPT_KEYS
    if unknown:
        raise ValueError(f"unknown keys {sorted(unknown)} (a prompt line has {sorted(PROMPT_KEYS)})")
    if not isinstance(record.get("file"), str) or not record["file"]:
        raise ValueError("'file' must name the image")
    if "mask" in record and not isinstance(record["mask"], str):
        raise ValueError("'mask' must be the path of a grey image")
    return record


# --- the job ---------------------------------------------------------------------------------------------------
def build_job(source: str | None, out: Path, write: str, root: str | None = None, prompts: str | None = None,
              box_from_alpha: bool = False, alpha_dir: str | None = None) -> Job:
    """Every file becomes one task or one refused row; prompts are matched to files by path.

    With a source, the job is its files (a prompt line naming a file that does not exist is reported `missing`;
    one naming another existing file is not part of this job); without one, the files the prompts file names.
    """
    if write not in WRITES:
        raise BatchError(f"--write must be one of {', '.join(WRITES)}")
    if prompts is None and not box_from_alpha:
        raise BatchError("say what to matte: --prompts FILE (per image) or --box-from-alpha (one rule for all)")
    files: list[Path] = []
    missing: list[Path] = []
    base = Path(root) if root else None
    if source is not None:
        files, missing, base = collect_inputs(source, root)
    job = Job(tasks=[])
    by_file: dict[Path, dict[str, Any]] = {}
    if prompts is not None:
        prompt_dir = Path(prompts).parent
        base = base or prompt_dir
        for n, record, problem in read_prompts(prompts):
            if record is None:
                job.refused.append(row(f"{Path(prompts).name}:{n}", "error", error=f"bad prompt line: {problem}"))
                continue
            path = Path(record["file"])
            path = path if path.is_absolute() else (base if source is not None else prompt_dir) / path
            if "mask" in record:
                mask = Path(record["mask"])
                record["mask"] = str(mask if mask.is_absolute() else prompt_dir / mask)
            if path.resolve() in by_file:
                job.refused.append(row(relative(path, base), "error", error=f"{prompts}:{n}: a second prompt line "
                                                                            "for this file (the first one is used)"))
                continue
            by_file[path.resolve()] = {**record, "line": n}
            if source is None:  # the prompts file is the list of images
                (files if path.is_file() else missing).append(path)
            elif not path.is_file():  # with a source, lines naming other existing files are not this job's
                missing.append(path)
    assert base is not None
    seen: dict[str, str] = {}
    for path in missing:
        job.refused.append(row(relative(path, base), "missing", error=f"{path}: no such file"))
    for path in files:
        rel = relative(path, base)
        outputs = output_paths(out, rel, write)
        first_out = str(next(iter(outputs.values())))
        if first_out in seen:
            job.refused.append(row(rel, "error", error=f"its outputs would overwrite those of {seen[first_out]} "
                                                       "(same name, another suffix)"))
            continue
        seen[first_out] = rel
        prompt: dict[str, Any]
        if prompts is not None and path.resolve() in by_file:
            record = by_file[path.resolve()]
            prompt = {k: record[k] for k in ("box", "points", "mask") if k in record}
            prompt["line"] = record["line"]
        elif box_from_alpha:
            prompt = {"box_from_alpha": str(Path(alpha_dir) / Path(rel).with_suffix(".png")) if alpha_dir else ""}
        else:
            job.refused.append(row(rel, "error", error=f"no line of {prompts} names this file"))
            continue
        job.tasks.append({"file": str(path), "rel": rel, "prompt": json.dumps(prompt),
                          **{f"out_{kind}": str(p) for kind, p in outputs.items()}})
    return job


def row(file: str, status: str, score: float | None = None, width: int | None = None, height: int | None = None,
        seconds: float | None = None, timings: dict[str, float] | None = None, error: str = "") -> dict[str, str]:
    """One summary row, every value a string (rows cross Ray Data as Arrow columns of one type)."""
    return {"file": file, "status": status, "score": "" if score is None else f"{score:.6f}",
            "width": "" if width is None else str(width), "height": "" if height is None else str(height),
            "seconds": "" if seconds is None else f"{seconds:.4f}",
            "timings": "" if not timings else ";".join(f"{k}:{v:.4f}" for k, v in timings.items()),
            "error": error}


# --- resuming --------------------------------------------------------------------------------------------------
def png_complete(path: Path) -> bool:
    """A PNG that ends with its IEND chunk (our writes are atomic; this also catches files cut by other tools)."""
    try:
        size = path.stat().st_size
        if size < 57:
            return False
        with open(path, "rb") as f:
            head = f.read(8)
            f.seek(size - 12)
            tail = f.read(12)
        return head == b"\x89PNG\r\n\x1a\n" and tail == b"\x00\x00\x00\x00IEND\xaeB`\x82"
    except OSError:
        return False


def outputs_of(task: dict[str, str]) -> list[Path]:
    return [Path(v) for k, v in task.items() if k.startswith("out_")]


def done(task: dict[str, str]) -> bool:
    return all(png_complete(p) for p in outputs_of(task))


def remove_stale_temps(out: Path) -> int:
    """Temporary files a killed writer could not remove (a Ray actor killed mid-write); they are never outputs."""
    removed = 0
    if out.is_dir():
        for p in out.rglob(".*.tmp"):
            if TEMP_NAME.match(p.name):
                p.unlink(missing_ok=True)
                removed += 1
    return removed


class Summary:
    """The summary CSV, one row per file, flushed row by row so a killed run keeps what it finished.

    A resumed run carries over the rows of the files it skips from the summary it replaces.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self.previous: dict[str, dict[str, str]] = {}
        if path.is_file():
            with open(path, newline="", encoding="utf-8") as f:
                self.previous = {r["file"]: r for r in csv.DictReader(f) if r.get("status") == "ok"}
        path.parent.mkdir(parents=True, exist_ok=True)
        self._file = open(path, "w", newline="", encoding="utf-8")
        self._writer = csv.DictWriter(self._file, fieldnames=SUMMARY_FIELDS)
        self._writer.writeheader()
        self.counts: dict[str, int] = {}

    def add(self, record: dict[str, Any]) -> None:
        self._writer.writerow({k: record.get(k, "") for k in SUMMARY_FIELDS})
        self._file.flush()
        self.counts[record["status"]] = self.counts.get(record["status"], 0) + 1

    def skipped(self, task: dict[str, str]) -> None:
        old = self.previous.get(task["rel"])
        self.add({**old, "status": "skipped"} if old else row(task["rel"], "skipped"))

    def add_all(self, records: Iterable[dict[str, Any]]) -> None:
        for r in records:
            self.add(r)

    def close(self) -> None:
        self._file.close()
