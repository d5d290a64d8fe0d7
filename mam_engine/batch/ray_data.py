"""The batch on a Ray cluster: the tasks stream through Ray Data's `map_batches` with `BatchMatter` as a callable
class, i.e. a pool of actors that each load the engine once. Actors read the images and write the outputs
themselves, and only summary rows come back, so the driver's memory does not grow with the number of files.
Needs the `cluster` extra (`pip install mam-backend[cluster]`).
"""
from __future__ import annotations

import logging
from typing import Any, Callable, Iterator


def connect(address: str) -> Any:
    """ray.init against an existing cluster: 'auto' (RAY_ADDRESS or the local head) or 'host:port' of the head."""
    try:
        import ray
    except ImportError:
        raise RuntimeError("--ray needs Ray: pip install 'mam-backend[cluster]'") from None
    if not ray.is_initialized():
        ray.init(address=address, logging_level=logging.WARNING, log_to_driver=True)
    return ray


def plan(ray: Any, actors: int | None, threads: int, device: str) -> tuple[int, float, float]:
    """(actors, CPUs per actor, GPUs per actor): one actor per GPU when the cluster has GPUs and the device allows
    them, else as many actors as the cluster's CPUs hold `threads` each."""
    resources = ray.cluster_resources()
    gpus = int(resources.get("GPU", 0))
    if gpus and (device in ("auto", "cuda") or device.startswith("cuda:")):
        return (actors or max(gpus, 1)), float(threads), 1.0
    return (actors or max(int(resources.get("CPU", 1)) // threads, 1)), float(threads), 0.0


def run(tasks: list[dict[str, str]], matter_args: dict[str, Any], address: str, actors: int | None,
        on_start: Callable[[str], None] = lambda line: None) -> Iterator[dict[str, Any]]:
    """Yield one summary row per task, in the order they finish."""
    ray = connect(address)
    import ray.data  # noqa: F811 (the submodule, on the package connect returned)

    size, cpus, gpus = plan(ray, actors, matter_args.get("threads") or 1, matter_args["settings"].get("device", "auto"))
    on_start(f"Ray {ray.__version__} at {address}: {size} actor(s), {cpus:g} CPU and {gpus:g} GPU each")
    context = ray.data.DataContext.get_current()
    context.enable_progress_bars = False  # the batch has its own bar
    context.print_on_execution_start = False
    dataset = ray.data.from_items(tasks, override_num_blocks=max(1, min(len(tasks), size * 4)))
    rows = dataset.map_batches(BatchMatterActor, fn_constructor_kwargs=matter_args, batch_size=1,
                               compute=ray.data.ActorPoolStrategy(size=size), num_cpus=cpus, num_gpus=gpus,
                               batch_format="numpy")
    yield from rows.iter_rows()


class BatchMatterActor:
    """BatchMatter imported inside the actor, so the driver never imports the engine (nor torch)."""

    def __init__(self, **kwargs: Any) -> None:
        from mam_engine.batch.matter import BatchMatter

        self.matter = BatchMatter(**kwargs)

    def __call__(self, batch: dict[str, Any]) -> dict[str, list]:
        return self.matter(batch)
