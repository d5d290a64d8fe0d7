#!/usr/bin/env python3
"""Installs the Matting Anything plug-in into GIMP 3's plug-ins folder, with the client library bundled.

GIMP 3 runs a plug-in from a folder of the same name as its executable, and GIMP's Python has
none of the project's dependencies, so the dependency-free client library is copied next to it.
The folder is assembled aside and then swapped in, so GIMP never sees a half-copied plug-in.
"""
from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
from pathlib import Path

PLUGIN_NAME = "mam_gimp"
HERE = Path(__file__).resolve().parent
PLUGIN_SOURCE = HERE / PLUGIN_NAME
CLIENT_SOURCE = HERE.parent / "mam_client"
_SKIP = shutil.ignore_patterns("__pycache__", "*.pyc")


def default_plugins_dir() -> Path:
    """The plug-ins folder of the user's GIMP 3.0 profile on this platform."""
    if sys.platform == "win32":
        base = Path(os.environ.get("APPDATA", Path.home() / "AppData" / "Roaming"))
    elif sys.platform == "darwin":
        base = Path.home() / "Library" / "Application Support"
    else:
        base = Path(os.environ.get("XDG_CONFIG_HOME") or Path.home() / ".config")
    return base / "GIMP" / "3.0" / "plug-ins"


def install(dest: Path) -> Path:
    """Copies the plug-in and the client library into dest/mam_gimp, replacing an older copy."""
    if not (CLIENT_SOURCE / "__init__.py").is_file():
        raise FileNotFoundError(f"client library missing at {CLIENT_SOURCE}")
    dest.mkdir(parents=True, exist_ok=True)
    target = dest / PLUGIN_NAME
    staging = Path(tempfile.mkdtemp(prefix=f".{PLUGIN_NAME}-", dir=dest))
    try:
        built = staging / PLUGIN_NAME
        shutil.copytree(PLUGIN_SOURCE, built, ignore=_SKIP)
        shutil.copytree(CLIENT_SOURCE, built / "mam_client", ignore=_SKIP)
        (built / f"{PLUGIN_NAME}.py").chmod(0o755)
        if target.exists():
            old = staging / "previous"
            os.replace(target, old)
        os.replace(built, target)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return target


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dest", type=Path, default=None,
                        help=f"plug-ins folder to install into (default: {default_plugins_dir()})")
    args = parser.parse_args(argv)
    try:
        target = install(args.dest or default_plugins_dir())
    except OSError as exc:
        print(f"install failed: {exc}", file=sys.stderr)
        return 1
    print(f"installed {target}\nrestart GIMP; the commands are under Filters > Matting Anything")
    return 0


if __name__ == "__main__":
    sys.exit(main())
