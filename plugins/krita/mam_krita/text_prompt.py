"""Text prompts ("the dog", "all people"): what the docker offers, and how instances are named and placed.

Pure Python (no Krita, no Qt): the docker, controller and apply modules call these. The daemon finds the
subject by name only when its hello lists the feature `text` (docs/PROTOCOL.md 4.6: it then holds text-detector
weights); a box or points sent with the text narrow the detections (the box limits where, points pick which).
"""
from __future__ import annotations

from typing import Optional, Sequence

TEXT_FEATURE = "text"
WEIGHTS_COMMAND = "mam-weights download grounding-dino-tiny"
SUFFIX = " (Matting Anything)"
NAME_CHARS = 40            # longest phrase or label used in a layer name
INSTANCES_LABEL = "All instances"
TEXT_TOOLTIP = ("Find the subject by name (\"the dog\", \"a cat. a dog.\") and press Enter to select it, or use "
                "the buttons below. A selection limits where to look; points on \"MAM points\" pick which one.")
NO_TEXT_TOOLTIP = ("This daemon cannot find subjects by name: it has no text-detector weights. Install them on "
                   f"the daemon's machine with\n  {WEIGHTS_COMMAND}\nthen press Check.")


def offers_text(hello) -> bool:
    """Whether the daemon's hello lists text prompts (it then has its detector weights)."""
    features = hello.get("features") if isinstance(hello, dict) else None
    return isinstance(features, list) and TEXT_FEATURE in features


def text_control(hello) -> tuple[bool, str]:
    """(enabled, tooltip) of the docker's text field for a daemon that answered `hello`."""
    if offers_text(hello):
        return True, TEXT_TOOLTIP
    return False, NO_TEXT_TOOLTIP


def clean_text(text: Optional[str]) -> Optional[str]:
    """The phrase to send, or None when the field holds nothing but spaces."""
    if text is None:
        return None
    text = " ".join(text.split())
    return text or None


def _short(text: str) -> str:
    text = " ".join(text.split())
    return text if len(text) <= NAME_CHARS else text[:NAME_CHARS - 1].rstrip() + "…"


def instance_names(labels: Sequence[str], fallback: str) -> list[str]:
    """Node names for the instances, best first: "dog 1 (Matting Anything)", "dog 2 (...)"; an instance with no
    label (the detector matched no phrase word above text_threshold) is named after `fallback`."""
    return [f"{_short(label) if label.strip() else fallback} {i}{SUFFIX}" for i, label in enumerate(labels, 1)]


def group_name(text: str) -> str:
    """The group that holds one node per instance: "dog (Matting Anything)"."""
    return f"{_short(text.rstrip(' .')) or 'Instances'}{SUFFIX}"


def not_found_text(text: str, notes: Sequence[str]) -> str:
    """The docker's line when the detector found nothing: nothing was changed; the daemon's note gives the best
    score it saw."""
    detail = "".join(f" {note}" for note in notes)
    return (f"Nothing matching \"{_short(text)}\" was found; the image was not changed.{detail} "
            "Try other words, or a larger selection.")


def crop_window(data: bytes, bytes_per_pixel: int, width: int, height: int, x: int, y: int,
                sub_x: int, sub_y: int, sub_width: int, sub_height: int) -> bytes:
    """The rows of a `width` x `height` frame placed at (x, y) that cover the window (sub_x, sub_y, sub_width,
    sub_height), which must lie inside it (an instance's window lies inside the union's)."""
    if len(data) != width * height * bytes_per_pixel:
        raise ValueError(f"frame is {len(data)} bytes; {width}x{height} at {bytes_per_pixel} B/px expected")
    left, top = sub_x - x, sub_y - y
    if sub_width < 0 or sub_height < 0 or left < 0 or top < 0 or left + sub_width > width \
            or top + sub_height > height:
        raise ValueError(f"window {sub_width}x{sub_height} at ({sub_x}, {sub_y}) is not inside the "
                         f"{width}x{height} frame at ({x}, {y})")
    row, start, end = width * bytes_per_pixel, left * bytes_per_pixel, (left + sub_width) * bytes_per_pixel
    return b"".join(data[r * row + start:r * row + end] for r in range(top, top + sub_height))
