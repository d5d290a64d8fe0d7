"""The login service that starts the daemon: a systemd user unit (Linux) or a launchd agent (macOS).

Only the text of the file is made here; installing it is one whole-file write, and enabling it is the
platform's own command (systemctl --user / launchctl), whose failure is reported, never fatal.
"""
from __future__ import annotations

import shutil
import subprocess
from pathlib import Path
from xml.sax.saxutils import escape as xml_escape

LAUNCHD_LABEL = "org.matting-anything.mam-server"
SYSTEMD_UNIT = "mam-server.service"


def _systemd_word(arg: str) -> str:
    word = arg.replace("%", "%%")
    if any(c in word for c in ' "\\\'$;'):
        return '"' + word.replace("\\", "\\\\").replace('"', '\\"').replace("$", "$$") + '"'
    return word


def systemd_unit(argv: list[str], log: Path) -> str:
    return ("[Unit]\n"
            "Description=Matting Anything daemon for the Krita and GIMP plugins (mam-server)\n"
            "After=network.target\n\n"
            "[Service]\n"
            f"ExecStart={' '.join(_systemd_word(a) for a in argv)}\n"
            "Restart=on-failure\n"
            "RestartSec=5\n\n"
            "[Install]\n"
            "WantedBy=default.target\n")


def launchd_plist(argv: list[str], log: Path) -> str:
    args = "\n".join(f"    <string>{xml_escape(a)}</string>" for a in argv)
    return ('<?xml version="1.0" encoding="UTF-8"?>\n'
            '<!DOCTYPE plist PUBLIC "-//Apple//DTD PLIST 1.0//EN" '
            '"http://www.apple.com/DTDs/PropertyList-1.0.dtd">\n'
            '<plist version="1.0">\n<dict>\n'
            f"  <key>Label</key><string>{LAUNCHD_LABEL}</string>\n"
            f"  <key>ProgramArguments</key>\n  <array>\n{args}\n  </array>\n"
            "  <key>RunAtLoad</key><true/>\n"
            "  <key>KeepAlive</key><dict><key>SuccessfulExit</key><false/></dict>\n"
            f"  <key>StandardErrorPath</key><string>{xml_escape(str(log))}</string>\n"
            "</dict>\n</plist>\n")


def service_text(platform: str, argv: list[str], log: Path) -> str:
    return launchd_plist(argv, log) if platform == "darwin" else systemd_unit(argv, log)


def enable_commands(platform: str, path: Path) -> list[list[str]]:
    if platform == "darwin":
        return [["launchctl", "load", "-w", str(path)]]
    return [["systemctl", "--user", "daemon-reload"], ["systemctl", "--user", "enable", "--now", SYSTEMD_UNIT]]


def disable_commands(platform: str, path: Path) -> list[list[str]]:
    if platform == "darwin":
        return [["launchctl", "unload", "-w", str(path)]]
    return [["systemctl", "--user", "disable", "--now", SYSTEMD_UNIT]]


def run_commands(commands: list[list[str]]) -> str | None:
    """Run each command; None when all succeeded, else what failed (and the commands to run by hand)."""
    for cmd in commands:
        if shutil.which(cmd[0]) is None:
            return f"{cmd[0]} is not available here"
        try:
            done = subprocess.run(cmd, capture_output=True, text=True, timeout=60)
        except (OSError, subprocess.TimeoutExpired) as exc:
            return f"{' '.join(cmd)}: {exc}"
        if done.returncode != 0:
            return f"{' '.join(cmd)} failed: {(done.stderr or done.stdout).strip()[:300]}"
    return None
