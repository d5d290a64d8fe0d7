"""Plugin settings: defaults, validation and persistence through Krita's readSetting/writeSetting.

Stored values are strings (that is what Krita keeps); anything unreadable falls back to its
default so a damaged config never stops the plugin from loading. A setting that was renamed is
still read under its old key (RENAMED) until the new key has been written, so no choice is lost.
"""
from __future__ import annotations

import shlex
from dataclasses import dataclass, fields, replace
from typing import Callable

GROUP = "mam_krita"
GUIDANCES = ("alpha", "mask")
SOURCES = ("layer", "merged")
ENDPOINT_SCHEMES = ("tcp://", "ipc://")
# new key -> the key older versions of the plugin stored the same setting under
RENAMED = {"refine_selection": "refine"}


class SettingsError(ValueError):
    """A value the user typed cannot be used (the message says which and why)."""


@dataclass(frozen=True)
class Settings:
    endpoint: str = "tcp://127.0.0.1:5757"
    guidance: str = "alpha"            # what guides MAM's fusion: "alpha" (M2M's alpha) | "mask" (SAM's mask)
    refine_selection: bool = False     # also send the current selection itself, as a mask prompt to refine
    refine_edges: bool = False         # options.refine="classic": re-solve the matte's edge at full resolution
    source: str = "layer"              # "layer" (active layer) | "merged" (the whole image)
    all_instances: bool = False        # a text prompt mattes every instance found, not only the best one
    timeout_s: float = 120.0           # longest wait for the daemon, per request
    server_command: str = "mam-server --endpoint {endpoint}"

    def validated(self) -> Settings:
        """Self, or SettingsError naming the first bad field."""
        if not self.endpoint.startswith(ENDPOINT_SCHEMES) or len(self.endpoint) <= 6:
            raise SettingsError(f"endpoint {self.endpoint!r} must look like tcp://HOST:PORT or ipc://PATH")
        if self.guidance not in GUIDANCES:
            raise SettingsError(f"guidance {self.guidance!r} must be one of {', '.join(GUIDANCES)}")
        if self.source not in SOURCES:
            raise SettingsError(f"source {self.source!r} must be one of {', '.join(SOURCES)}")
        if not 0 < self.timeout_s <= 3600:
            raise SettingsError(f"timeout {self.timeout_s} s must be between 0 and 3600 seconds")
        server_argv(self)
        return self

    def with_value(self, name: str, text: str) -> Settings:
        """A copy with one field parsed from its stored/typed text form; SettingsError if unparsable."""
        kinds = {f.name: f.type for f in fields(self)}
        if name not in kinds:
            raise SettingsError(f"unknown setting {name!r}")
        kind = kinds[name]
        text = text.strip()
        if kind == "bool":
            if text.lower() not in ("true", "false", "1", "0"):
                raise SettingsError(f"{name} must be true or false, not {text!r}")
            value: object = text.lower() in ("true", "1")
        elif kind == "float":
            try:
                value = float(text)
            except ValueError:
                raise SettingsError(f"{name} must be a number, not {text!r}") from None
        else:
            value = text
        return replace(self, **{name: value}).validated()


def server_argv(settings: Settings) -> list[str]:
    """The configured server command as argv, with {endpoint} filled in (for the Start server button)."""
    try:
        argv = shlex.split(settings.server_command.replace("{endpoint}", shlex.quote(settings.endpoint)))
    except ValueError as e:
        raise SettingsError(f"server command {settings.server_command!r}: {e}") from None
    if not argv:
        raise SettingsError("server command is empty")
    return argv


def start_hint(settings: Settings) -> str:
    """The shell line an artist can paste to start the daemon by hand."""
    return " ".join(shlex.quote(a) for a in server_argv(settings))


def load(read: Callable[[str, str, str], str]) -> tuple[Settings, list[str]]:
    """Settings from read(group, name, default) (Krita.readSetting), and a note per value ignored."""
    current, notes = Settings(), []
    for f in fields(Settings):
        default_text = _to_text(getattr(current, f.name))
        if f.name in RENAMED:   # "" = never stored under the new key: take the old key's value
            text = read(GROUP, f.name, "") or read(GROUP, RENAMED[f.name], default_text)
        else:
            text = read(GROUP, f.name, default_text)
        if text is None or text == default_text:
            continue
        try:
            current = current.with_value(f.name, text)
        except SettingsError as e:
            notes.append(f"ignored stored setting: {e}")
    return current, notes


def save(settings: Settings, write: Callable[[str, str, str], None]) -> None:
    """Store every field through write(group, name, value) (Krita.writeSetting)."""
    for f in fields(Settings):
        write(GROUP, f.name, _to_text(getattr(settings, f.name)))


def _to_text(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)
