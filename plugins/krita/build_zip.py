"""Build dist/mam_krita.zip, the file "Tools > Scripts > Import Python Plugin from File..." accepts.

Krita's importer finds the .desktop file, then copies the folder named by its X-KDE-Library (which
must appear as its own directory entry and hold __init__.py). Everything the plugin needs must
therefore live inside mam_krita/: the shared client library is copied in as mam_krita/mam_client.

    python -m plugins.krita.build_zip [--out dist/mam_krita.zip]
"""
from __future__ import annotations

import argparse
import os
import tempfile
import zipfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
CLIENT = REPO / "plugins" / "mam_client"
PACKAGE = "mam_krita"
FIXED_TIME = (2024, 1, 1, 0, 0, 0)      # same input, same zip bytes


def _files(folder: Path) -> list[Path]:
    return sorted(p for p in folder.rglob("*")
                  if p.is_file() and "__pycache__" not in p.parts and p.suffix not in (".pyc", ".pyo"))


def plan() -> list[tuple[str, Path | None]]:
    """(name in zip, source file or None for a directory entry), directories before their files."""
    entries: list[tuple[str, Path | None]] = [(f"{PACKAGE}.desktop", HERE / f"{PACKAGE}.desktop"),
                                              (f"{PACKAGE}.action", HERE / f"{PACKAGE}.action")]   # shortcuts
    for source, prefix in ((HERE / PACKAGE, PACKAGE), (CLIENT, f"{PACKAGE}/mam_client")):
        if not (source / "__init__.py").is_file():
            raise FileNotFoundError(f"{source} is not a Python package (no __init__.py)")
        files = _files(source)
        dirs = {prefix} | {f"{prefix}/{p.parent.relative_to(source).as_posix()}"
                           for p in files if p.parent != source}
        entries += [(d + "/", None) for d in sorted(dirs)]
        entries += [(f"{prefix}/{p.relative_to(source).as_posix()}", p) for p in files]
    return entries


def build(out: Path) -> Path:
    """Write the zip atomically (temp file, then rename) and return its path."""
    out.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".mam_krita.", suffix=".zip", dir=out.parent)
    os.close(fd)
    try:
        with zipfile.ZipFile(tmp, "w", zipfile.ZIP_DEFLATED) as zf:
            for name, source in plan():
                info = zipfile.ZipInfo(name, FIXED_TIME)
                if source is None:
                    info.external_attr = (0o40755 << 16) | 0x10
                    zf.writestr(info, b"")
                else:
                    info.external_attr = 0o644 << 16
                    info.compress_type = zipfile.ZIP_DEFLATED
                    zf.writestr(info, source.read_bytes())
        os.replace(tmp, out)
    except BaseException:
        os.unlink(tmp)
        raise
    return out


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=REPO / "dist" / f"{PACKAGE}.zip")
    print(build(parser.parse_args(argv).out))


if __name__ == "__main__":
    main()
