"""`mam-weights`: list, download and verify the SAM / MAM checkpoints and the text detector in the weights cache.

Exit codes: 0 ok; 1 a download or hash check failed, or a needed file can only be fetched by hand; 2 usage error.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Sequence

from mam_engine.weights import catalog as w

_OK, _FAIL, _USAGE = 0, 1, 2


def main(argv: Sequence[str] | None = None,
         registry: Sequence[w.Checkpoint] = w.REGISTRY + w.DETECTOR_FILES) -> int:
    """Entry point of the console script; `registry` is replaceable so tests can serve their own files."""
    try:
        args = _parser().parse_args(argv)
    except SystemExit as exc:  # argparse already printed the usage problem (or the help)
        return int(exc.code or 0)
    root = Path(args.dir).expanduser() if args.dir else w.weights_dir()
    progress = not args.quiet
    if args.command == "path":
        print(root)
        return _OK
    if args.command == "list":
        return _list(root, registry)
    if args.command == "check":
        return _check(root, registry, progress)
    try:
        plan, notes = _plan(args.targets, root, registry)
    except KeyError as exc:
        print(f"mam-weights: {exc.args[0]}", file=sys.stderr)
        return _USAGE
    for entry in notes:
        print(f"note: {entry.name} has no direct link; download it by hand from {entry.manual_url} "
              f"and save it as {root / entry.name}")
    return _download(plan, root, progress, args.timeout)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="mam-weights",
                                     description="Manage the SAM and MAM checkpoints and the text detector.")
    parser.add_argument("--dir", help=f"weights folder (default: ${w.ENV_VAR} or the per-user cache)")
    parser.add_argument("-q", "--quiet", action="store_true", help="no progress bars")
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("list", help="known files, sizes, present or missing")
    get = sub.add_parser("download", help="fetch files into the weights folder (resumes partial downloads)")
    get.add_argument("targets", nargs="+", metavar="NAME",
                     help="a file name (e.g. sam_vit_b_01ec64.pth), 'all', a model type ("
                          + ", ".join(w.MODEL_TYPES) + ") or a text detector (" + ", ".join(
                              d.name for d in w.DETECTORS) + ")")
    get.add_argument("--timeout", type=float, default=w.DEFAULT_TIMEOUT,
                     help="seconds to wait for the server to connect or send (default: %(default)s)")
    sub.add_parser("check", help="verify size and sha256 of the files present")
    sub.add_parser("path", help="print the weights folder")
    return parser


def _plan(targets: Sequence[str], root: Path,
          registry: Sequence[w.Checkpoint]) -> tuple[list[w.Checkpoint], list[w.Checkpoint]]:
    """(entries to fetch in order without repeats, manual-only entries to mention).

    'all' means every file with a direct link; the missing manual-only files are mentioned, not failed. A model type
    means what the engine needs for it, chosen the way find_checkpoint chooses: the M2M file already present, else
    the first one with a direct link, else the manual one (whose download fails with instructions); plus the SAM
    file unless that M2M file carries SAM itself.
    """
    plan: list[w.Checkpoint] = []
    notes: list[w.Checkpoint] = []
    for target in targets:
        chosen: list[w.Checkpoint | None]
        if target == "all":
            chosen = [e for e in registry if e.urls]
            notes.extend(e for e in registry if not e.urls and not (root / e.name).is_file() and e not in notes)
        elif any(e.kind == w.DETECTOR_KIND and e.model_type == target for e in registry):
            chosen = [e for e in registry if e.kind == w.DETECTOR_KIND and e.model_type == target]
        elif target in w.MODEL_TYPES:
            m2m = _pick(w.candidates("m2m", target, registry), root)
            sam = None if m2m is not None and m2m.bundles_sam else _pick(w.candidates("sam", target, registry), root)
            chosen = [sam, m2m]
        else:
            chosen = [w.get_entry(target, registry)]
        plan.extend(e for e in chosen if e is not None and e not in plan)
    return plan, notes


def _pick(options: Sequence[w.Checkpoint], root: Path) -> w.Checkpoint | None:
    present = [e for e in options if (root / e.name).is_file()]
    downloadable = [e for e in options if e.urls]
    found = present or downloadable or list(options)
    return found[0] if found else None


def _download(plan: Sequence[w.Checkpoint], root: Path, progress: bool, timeout: float) -> int:
    status = _OK
    for entry in plan:
        try:
            path = w.download(entry, root, progress=progress, timeout=timeout)
        except w.WeightsError as exc:
            print(f"error: {exc}", file=sys.stderr)
            status = _FAIL
        else:
            print(f"ok: {path}")
    return status


def _human(size: int | None) -> str:
    if size is None:
        return "unknown"
    units = ("B", "KB", "MB", "GB")
    value, index = float(size), 0
    while value >= 1000 and index < len(units) - 1:
        value, index = value / 1000, index + 1
    return f"{size} B" if index == 0 else f"{value:.1f} {units[index]}"


def _list(root: Path, registry: Sequence[w.Checkpoint]) -> int:
    print(f"weights folder: {root}")
    rows = [("NAME", "KIND", "TYPE", "SIZE", "STATUS", "PATH")]
    for entry in registry:
        path = root / entry.name
        part = path.with_name(path.name + w.PART_SUFFIX)
        if path.is_file():
            status, size = "present", _human(entry.size or path.stat().st_size)
        else:
            size = _human(entry.size) if entry.size else (f"~{_human(entry.approx_size)}" if entry.approx_size
                                                          else "unknown")
            status = "missing" if entry.urls else "missing (manual download)"
            if part.is_file():
                status = f"partial ({_human(part.stat().st_size)})"
        rows.append((entry.name, entry.kind, entry.model_type, size, status, str(path)))
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]) - 1)]
    for row in rows:
        print("  ".join(cell.ljust(width) for cell, width in zip(row, widths)) + "  " + row[-1])
    return _OK


def _check(root: Path, registry: Sequence[w.Checkpoint], progress: bool) -> int:
    status, seen = _OK, 0
    for entry in registry:
        path = root / entry.name
        if not path.is_file():
            continue
        seen += 1
        problem = w.verify(entry, path, progress)
        if problem:
            print(f"BAD  {entry.name}: {problem}; delete it and run `mam-weights download {entry.name}`")
            status = _FAIL
        elif entry.sha256 is None and entry.size is None:
            print(f"OK?  {entry.name}: present, but no hash or size is published to check it against")
        else:
            print(f"OK   {entry.name}")
    if not seen:
        print(f"no known checkpoints in {root}; see `mam-weights list`")
    return status


if __name__ == "__main__":
    sys.exit(main())
