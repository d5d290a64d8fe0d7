"""What the editor end-to-end tests need: an editors root, /proc inside it, a virtual display, the photo.

The editor matrix is two roots (tests/editors/ensure_root.sh builds and caches each): Debian 13 "trixie" with
Krita 5.2.9 + GIMP 3.0.4, and Debian unstable "sid" with Krita 5.3.x + GIMP 3.2.x (and python3-pyqt6).

Outside CI a machine that cannot run the editors (not root, no root built and no mirror, no photo) skips
their tests. In CI (the environment variable CI is "true") the same reasons FAIL them: a CI run that passes
with the editor tests skipped would say nothing about the plugins.
"""
from __future__ import annotations

import contextlib
import os
import subprocess
from pathlib import Path
from typing import Iterator

import numpy as np
from PIL import Image

from support.missing_parts import skip_or_fail

ROOT = Path(__file__).resolve().parents[2]
DATA = ROOT.parent / "shared" / "data" / "alphamatting-lowres"
ENSURE_ROOT = ROOT / "tests" / "editors" / "ensure_root.sh"


SUITES = ("trixie", "sid")   # the editor matrix: Krita 5.2.9 + GIMP 3.0.4, Krita 5.3.x + GIMP 3.2.x


def editors_root_or_skip(editor: str, suite: str = "trixie") -> Path:
    """The root of `suite` with Krita and GIMP 3; built on first use (needs root and the Debian mirror), cached.
    Skips when it cannot be had, or fails in CI (skip_or_fail)."""
    if os.geteuid() != 0:
        skip_or_fail(f"{editor} runs in a chroot of a Debian {suite} root: needs root")
    try:
        run = subprocess.run(["bash", str(ENSURE_ROOT), suite], capture_output=True, text=True, timeout=1500)
    except (OSError, subprocess.TimeoutExpired) as exc:
        skip_or_fail(f"the editors root could not be built ({ENSURE_ROOT}): {exc}")
    if run.returncode != 0 or not run.stdout.strip():
        skip_or_fail(f"no cached editors root and it could not be built (no network to the Debian mirror?): "
                     f"{run.stderr[-1500:]}")
    return Path(run.stdout.strip().splitlines()[-1])


def gimp_series(root: Path) -> str:
    """The GIMP 3 minor series in a root ("3.0", "3.2"): its commands (gimp-3.2) and profile folder carry it."""
    found = sorted(p.name.rsplit("-", 1)[1] for p in (root / "usr" / "bin").glob("gimp-console-3.*"))
    assert found, f"no gimp-console-3.x in {root}"
    return found[-1]


def package_version(root: Path, package: str) -> tuple[int, ...]:
    """The upstream version of an installed package in a root, as numbers: (5, 3, 4, 1) for krita 1:5.3.4.1+dfsg-1."""
    status = (root / "var" / "lib" / "dpkg" / "status").read_text(errors="replace")
    for block in status.split("\n\n"):
        fields = dict(line.split(": ", 1) for line in block.splitlines() if ": " in line and line[0] != " ")
        if fields.get("Package") == package and "installed" in fields.get("Status", ""):
            upstream = fields["Version"].split(":")[-1].split("+")[0].split("-")[0].split("~")[0]
            return tuple(int(part) for part in upstream.split(".") if part.isdigit())
    raise AssertionError(f"{package} is not installed in {root}")


def ground_truth_photo(name: str) -> tuple[Path, np.ndarray, list[int]]:
    """A real photo, its ground-truth alpha (0–255) and the tight box of its subject (gt > 127)."""
    source, truth = DATA / "input" / f"{name}.png", DATA / "gt" / f"{name}.png"
    if not (source.exists() and truth.exists()):
        skip_or_fail(f"test photo {source} is absent (the shared data folder ../shared/data is not there)")
    gt = np.asarray(Image.open(truth).convert("L"))
    ys, xs = np.nonzero(gt > 127)
    return source, gt, [int(xs.min()), int(ys.min()), int(xs.max()) + 1, int(ys.max()) + 1]


@contextlib.contextmanager
def mounted_proc(root: Path) -> Iterator[None]:
    """/proc in the root only while an editor runs; if another editor test holds it busy, detach it lazily."""
    subprocess.run(["mount", "-t", "proc", "proc", str(root / "proc")], check=True)
    try:
        yield
    finally:
        if subprocess.run(["umount", str(root / "proc")], capture_output=True).returncode != 0:
            subprocess.run(["umount", "-l", str(root / "proc")], check=True)


@contextlib.contextmanager
def virtual_display(root: Path) -> Iterator[str]:
    """An Xvfb display inside the root that answers a client; yields its DISPLAY value.

    Xvfb picks a free display number and writes it to a pipe. -noreset: by default Xvfb resets when its last
    client leaves, and a client connecting during that reset (Krita connects more than once at start-up) is
    refused. The display is probed (xdotool) and started again if it does not answer.
    """
    for _attempt in range(3):
        read_fd, write_fd = os.pipe()
        proc = subprocess.Popen(["chroot", str(root), "Xvfb", "-displayfd", str(write_fd), "-nolisten", "tcp",
                                 "-noreset", "-screen", "0", "1280x1024x24"], pass_fds=(write_fd,),
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        os.close(write_fd)
        with os.fdopen(read_fd) as pipe:
            display = f":{pipe.readline().strip()}"
        probe = subprocess.run(["chroot", str(root), "env", f"DISPLAY={display}", "xdotool", "getdisplaygeometry"],
                               capture_output=True, timeout=30)
        if display != ":" and proc.poll() is None and probe.returncode == 0:
            try:
                yield display
            finally:
                proc.terminate()
                proc.wait(30)
            return
        proc.kill()
        proc.wait()
    raise AssertionError("Xvfb did not give a usable display in the editors root")
