"""`mam-install`: from a set-up checkout to a daemon the editors can start and plugins they load.

    mam-install                 install the Krita plugin and the GIMP 3 plug-in for this user, enable the Krita
                                plugin in kritarc, write the daemon's full command into both plugins' settings,
                                and fetch the default weights (ViT-B) when the network allows
    mam-install --dry-run       print what it would do; change nothing
    mam-install --uninstall     remove everything an earlier mam-install put in place (its record says what)
    mam-install --service       also start the daemon at login (systemd user unit / launchd agent)

Every step is planned first (so --dry-run prints exactly the steps a real run takes), and the record of what
was done (`install.json` in the per-user state folder) is rewritten whole after each step, so an interrupted
install can still be uninstalled. Plugin folders are assembled aside and renamed into place: an editor never
sees a half-copied plugin.
"""
from __future__ import annotations

import argparse
import json
import os
import shlex
import shutil
import sys
import tempfile
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Callable

from mam_engine import __version__
from mam_engine.weights import catalog

from ..backend_choice import FETCH_HINT, missing_mam_weights
from . import kritarc, service
from .locations import GIMP_VERSIONS, Locations, current, gimp_versions_found

DEFAULT_ENDPOINT = "tcp://127.0.0.1:5757"
DEFAULT_WEIGHTS = "mam_sam_vitb.pth"      # ViT-B, all in one file: what `mam-weights download vit_b` fetches
KRITA_PLUGIN = "mam_krita"
GIMP_PLUGIN = "mam_gimp"
PLUGIN_RECORD = "installed.json"          # inside each installed plugin: version, endpoint, daemon command
_SKIP = shutil.ignore_patterns("__pycache__", "*.pyc", "*.pyo")
CLASSIC_NOTICE = ("CLASSIC MODE: the daemon will start without the MAM model (GrabCut + closed-form matting: "
                  "usable, but not Matting Anything). The plugins say so while it lasts. For the MAM model run "
                  "`{fetch}` and restart the daemon.")


class InstallError(Exception):
    """A step could not be done; the message says which and what to do."""


def plugin_sources() -> Path:
    """The plugins/ folder of the checkout this package runs from (setup.sh installs it in editable mode)."""
    plugins = Path(__file__).resolve().parents[2] / "plugins"
    for needed in ("mam_client/__init__.py", "krita/mam_krita/__init__.py", "krita/mam_krita.desktop",
                   "krita/mam_krita.action",
                   "gimp/mam_gimp/mam_gimp.py"):
        if not (plugins / needed).is_file():
            raise InstallError(f"the plugin sources are not next to this mam_server ({plugins / needed} is "
                               "missing): run mam-install from a source checkout set up with ./setup.sh")
    return plugins


def server_argv(endpoint: str) -> list[str]:
    """The daemon's full command: this Python (the venv's, so no PATH is needed) running mam_server."""
    python = Path(sys.executable).absolute().as_posix()   # the venv's python, not the interpreter it links to
    return [python, "-m", "mam_server.main", "--endpoint", endpoint]


def krita_command(endpoint_placeholder_argv: list[str]) -> str:
    """The Krita docker's server_command: shell words, with the {endpoint} placeholder left for the docker."""
    head = " ".join(shlex.quote(a) for a in endpoint_placeholder_argv[:-1])
    return f"{head} {{endpoint}}"


@dataclass
class Record:
    """What an install did, in order, so that --uninstall can take exactly that back."""

    version: str = __version__
    endpoint: str = DEFAULT_ENDPOINT
    server_argv: list[str] = field(default_factory=list)
    created: list[str] = field(default_factory=list)          # files and folders made, in creation order
    kritarc: dict = field(default_factory=dict)               # path, created, previous enable value
    gimp: list[str] = field(default_factory=list)             # plug-in folders installed
    krita: str | None = None                                  # pykrita plugin folder installed
    weights: list[str] = field(default_factory=list)          # files downloaded by the installer
    mode: str = ""                                            # "mam" or "classic", as the daemon will start
    service: str | None = None

    def save(self, path: Path) -> None:
        kritarc.write_whole(path, json.dumps(self.__dict__, indent=2) + "\n")

    @classmethod
    def load(cls, path: Path) -> Record:
        data = json.loads(path.read_text())
        known = {k: v for k, v in data.items() if k in cls.__dataclass_fields__}
        return cls(**known)


@dataclass
class Step:
    says: str
    run: Callable[[], object]


class Installer:
    def __init__(self, loc: Locations, endpoint: str, gimp_versions: list[str], krita: bool, weights: bool,
                 want_service: bool, out: Callable[[str], None] = print,
                 weights_entries: tuple[catalog.Checkpoint, ...] | None = None, timeout: float = 15.0) -> None:
        self.loc = loc
        self.out = out
        self.endpoint = endpoint
        self.argv = server_argv(endpoint)
        self.gimp_versions = gimp_versions
        self.krita = krita
        self.weights = weights
        self.want_service = want_service and loc.service is not None
        self.weights_entries = weights_entries or (catalog.get_entry(DEFAULT_WEIGHTS),)
        self.timeout = timeout
        self.record = Record(endpoint=endpoint, server_argv=self.argv)
        if loc.manifest.is_file():   # a re-install extends the earlier record, so uninstall still removes all
            old = Record.load(loc.manifest)
            self.record.created, self.record.kritarc, self.record.weights = old.created, old.kritarc, old.weights

    # --- the plan ---------------------------------------------------------------------------------
    def plan(self) -> list[Step]:
        src = plugin_sources()
        steps: list[Step] = []
        plugin_record = {"version": __version__, "endpoint": self.endpoint, "server_argv": self.argv,
                         "daemon_log": str(self.loc.daemon_log)}
        if self.krita:
            steps.append(Step(f"Krita: copy the plugin into {self.loc.pykrita / KRITA_PLUGIN} (+ "
                              f"{KRITA_PLUGIN}.desktop, and {KRITA_PLUGIN}.action into "
                              f"{self.loc.krita_resources / 'actions'})",
                              lambda: self._krita_plugin(src, plugin_record)))
            steps.append(Step(f"Krita: enable it in {self.loc.kritarc} ([python] enable_{KRITA_PLUGIN}=true) and set "
                              f"[{KRITA_PLUGIN}] server_command={krita_command(self.argv)}", self._kritarc))
        for version in self.gimp_versions:
            folder = self.loc.gimp_plugins(version) / GIMP_PLUGIN
            steps.append(Step(f"GIMP {version}: copy the plug-in into {folder}",
                              partial(self._gimp_plugin, src, version, plugin_record)))
        steps.append(self._weights_step())
        if self.want_service:
            assert self.loc.service is not None
            steps.append(Step(f"login service: write {self.loc.service} and enable it", self._service))
        return steps

    def _weights_step(self) -> Step:
        problem = missing_mam_weights("vit_b")
        if problem is None:
            return Step("weights: the MAM ViT-B weights are already present (the daemon runs the MAM model)",
                        lambda: self._set_mode("mam"))
        names = ", ".join(e.name for e in self.weights_entries)
        if not self.weights:
            return Step(f"weights: not downloaded (--no-weights). {CLASSIC_NOTICE.format(fetch=FETCH_HINT)}",
                        lambda: self._set_mode("classic"))
        return Step(f"weights: download {names} into {catalog.weights_dir()} (ViT-B, about 408 MB; "
                    "checked by sha256)", self._download)

    # --- steps ------------------------------------------------------------------------------------
    def _made(self, path: Path) -> None:
        if str(path) not in self.record.created:
            self.record.created.append(str(path))
        self._save()

    def _save(self) -> None:
        if not self.loc.state.exists():   # its parents are recorded (they may be shared: removed only when empty)
            parents = []
            p = self.loc.state.parent
            while not p.exists():
                parents.append(str(p))
                p = p.parent
            self.record.created += [d for d in reversed(parents) if d not in self.record.created]
            self.loc.state.mkdir(parents=True)
        self.record.save(self.loc.manifest)

    def _mkdirs(self, folder: Path, record: bool = True) -> None:
        missing = []
        p = folder
        while not p.exists():
            missing.append(p)
            p = p.parent
        for d in reversed(missing):
            d.mkdir(exist_ok=True)   # saving the record may have made it already (a shared parent)
            if record:
                self._made(d)

    def _swap_in(self, target: Path, build: Callable[[Path], None]) -> None:
        """Build the folder aside (same parent), then rename it over target: never half-copied."""
        self._mkdirs(target.parent)
        staging = Path(tempfile.mkdtemp(prefix=f".{target.name}-", dir=target.parent))
        try:
            built = staging / target.name
            build(built)
            if target.exists():
                os.replace(target, staging / "previous")
            os.replace(built, target)
        finally:
            shutil.rmtree(staging, ignore_errors=True)
        self._made(target)

    def _krita_plugin(self, src: Path, plugin_record: dict) -> None:
        def build(folder: Path) -> None:
            shutil.copytree(src / "krita" / KRITA_PLUGIN, folder, ignore=_SKIP)
            shutil.copytree(src / "mam_client", folder / "mam_client", ignore=_SKIP)
            (folder / PLUGIN_RECORD).write_text(json.dumps(plugin_record, indent=2) + "\n")

        self._swap_in(self.loc.pykrita / KRITA_PLUGIN, build)
        desktop = self.loc.pykrita / f"{KRITA_PLUGIN}.desktop"
        kritarc.write_whole(desktop, (src / "krita" / f"{KRITA_PLUGIN}.desktop").read_text())
        self._made(desktop)
        actions = self.loc.krita_resources / "actions"   # default shortcuts (Click to select: Ctrl+Shift+K), where
        self._mkdirs(actions)                             # Krita's own plugin importer puts a zip's .action file
        action = actions / f"{KRITA_PLUGIN}.action"
        kritarc.write_whole(action, (src / "krita" / f"{KRITA_PLUGIN}.action").read_text())
        self._made(action)
        self.record.krita = str(self.loc.pykrita / KRITA_PLUGIN)
        self._save()

    def _kritarc(self) -> None:
        path = self.loc.kritarc
        text = path.read_text(encoding="utf-8") if path.exists() else ""
        if not self.record.kritarc:
            self.record.kritarc = {"path": str(path), "created": not path.exists(),
                                   "previous_enable": kritarc.read(text, "python", f"enable_{KRITA_PLUGIN}")}
            if not path.exists():
                self._mkdirs(path.parent)
            self._save()
        text = kritarc.set_keys(text, "python", {f"enable_{KRITA_PLUGIN}": "true"})
        text = kritarc.set_keys(text, KRITA_PLUGIN, {"endpoint": self.endpoint,
                                                     "server_command": krita_command(self.argv)})
        kritarc.write_whole(path, text)

    def _gimp_plugin(self, src: Path, version: str, plugin_record: dict) -> None:
        def build(folder: Path) -> None:
            shutil.copytree(src / "gimp" / GIMP_PLUGIN, folder, ignore=_SKIP)
            shutil.copytree(src / "mam_client", folder / "mam_client", ignore=_SKIP)
            (folder / f"{GIMP_PLUGIN}.py").chmod(0o755)
            (folder / PLUGIN_RECORD).write_text(json.dumps(plugin_record, indent=2) + "\n")

        target = self.loc.gimp_plugins(version) / GIMP_PLUGIN
        self._swap_in(target, build)
        if str(target) not in self.record.gimp:
            self.record.gimp.append(str(target))
        self._save()

    def _set_mode(self, mode: str) -> None:
        self.record.mode = mode
        self._save()

    def _download(self) -> None:
        root = catalog.weights_dir()
        self._mkdirs(root)
        try:
            for entry in self.weights_entries:
                present = (root / entry.name).is_file()
                path = catalog.download(entry, root, progress=True, timeout=self.timeout)
                if not present and str(path) not in self.record.weights:
                    self.record.weights.append(str(path))
                    self._save()
        except catalog.WeightsError as exc:
            self.out(f"\n!!! weights: the download failed: {exc}\n!!! "
                     + CLASSIC_NOTICE.format(fetch=FETCH_HINT) + "\n")
            self._set_mode("classic")
            return
        self._set_mode("mam" if missing_mam_weights("vit_b") is None else "classic")

    def _service(self) -> None:
        assert self.loc.service is not None
        path = self.loc.service
        self._mkdirs(path.parent)
        kritarc.write_whole(path, service.service_text(self.loc.platform, self.argv, self.loc.daemon_log))
        self._made(path)
        self.record.service = str(path)
        self._save()
        problem = service.run_commands(service.enable_commands(self.loc.platform, path))
        if problem:
            hand = "; ".join(" ".join(c) for c in service.enable_commands(self.loc.platform, path))
            self.out(f"    note: the service file is written but not enabled ({problem}); enable it with: {hand}")

    # --- running ----------------------------------------------------------------------------------
    def install(self, dry_run: bool) -> int:
        steps = self.plan()
        self.out(f"mam-install {__version__}{' (dry run: nothing is changed)' if dry_run else ''}")
        for n, step in enumerate(steps, 1):
            self.out(f"[{n}/{len(steps)}] {'would ' if dry_run else ''}{step.says}")
            if not dry_run:
                step.run()
        if dry_run:
            return 0
        self.out(self.summary())
        return 0

    def summary(self) -> str:
        command = " ".join(shlex.quote(a) for a in self.argv)
        lines = ["", "Done."]
        if self.krita:
            lines.append("  Krita: restart it; Select ▸ Select Subject (Matting Anything), and the docker "
                         "(Settings ▸ Dockers ▸ Matting Anything) whose Start server button runs the daemon.")
        if self.gimp_versions:
            lines.append("  GIMP: restart it; Filters ▸ Matting Anything ▸ … (it starts the daemon itself when "
                         "none answers).")
        lines.append(f"  The daemon: {command}")
        if self.record.mode == "classic":
            lines.append("  " + CLASSIC_NOTICE.format(fetch=FETCH_HINT))
        lines.append("  Check everything with: mam-doctor")
        return "\n".join(lines)


def uninstall(loc: Locations, dry_run: bool, out: Callable[[str], None] = print) -> int:
    if not loc.manifest.is_file():
        out(f"mam-install: nothing to uninstall (no record at {loc.manifest})")
        return 0
    record = Record.load(loc.manifest)
    steps: list[Step] = []
    if record.service:
        svc = Path(record.service)
        steps.append(Step(f"login service: disable it and remove {svc}",
                          lambda: service.run_commands(service.disable_commands(loc.platform, svc))))
    if record.kritarc:
        steps.append(Step(f"Krita: remove [{KRITA_PLUGIN}] and enable_{KRITA_PLUGIN} from {record.kritarc['path']}",
                          lambda: _undo_kritarc(record.kritarc)))
    for name in record.weights:
        steps.append(Step(f"weights: remove {name} (downloaded by mam-install)",
                          partial(Path(name).unlink, missing_ok=True)))
    steps.append(Step(f"remove the install record {loc.state}", lambda: shutil.rmtree(loc.state)))
    for made in reversed(record.created):
        steps.append(Step(f"remove {made}", partial(_remove, Path(made))))
    out(f"mam-install --uninstall{' (dry run: nothing is changed)' if dry_run else ''}")
    for n, step in enumerate(steps, 1):
        out(f"[{n}/{len(steps)}] {'would ' if dry_run else ''}{step.says}")
        if not dry_run:
            step.run()
    return 0


def _undo_kritarc(info: dict) -> None:
    path = Path(info["path"])
    if not path.exists():
        return
    text = kritarc.remove(path.read_text(encoding="utf-8"), KRITA_PLUGIN)
    if info.get("previous_enable") is None:
        text = kritarc.remove(text, "python", [f"enable_{KRITA_PLUGIN}"])
    else:
        text = kritarc.set_keys(text, "python", {f"enable_{KRITA_PLUGIN}": info["previous_enable"]})
    if info.get("created") and not text.strip():
        path.unlink()
    else:
        kritarc.write_whole(path, text)


def _remove(path: Path) -> None:
    """A plugin folder or file we made goes whole; a parent folder we made only if nothing else is in it."""
    if path.is_symlink() or path.is_file():
        path.unlink()
    elif path.is_dir():
        if path.name in (KRITA_PLUGIN, GIMP_PLUGIN):
            shutil.rmtree(path)
        else:
            try:
                path.rmdir()
            except OSError:
                pass   # the editor (or the user) keeps something of its own there now


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="mam-install", description="Install the Matting Anything plugins for Krita "
                                "and GIMP 3 for this user, configured to start this daemon.")
    p.add_argument("--dry-run", action="store_true", help="print what would be done; change nothing")
    p.add_argument("--uninstall", action="store_true", help="remove what mam-install installed")
    p.add_argument("--endpoint", default=DEFAULT_ENDPOINT, help="where the daemon listens (default %(default)s)")
    p.add_argument("--no-weights", action="store_true",
                   help="do not download the weights (the daemon then runs in classic mode until you do)")
    p.add_argument("--no-krita", action="store_true", help="leave Krita alone")
    p.add_argument("--no-gimp", action="store_true", help="leave GIMP alone")
    p.add_argument("--gimp-version", action="append", choices=GIMP_VERSIONS,
                   help="GIMP 3 series to install for (repeatable; default: those found, else 3.0)")
    p.add_argument("--service", action="store_true",
                   help="also start the daemon at login (systemd user unit on Linux, launchd agent on macOS)")
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    loc = current()
    try:
        if args.uninstall:
            return uninstall(loc, args.dry_run)
        gimp = [] if args.no_gimp else (args.gimp_version or gimp_versions_found(loc) or ["3.0"])
        installer = Installer(loc, args.endpoint, sorted(set(gimp)), not args.no_krita, not args.no_weights,
                              args.service)
        return installer.install(args.dry_run)
    except (InstallError, OSError, ValueError) as exc:
        print(f"mam-install: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
