"""Reading and changing a few keys of Krita's kritarc (KConfig's INI dialect) without disturbing the rest.

Every line the installer does not touch is kept byte for byte (KConfig files carry escapes, `[$e]` flags
and groups this module does not need to understand). Values are written with KConfig's escapes for
backslash, newline, tab and a leading space. The file is replaced whole (a temporary file, then rename).
"""
from __future__ import annotations

import os
import tempfile
from pathlib import Path


def escape(value: str) -> str:
    out = value.replace("\\", "\\\\").replace("\n", "\\n").replace("\t", "\\t").replace("\r", "\\r")
    return "\\s" + out[1:] if out.startswith(" ") else out


def unescape(text: str) -> str:
    out, i = [], 0
    table = {"\\": "\\", "n": "\n", "t": "\t", "r": "\r", "s": " "}
    while i < len(text):
        ch = text[i]
        if ch == "\\" and i + 1 < len(text) and text[i + 1] in table:
            out.append(table[text[i + 1]])
            i += 2
            continue
        out.append(ch)
        i += 1
    return "".join(out)


def _group_of(line: str) -> str | None:
    stripped = line.strip()
    if stripped.startswith("[") and stripped.endswith("]"):
        return stripped[1:-1]
    return None


def _key_of(line: str) -> str | None:
    if "=" not in line or line.lstrip().startswith(("#", "[")):
        return None
    key = line.split("=", 1)[0].strip()
    return key.split("[", 1)[0] if not key.startswith("[") else None   # key[$e] / key[de] -> key


def read(text: str, group: str, key: str) -> str | None:
    current = None
    for line in text.splitlines():
        g = _group_of(line)
        if g is not None:
            current = g
        elif current == group and _key_of(line) == key:
            return unescape(line.split("=", 1)[1])
    return None


def set_keys(text: str, group: str, values: dict[str, str]) -> str:
    """`text` with group's keys set to values: existing lines replaced in place, new keys appended to the
    group, a missing group appended at the end."""
    lines = text.splitlines()
    pending = dict(values)
    current, group_end = None, None
    for i, line in enumerate(lines):
        g = _group_of(line)
        if g is not None:
            current = g
            if g == group:
                group_end = i + 1
            continue
        if current == group:
            key = _key_of(line)
            if key in pending:
                lines[i] = f"{key}={escape(pending.pop(key))}"
            if line.strip():
                group_end = i + 1
    new = [f"{k}={escape(v)}" for k, v in pending.items()]
    if group_end is not None:
        lines[group_end:group_end] = new
    elif new:
        if lines and lines[-1].strip():
            lines.append("")
        lines += [f"[{group}]", *new]
    return "\n".join(lines) + "\n"


def remove(text: str, group: str, keys: list[str] | None = None) -> str:
    """`text` without the given keys of group (all of the group when keys is None); a group left empty goes."""
    lines = text.splitlines()
    out: list[str] = []
    current, header_at = None, None
    for line in lines:
        g = _group_of(line)
        if g is not None:
            _drop_empty_group(out, header_at)
            current = g
            header_at = len(out) if g == group else None
            out.append(line)
            continue
        if current == group and (keys is None or _key_of(line) in keys):
            continue
        out.append(line)
    _drop_empty_group(out, header_at)
    while out and not out[-1].strip():
        out.pop()
    return "\n".join(out) + "\n" if out else ""


def _drop_empty_group(out: list[str], header_at: int | None) -> None:
    if header_at is not None and not any(line.strip() for line in out[header_at + 1:]):
        del out[header_at:]
        while out and not out[-1].strip():
            out.pop()
        if out:
            out.append("")


def write_whole(path: Path, text: str) -> None:
    """Replace path's content with text atomically (keeps the mode of an existing file)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="\n") as f:
            f.write(text)
        if path.exists():
            os.chmod(tmp, path.stat().st_mode & 0o7777)
        else:
            os.chmod(tmp, 0o666 & ~_umask())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask
