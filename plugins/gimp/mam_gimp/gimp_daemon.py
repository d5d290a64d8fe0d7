"""Starting the daemon from GIMP when none answers: GIMP has no docker with a Start server button, so the
plug-in starts the command `mam-install` recorded next to it (installed.json: the daemon's full command, no
PATH needed) and waits for its hello. Standard library only; no GIMP imports, so it is tested on its own.
"""
from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Callable, List, Optional

RECORD = Path(__file__).resolve().parent / "installed.json"
START_WAIT_S = 180.0      # importing torch and loading a checkpoint on a slow disk can take a minute or two


def installed_command(endpoint: str, record: Path = RECORD) -> Optional[List[str]]:
    """The recorded daemon command with `endpoint` in place of the installed one; None when the plug-in was not
    installed by mam-install (or its record is unreadable)."""
    try:
        argv = json.loads(record.read_text(encoding="utf-8")).get("server_argv")
    except (OSError, ValueError, AttributeError):
        return None
    if not isinstance(argv, list) or not argv or not all(isinstance(a, str) for a in argv):
        return None
    if len(argv) >= 2 and argv[-2] == "--endpoint":
        argv = argv[:-1] + [endpoint]
    return argv


def daemon_log(record: Path = RECORD) -> Optional[Path]:
    try:
        log = json.loads(record.read_text(encoding="utf-8")).get("daemon_log")
    except (OSError, ValueError, AttributeError):
        return None
    return Path(log) if isinstance(log, str) else None


def start(argv: List[str], log: Optional[Path]) -> subprocess.Popen:
    """Start the daemon detached from GIMP (it outlives this plug-in run and serves the next ones)."""
    out = subprocess.DEVNULL
    if log is not None:
        log.parent.mkdir(parents=True, exist_ok=True)
        out = open(log, "ab")  # noqa: SIM115 (handed to the child; closed below in this process)
    kwargs = {"creationflags": 0x00000008 | 0x00000200} if sys.platform == "win32" else {"start_new_session": True}
    try:
        return subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=out, stderr=out, **kwargs)  # type: ignore
    finally:
        if out is not subprocess.DEVNULL:
            out.close()


def wait_until_answering(connect: Callable[[], object], process: subprocess.Popen, timeout_s: float = START_WAIT_S,
                         on_wait: Callable[[float], None] = lambda s: None) -> Optional[str]:
    """Call connect() until it succeeds: None then; else why not (the daemon exited, or the wait ran out)."""
    began = time.monotonic()
    while True:
        try:
            connect()
            return None
        except ConnectionError:
            pass
        code = process.poll()
        if code is not None:
            return f"the daemon exited at once (exit code {code})"
        waited = time.monotonic() - began
        if waited > timeout_s:
            return f"the daemon did not answer within {timeout_s:.0f} s"
        on_wait(waited)
        time.sleep(0.5)


def is_local(endpoint: str) -> bool:
    """Only a daemon on this machine can be started from here."""
    if endpoint.startswith("ipc://"):
        return True
    host = endpoint[len("tcp://"):].rpartition(":")[0] if endpoint.startswith("tcp://") else ""
    return host in ("127.0.0.1", "localhost", "[::1]", "::1")


def describe(argv: List[str]) -> str:
    return " ".join(f'"{a}"' if (" " in a or not a) else a for a in argv)


__all__ = ["installed_command", "daemon_log", "start", "wait_until_answering", "describe", "START_WAIT_S",
           "RECORD", "is_local"]
