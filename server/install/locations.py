"""Where each editor loads a user's plugins and keeps its settings, per platform, and where the installer
keeps its own record. Folders come from platformdirs (XDG variables honoured on Linux, the Known Folders on
Windows, ~/Library on macOS); only macOS's ~/Library/Preferences and ~/Library/LaunchAgents, which
platformdirs does not name, are spelled here.

    Krita   resources (pykrita/)  Linux $XDG_DATA_HOME/krita  macOS ~/Library/Application Support/krita
                                  Windows %APPDATA%\\krita
            kritarc               Linux $XDG_CONFIG_HOME/kritarc  macOS ~/Library/Preferences/kritarc
                                  Windows %LOCALAPPDATA%\\kritarc
    GIMP 3  profile               Linux $XDG_CONFIG_HOME/GIMP/3.x  macOS ~/Library/Application Support/GIMP/3.x
                                  Windows %APPDATA%\\GIMP\\3.x   (plug-ins/ inside)
"""
from __future__ import annotations

import os
import shutil
import sys
from dataclasses import dataclass
from pathlib import Path

import platformdirs

APP = "mam-backend"
GIMP_VERSIONS = ("3.0", "3.2")   # profile folders GIMP 3.x uses (one per minor series)


@dataclass(frozen=True)
class Locations:
    platform: str
    krita_resources: Path
    kritarc: Path
    gimp_profiles: dict[str, Path]       # GIMP version -> its profile folder
    state: Path                          # the installer's record and the daemon's log
    service: Path | None                 # the login service file (systemd user unit / launchd agent), if any

    @property
    def pykrita(self) -> Path:
        return self.krita_resources / "pykrita"

    @property
    def manifest(self) -> Path:
        return self.state / "install.json"

    @property
    def daemon_log(self) -> Path:
        return self.state / "mam-server.log"

    def gimp_plugins(self, version: str) -> Path:
        return self.gimp_profiles[version] / "plug-ins"


def _home() -> Path:
    return Path(os.environ.get("HOME") or Path.home())


def current(platform: str = sys.platform) -> Locations:
    """The folders for the user running this (HOME and the XDG / Windows variables are read now)."""
    if platform == "darwin":
        home = _home()
        krita_rc = home / "Library" / "Preferences" / "kritarc"
        service: Path | None = home / "Library" / "LaunchAgents" / "org.matting-anything.mam-server.plist"
    elif platform.startswith("win"):
        krita_rc = platformdirs.user_data_path(roaming=False) / "kritarc"        # %LOCALAPPDATA%
        service = None
    else:
        krita_rc = platformdirs.user_config_path() / "kritarc"                   # $XDG_CONFIG_HOME
        service = platformdirs.user_config_path() / "systemd" / "user" / "mam-server.service"
    return Locations(
        platform=platform,
        krita_resources=platformdirs.user_data_path("krita", appauthor=False, roaming=True),
        kritarc=krita_rc,
        gimp_profiles={v: platformdirs.user_config_path("GIMP", appauthor=False, version=v, roaming=True)
                       for v in GIMP_VERSIONS},
        state=platformdirs.user_data_path(APP, appauthor=False, roaming=False),
        service=service,
    )


def krita_found(loc: Locations) -> bool:
    """Krita is on this machine: its command is on PATH, or it has made its settings or resources here."""
    return bool(shutil.which("krita")) or loc.kritarc.exists() or loc.krita_resources.exists() \
        or (loc.platform == "darwin" and Path("/Applications/krita.app").exists())


def gimp_versions_found(loc: Locations) -> list[str]:
    """The GIMP 3 series present: a profile folder, or a gimp-3.x / gimp-console-3.x command on PATH."""
    found = []
    for version in GIMP_VERSIONS:
        if loc.gimp_profiles[version].exists() or shutil.which(f"gimp-{version}") \
                or shutil.which(f"gimp-console-{version}"):
            found.append(version)
    return found
