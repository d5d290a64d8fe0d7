"""`mam-batch`: alpha mattes (and/or RGBA cut-outs) for a folder, a glob or a list of images.

Exit codes: 0 every file ok or already done, 1 some files failed (see the summary), 2 the job could not start,
130 interrupted (outputs stay whole: rerun the same command to resume).
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any, Iterable, Sequence

from mam_engine.batch.jobs import WRITES, BatchError, Summary, build_job, done, remove_stale_temps
from mam_engine.pipelines import PIPELINES, EngineSettings, pipeline_class
from mam_engine.request import GUIDANCES, REFINE_METHODS


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="mam-batch", description="Matte many images: locally, or on a Ray cluster.")
    p.add_argument("source", nargs="?", help="a folder (searched recursively), a quoted glob ('shots/**/*.jpg'), or "
                                             "a text file listing one image path a line; optional with --prompts")
    p.add_argument("-o", "--out", required=True, help="output folder: alpha/ and rgba/ mirror the input tree")
    p.add_argument("--root", help="folder the output tree mirrors (default: the source folder, the glob's fixed "
                                  "part, or the list's / prompts file's folder)")
    what = p.add_argument_group("prompts (one of)")
    what.add_argument("--prompts", help="per-image prompts: JSON Lines or CSV with file, box, points, mask")
    what.add_argument("--box-from-alpha", action="store_true",
                      help="one rule for all: the box around each image's own alpha channel (>= 128), or around "
                           "its rough mask in --alpha-dir")
    what.add_argument("--alpha-dir", help="with --box-from-alpha: grey masks mirroring the input tree (<rel>.png)")
    out = p.add_argument_group("outputs")
    out.add_argument("--write", choices=WRITES, default="alpha", help="alpha PNGs, RGBA cut-outs (decontaminated "
                                                                      "colours), or both (default alpha)")
    out.add_argument("--depth", type=int, choices=(8, 16), default=8, help="bits per alpha sample (default 8)")
    out.add_argument("--summary", help="summary CSV (default OUT/summary.csv)")
    model = p.add_argument_group("model")
    model.add_argument("--backend", choices=list(PIPELINES), default="mam")
    model.add_argument("--model-type", default="vit_b")
    model.add_argument("--sam-checkpoint")
    model.add_argument("--m2m-checkpoint")
    model.add_argument("--device", default="auto")
    model.add_argument("--random-weights", type=int, metavar="SEED", help="tests only: meaningless mattes")
    model.add_argument("--guidance", choices=GUIDANCES, default="alpha")
    model.add_argument("--refine", choices=REFINE_METHODS)
    model.add_argument("--refine-band", type=int)
    model.add_argument("--threads", type=int, default=1,
                       help="CPU threads per engine (default 1). CPU results depend on it in the last bit: a local "
                            "and a Ray run give the same bytes when it is the same")
    run = p.add_argument_group("where it runs")
    run.add_argument("--ray", metavar="ADDRESS", help="run on a Ray cluster: 'auto' or the head's host:port "
                                                      "(needs the cluster extra)")
    run.add_argument("--actors", type=int, help="with --ray: engines in the pool (default: one per GPU, else the "
                                                "cluster's CPUs / --threads)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    return p


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    settings = EngineSettings(model_type=args.model_type, device=args.device, sam_checkpoint=args.sam_checkpoint,
                              m2m_checkpoint=args.m2m_checkpoint, random_weights_seed=args.random_weights,
                              cache_bytes=64 << 20)  # one prompt per image: the embedding is never reused
    out = Path(args.out)
    try:
        if args.threads < 1 or (args.actors is not None and args.actors < 1):
            raise BatchError("--threads and --actors must be at least 1")
        pipeline_class(args.backend).check_settings(settings)
        job = build_job(args.source, out, args.write, args.root, args.prompts, args.box_from_alpha, args.alpha_dir)
    except (BatchError, ValueError) as exc:
        print(f"mam-batch: {exc}", file=sys.stderr)
        return 2
    remove_stale_temps(out)
    summary = Summary(Path(args.summary) if args.summary else out / "summary.csv")
    summary.add_all(job.refused)
    todo = []
    for task in job.tasks:
        if done(task):
            summary.skipped(task)
        else:
            todo.append(task)
    if summary.counts.get("skipped"):
        print(f"mam-batch: {summary.counts['skipped']} image(s) already done, skipped", file=sys.stderr)
    matter_args: dict[str, Any] = {"settings": settings.__dict__.copy(), "backend": args.backend,
                                   "depth": args.depth, "guidance": args.guidance, "refine": args.refine,
                                   "refine_band": args.refine_band, "threads": args.threads}
    from tqdm import tqdm

    bar = tqdm(total=len(todo), unit="img", disable=args.no_progress or not todo, file=sys.stderr)
    try:
        rows: Iterable[dict[str, Any]]
        if args.ray:
            from mam_engine.batch import ray_data

            rows = ray_data.run(todo, matter_args, args.ray, args.actors, on_start=bar.write) if todo else []
        else:
            rows = _local(todo, matter_args)
        for r in rows:
            summary.add(r)
            bar.update(1)
    except KeyboardInterrupt:
        bar.close()
        summary.close()
        print(f"mam-batch: interrupted; finished outputs are whole, rerun to resume ({summary.path})", file=sys.stderr)
        return 130
    except (RuntimeError, ConnectionError) as exc:  # Ray missing or the cluster unreachable
        bar.close()
        summary.close()
        print(f"mam-batch: {exc}", file=sys.stderr)
        return 2
    bar.close()
    summary.close()
    counts = ", ".join(f"{n} {status}" for status, n in sorted(summary.counts.items()))
    print(f"mam-batch: {counts or 'nothing to do'}; summary in {summary.path}", file=sys.stderr)
    return 1 if summary.counts.get("error") or summary.counts.get("missing") else 0


def _local(tasks: list[dict[str, str]], matter_args: dict[str, Any]) -> Iterable[dict[str, Any]]:
    if not tasks:
        return
    from mam_engine.batch.matter import BatchMatter

    matter = BatchMatter(**matter_args)
    for task in tasks:
        yield matter.process(task)


if __name__ == "__main__":
    sys.exit(main())
