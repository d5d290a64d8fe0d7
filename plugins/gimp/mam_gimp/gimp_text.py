"""Text prompts in the GIMP plug-in ("Select: the dog"), without GIMP: what is sent, what the artist is told,
and how the instances of an "all instances" answer are named and cut.

The daemon finds the named subject with its text detector (protocol revision 1.3); the selection's box and the path
points still go with the text and narrow the detections (the daemon applies them). A layer has one mask and an image
one selection, so those outputs take the union of the instances; Extract Subject makes one layer per instance.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Optional, Sequence

TEXT_FEATURE = "text"                                   # hello `features` entry: the daemon has detector weights
DETECTOR_COMMAND = "mam-weights download grounding-dino-tiny"
GROUP_SUFFIX = " (Matting Anything)"


class TextPromptError(ValueError):
    """The text prompt cannot be used as asked; the message says what to do."""


@dataclass(frozen=True)
class TextRequest:
    """The text options of one matte request; `text` None means no text prompt."""

    text: Optional[str] = None
    all_instances: bool = False

    def client_kwargs(self) -> dict:
        """Keyword arguments for MamClient.matte (none without text: an older daemon is then never asked)."""
        if self.text is None:
            return {}
        return {"text": self.text, "instances": "all" if self.all_instances else "best"}


def text_request(text: Optional[str], all_instances: bool, refine_selection: bool = False) -> TextRequest:
    """The request for the dialog's / procedure's `text` and `all-instances` values. Blank text means no text
    prompt ("all instances" then does nothing). The daemon refuses a mask with text, so "Refine the selection"
    is refused here first, with the way out."""
    phrase = (text or "").strip()
    if not phrase:
        return TextRequest()
    if refine_selection:
        raise TextPromptError("\"Refine the selection\" cannot be combined with a text prompt: untick it (the "
                              "selection's box still narrows where the text is looked for), or clear the text.")
    return TextRequest(phrase, bool(all_instances))


def text_offered(hello: object) -> bool:
    """Whether the daemon's hello lists text prompts (it does only while it has detector weights)."""
    features = hello.get("features") if isinstance(hello, dict) else None
    return isinstance(features, list) and TEXT_FEATURE in features


def text_not_offered(endpoint: str) -> str:
    """Why a text prompt cannot run, and how to make it possible."""
    return (f"Matting Anything: text prompts are not available: the daemon at {endpoint} has no text-detector "
            f"weights. Install them on the daemon's machine with  {DETECTOR_COMMAND}  (about 700 MB; the running "
            "daemon offers text prompts from the next request on), or clear the \"Select\" text and prompt with a "
            "selection or a path.")


def nothing_found(text: str, notes: Sequence[str] = ()) -> str:
    """The message when the detector found nothing (the image is left as it was)."""
    said = "; ".join(str(n).rstrip(".") for n in notes)
    detail = f" The daemon says: {said}." if said else ""
    return (f"Matting Anything: nothing matching \"{text}\" was found; the image is unchanged.{detail} Try other "
            "words, or a larger selection or no selection (a selection limits where the text is looked for).")


def instance_names(labels: Sequence[str], text: str) -> list[str]:
    """A layer name per instance, best first: its label and its number among the instances with that label
    ("dog 1", "dog 2", "cat 1"); an instance without a label is named after the phrase."""
    counts: dict[str, int] = {}
    names = []
    for label in labels:
        base = " ".join(label.split()) or " ".join(text.split())
        counts[base] = counts.get(base, 0) + 1
        names.append(f"{base} {counts[base]}")
    return names


def group_name(text: str) -> str:
    """The layer group holding one layer per instance."""
    return f"\"{' '.join(text.split())}\"{GROUP_SUFFIX}"


def cut_window(data: bytes, width: int, height: int, sample_bytes: int, x: int, y: int, w: int, h: int) -> bytes:
    """The (x, y, w, h) window of a `width` x `height` frame of `sample_bytes` per pixel (e.g. the union's colours
    under one instance's alpha window). Row slices only, no per-pixel loop."""
    if len(data) != width * height * sample_bytes:
        raise ValueError(f"frame is {len(data)} bytes; {width}x{height} at {sample_bytes} byte(s) per pixel "
                         f"needs {width * height * sample_bytes}")
    if x < 0 or y < 0 or w < 0 or h < 0 or x + w > width or y + h > height:
        raise ValueError(f"window {w}x{h} at ({x}, {y}) is not inside the {width}x{height} frame")
    if (x, y, w, h) == (0, 0, width, height):
        return bytes(data)
    row = width * sample_bytes
    return b"".join(data[(y + r) * row + x * sample_bytes:(y + r) * row + (x + w) * sample_bytes] for r in range(h))


__all__ = ["TEXT_FEATURE", "DETECTOR_COMMAND", "TextPromptError", "TextRequest", "text_request", "text_offered",
           "text_not_offered", "nothing_found", "instance_names", "group_name", "cut_window"]
