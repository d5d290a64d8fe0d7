"""`mam-doctor`: is everything in place for a matte from Krita or GIMP? Each failed check prints its fix.

Checks: the daemon answers at the endpoint (and says which backend runs and whether it takes text prompts), the
weights are present and match their published sha256, the text detector (optional: a warning when absent), the
plugins are installed and enabled in each editor found, and the daemon, this package and the installed plugins are
the same version. Exit code 0 when nothing failed, 1 otherwise.
"""
from __future__ import annotations

import argparse
import json
import shlex
import sys
from dataclasses import dataclass
from pathlib import Path

import msgpack
import zmq

from mam_engine import __version__
from mam_engine.weights import catalog

from ..backend_choice import FETCH_HINT, missing_mam_weights
from ..protocol import SUPPORTED_VERSIONS
from . import kritarc
from .installer import DEFAULT_ENDPOINT, GIMP_PLUGIN, KRITA_PLUGIN, PLUGIN_RECORD, Record
from .locations import Locations, current, gimp_versions_found, krita_found

REINSTALL = "run `mam-install` again"


@dataclass
class Check:
    name: str
    ok: bool
    detail: str
    fix: str = ""
    warn: bool = False      # shown, but does not fail the run (e.g. classic mode: it works, just not MAM)


def daemon_hello(endpoint: str, timeout_s: float = 3.0) -> dict | None:
    """The daemon's hello reply, or None when nothing answers within timeout_s."""
    context: zmq.Context = zmq.Context.instance()
    sock = context.socket(zmq.DEALER)
    sock.setsockopt(zmq.LINGER, 0)
    try:
        sock.connect(endpoint)
        sock.send(msgpack.packb({"v": 1, "id": "doctor", "type": "hello", "client": "mam-doctor"}))
        if not sock.poll(int(timeout_s * 1000)):
            return None
        reply = msgpack.unpackb(sock.recv_multipart()[0])
        return reply if isinstance(reply, dict) else None
    finally:
        sock.close(linger=0)


def check_daemon(endpoint: str, start_command: str) -> list[Check]:
    hello = daemon_hello(endpoint)
    if hello is None or hello.get("type") != "hello":
        return [Check("daemon", False, f"nothing answers at {endpoint}",
                      f"start it: {start_command}   (or press Start server in Krita's docker; GIMP starts it by "
                      "itself)")]
    model: dict = hello["model"] if isinstance(hello.get("model"), dict) else {}
    checks = [Check("daemon", True, f"answers at {endpoint}: mam-server {hello.get('server_version')}, "
                                    f"{model.get('mode', model.get('backend', '?'))} on {model.get('device', '?')}")]
    if model.get("backend") == "classic":
        checks.append(Check("daemon mode", True, "the daemon runs in CLASSIC MODE (no MAM model)",
                            f"`{FETCH_HINT}`, then restart the daemon", warn=True))
    text = "text" in (hello.get("features") or [])
    checks.append(Check("daemon text prompts", True, "on" if text else "off (the daemon has no text detector)",
                        "" if text else f"`mam-weights download {catalog.DEFAULT_DETECTOR}`, then ask again (no "
                                        "restart needed)", warn=not text))
    version = hello.get("server_version")
    same = version == __version__ and hello.get("protocol") in SUPPORTED_VERSIONS
    checks.append(Check("daemon version", same, f"daemon {version} (protocol {hello.get('protocol')}), this "
                                                f"package {__version__}",
                        "" if same else "restart the daemon so it runs this version (stop the old one first)"))
    return checks


def check_weights(deep: bool) -> list[Check]:
    problem = missing_mam_weights("vit_b")
    if problem is not None:
        return [Check("weights", False, f"no MAM ViT-B weights in {catalog.weights_dir()}",
                      f"`{FETCH_HINT}` (the daemon runs in classic mode until then)")]
    checks = []
    root = catalog.weights_dir()
    for entry in catalog.REGISTRY:
        path = root / entry.name
        if not path.is_file():
            continue
        if entry.sha256 is None:
            checks.append(Check(f"weights {entry.name}", True, f"present at {path} (no published hash to check)"))
            continue
        wrong = catalog.verify(entry, path) if deep else None
        checks.append(Check(f"weights {entry.name}", wrong is None,
                            wrong or f"present at {path}" + (", sha256 verified" if deep else ""),
                            "" if wrong is None else f"delete it and run `mam-weights download {entry.name}`"))
    return checks


def check_detector(deep: bool) -> Check:
    """Text prompts are optional, so a missing detector warns; a present one is hashed like the checkpoints."""
    detector = catalog.get_detector(catalog.DEFAULT_DETECTOR)
    fetch = f"`mam-weights download {detector.name}` (for text prompts such as \"the dog\")"
    try:
        folder = catalog.find_detector(detector.name)
    except catalog.MissingWeightsError:
        folder = catalog.weights_dir() / detector.name
        return Check("text detector", True, f"none in {folder}: text prompts are off", fetch, warn=True)
    hashed = [entry for entry in detector.files if deep and entry.sha256 is not None]
    wrong = [w for w in (catalog.verify(entry, catalog.weights_dir() / entry.name) for entry in hashed) if w]
    return Check("text detector", not wrong, "; ".join(wrong) or f"{detector.name} at {folder}"
                 + (", sha256 verified" if deep else ""), f"delete {folder} and run {fetch}" if wrong else "")


def _plugin_version(folder: Path) -> tuple[str | None, list[str] | None]:
    try:
        data = json.loads((folder / PLUGIN_RECORD).read_text())
    except (OSError, ValueError):
        return None, None
    return data.get("version"), data.get("server_argv")


def _argv_ok(argv: list[str] | None) -> str | None:
    if not argv:
        return "no daemon command recorded"
    if not Path(argv[0]).exists():
        return f"the daemon command's program {argv[0]} does not exist (the checkout or venv moved?)"
    return None


def check_krita(loc: Locations, force: bool) -> list[Check]:
    if not (force or krita_found(loc)):
        return [Check("Krita", True, "not found on this machine (skipped)")]
    folder = loc.pykrita / KRITA_PLUGIN
    if not ((folder / "__init__.py").is_file() and (loc.pykrita / f"{KRITA_PLUGIN}.desktop").is_file()):
        return [Check("Krita plugin", False, f"not installed in {loc.pykrita}", REINSTALL)]
    checks = [Check("Krita plugin", True, f"installed in {folder}")]
    text = loc.kritarc.read_text(encoding="utf-8", errors="replace") if loc.kritarc.exists() else ""
    stored = kritarc.read(text, "python", f"enable_{KRITA_PLUGIN}")
    enabled = (stored or "").lower() == "true"
    checks.append(Check("Krita plugin enabled", enabled,
                        f"{loc.kritarc}: enable_{KRITA_PLUGIN}={stored if stored is not None else '(not set)'}",
                        "" if enabled else f"close Krita and {REINSTALL} (or tick Matting Anything in Settings ▸ "
                                           "Configure Krita ▸ Python Plugin Manager, then restart Krita)"))
    command = kritarc.read(text, KRITA_PLUGIN, "server_command")
    words = shlex.split(command) if command else None
    problem = _argv_ok(words) if command else "kritarc has no server_command (Start server needs mam-server on PATH)"
    checks.append(Check("Krita Start server command", problem is None, problem or command or "",
                        "" if problem is None else f"close Krita and {REINSTALL}"))
    checks.append(_version_check("Krita plugin version", folder))
    return checks


def check_gimp(loc: Locations, versions: list[str]) -> list[Check]:
    if not versions:
        return [Check("GIMP 3", True, "not found on this machine (skipped)")]
    checks = []
    for version in versions:
        folder = loc.gimp_plugins(version) / GIMP_PLUGIN
        script = folder / f"{GIMP_PLUGIN}.py"
        if not (script.is_file() and (folder / "mam_client" / "__init__.py").is_file()):
            checks.append(Check(f"GIMP {version} plug-in", False, f"not installed in {folder.parent}", REINSTALL))
            continue
        runnable = bool(script.stat().st_mode & 0o111) or loc.platform.startswith("win")
        checks.append(Check(f"GIMP {version} plug-in", runnable, f"installed in {folder}" + (
            "" if runnable else f", but {script.name} is not executable (GIMP will not run it)"),
            "" if runnable else REINSTALL))
        _, argv = _plugin_version(folder)
        problem = _argv_ok(argv)
        checks.append(Check(f"GIMP {version} daemon command", problem is None,
                            problem or " ".join(shlex.quote(a) for a in argv or []),
                            "" if problem is None else REINSTALL))
        checks.append(_version_check(f"GIMP {version} plug-in version", folder))
    return checks


def _version_check(name: str, folder: Path) -> Check:
    version, _ = _plugin_version(folder)
    ok = version == __version__
    return Check(name, ok, f"plugin {version or 'unknown'}, daemon package {__version__}",
                 "" if ok else f"{REINSTALL} so the plugin and the daemon are the same version")


def run_checks(loc: Locations, endpoint: str | None, deep: bool) -> list[Check]:
    record = Record.load(loc.manifest) if loc.manifest.is_file() else None
    endpoint = endpoint or (record.endpoint if record else DEFAULT_ENDPOINT)
    argv = record.server_argv if record and record.server_argv else \
        [sys.executable, "-m", "mam_server.main", "--endpoint", endpoint]
    checks = [Check("install record", record is not None,
                    f"{loc.manifest}" if record else f"no record at {loc.manifest}",
                    "" if record else "run `mam-install`")]
    checks += check_daemon(endpoint, " ".join(shlex.quote(a) for a in argv))
    checks += check_weights(deep)
    checks.append(check_detector(deep))
    checks += check_krita(loc, force=bool(record and record.krita))
    gimp = sorted(set(gimp_versions_found(loc)) | {Path(p).parent.parent.name for p in (record.gimp if record else [])})
    checks += check_gimp(loc, gimp)
    return checks


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="mam-doctor", description=__doc__.splitlines()[0])
    p.add_argument("--endpoint", help="the daemon's endpoint (default: the installed one, else "
                                      f"{DEFAULT_ENDPOINT})")
    p.add_argument("--quick", action="store_true", help="do not hash the weights (size and presence only)")
    args = p.parse_args(argv)
    checks = run_checks(current(), args.endpoint, deep=not args.quick)
    failed = [c for c in checks if not c.ok]
    for c in checks:
        mark = "FAIL" if not c.ok else ("WARN" if c.warn else " ok ")
        print(f"[{mark}] {c.name}: {c.detail}")
        if c.fix and (not c.ok or c.warn):
            print(f"       fix: {c.fix}")
    print(f"\n{len(failed)} problem(s)" if failed else "\nall checks passed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
