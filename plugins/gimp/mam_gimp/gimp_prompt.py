"""Turns what the artist drew in GIMP (selection, paths) into a matte prompt for one layer.

Kept free of GIMP imports so the rules can be tested without GIMP: the selection's bounding box
is the box, anchors of the active path(s) are foreground points, anchors of paths named like
BACKGROUND_PATH_NAME are background points. Everything is converted to layer coordinates, since
the daemon sees only the layer's pixels.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Iterable, Optional, Sequence

BACKGROUND_PATH_NAME = "MAM background"

Point = tuple[float, float]


class PromptError(ValueError):
    """The artist's selection and paths do not make a usable prompt; the message says what to do."""


@dataclass(frozen=True)
class LayerRect:
    """A layer's position and size in image coordinates."""

    x: int
    y: int
    width: int
    height: int


@dataclass(frozen=True)
class CanvasPrompt:
    """What the canvas (selection, paths) asks for, in layer coordinates, ready for the client's matte() call.

    Not mam_engine's Prompt (the validated request the model runs on): this is the plug-in's side.
    """

    box: Optional[tuple[int, int, int, int]]
    points: list[tuple[float, float, int]] = field(default_factory=list)
    use_mask: bool = False          # send the selection (read over the layer's rectangle) as a mask
    dropped_points: int = 0         # anchors that lie outside the layer and were left out


def is_background_path(name: str) -> bool:
    """True for paths whose name starts with BACKGROUND_PATH_NAME, in any letter case
    ("MAM background", "mam Background 2", ...), so several background paths can coexist."""
    return name.strip().casefold().startswith(BACKGROUND_PATH_NAME.casefold())


def bezier_anchors(control_points: Sequence[float]) -> list[Point]:
    """Anchor positions of one GIMP Bézier stroke.

    GIMP lists each anchor as three (x, y) pairs: incoming handle, anchor, outgoing handle.
    """
    if len(control_points) % 6:
        raise ValueError(f"a Bézier stroke has 6 numbers per anchor, got {len(control_points)}")
    return [(float(control_points[i + 2]), float(control_points[i + 3]))
            for i in range(0, len(control_points), 6)]


def _selection_box(layer: LayerRect, bounds: tuple[int, int, int, int]) -> tuple[int, int, int, int]:
    x1, y1, x2, y2 = bounds
    box = (max(x1 - layer.x, 0), max(y1 - layer.y, 0),
           min(x2 - layer.x, layer.width), min(y2 - layer.y, layer.height))
    if box[0] >= box[2] or box[1] >= box[3]:
        raise PromptError("The selection does not overlap the active layer: select around the subject "
                          "on this layer, or move the selection.")
    return box


def _points_on_layer(layer: LayerRect, anchors: Iterable[Point], label: int) -> tuple[list, int]:
    kept, dropped = [], 0
    for x, y in anchors:
        lx, ly = x - layer.x, y - layer.y
        if 0 <= lx < layer.width and 0 <= ly < layer.height:
            kept.append((lx, ly, label))
        else:
            dropped += 1
    return kept, dropped


def build_prompt(layer: LayerRect,
                 selection_bounds: Optional[tuple[int, int, int, int]],
                 foreground: Iterable[Point] = (),
                 background: Iterable[Point] = (),
                 refine_selection: bool = False, with_text: bool = False) -> CanvasPrompt:
    """The prompt for `layer` from the selection bounds (image coords, x2/y2 exclusive; None when
    nothing is selected) and path anchors (image coords).

    Raises PromptError when nothing usable is left: the daemon needs a box or a foreground point, or a text
    prompt (`with_text`: the box and points then only narrow what the text finds, and may be absent).
    """
    box = _selection_box(layer, selection_bounds) if selection_bounds is not None else None
    fg, fg_dropped = _points_on_layer(layer, foreground, 1)
    bg, bg_dropped = _points_on_layer(layer, background, 0)
    if box is None and not fg and not with_text:
        if fg_dropped:
            raise PromptError("The active path's anchors all lie outside the active layer.")
        raise PromptError("Nothing to go on: select around the subject (any selection tool), draw a path "
                          f"with anchors on it (anchors of a path named \"{BACKGROUND_PATH_NAME}\" mark "
                          "background), or type what to select (\"Select\": e.g. the dog).")
    if refine_selection and box is None:
        raise PromptError("\"Refine the selection\" needs a selection to refine.")
    return CanvasPrompt(box=box, points=fg + bg, use_mask=refine_selection,
                        dropped_points=fg_dropped + bg_dropped)


def describe_prompt(layer: LayerRect,
                    selection_bounds: Optional[tuple[int, int, int, int]],
                    foreground: Iterable[Point] = (),
                    background: Iterable[Point] = ()) -> str:
    """One line for the procedure dialog: which prompt a run would send now (from the same rules as build_prompt),
    or why there is none and what to draw."""
    try:
        prompt = build_prompt(layer, selection_bounds, foreground, background)
    except PromptError as exc:
        return f"Prompt: none yet. {exc}"
    parts = []
    if prompt.box is not None:
        x0, y0, x1, y1 = prompt.box
        parts.append(f"the selection's box ({x1 - x0} x {y1 - y0} px)")
    fg = sum(1 for *_xy, label in prompt.points if label == 1)
    bg = len(prompt.points) - fg
    if fg:
        parts.append(f"{fg} foreground point{'s' if fg > 1 else ''} (the active path's anchors)")
    if bg:
        parts.append(f"{bg} background point{'s' if bg > 1 else ''} (paths named \"{BACKGROUND_PATH_NAME}\")")
    text = "Prompt: " + " + ".join(parts) + "."
    if prompt.dropped_points:
        text += f" {prompt.dropped_points} anchor(s) off the layer are left out."
    return text + " Text in \"Select\" is sent with it and narrows it."
