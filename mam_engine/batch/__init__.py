"""`mam-batch`: mattes for whole folders, locally (one engine in this process) or on a Ray cluster (Ray Data).

The batch is a client of the engine like the CLI, so it lives beside it: `jobs` turns the command line into tasks
and writes the summary (no torch, no Ray), `matter` is the one piece of code that turns a task into files (run
in-process by `local`, and by every actor of the Ray Data pool in `ray_data`), so both runs write the same bytes.
Ray is imported only by `ray_data`, and only with `--ray` (the `cluster` extra).
"""
