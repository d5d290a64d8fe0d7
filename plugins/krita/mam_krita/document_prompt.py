"""Collect the prompt from a Krita document: global selection and shapes on the point layers."""
from __future__ import annotations

from .prompts import CanvasPrompt, ShapeInfo, build_prompt, is_points_layer


def _walk(node):
    for child in node.childNodes():
        yield child
        yield from _walk(child)


def point_shapes(doc) -> list[ShapeInfo]:
    """Geometry and SVG of every shape on vector layers named as point layers (any depth)."""
    shapes = []
    for node in _walk(doc.rootNode()):
        if node.type() != "vectorlayer" or not is_points_layer(node.name()):
            continue
        for shape in node.shapes():
            r = shape.boundingBox()
            shapes.append(ShapeInfo(node.name(), r.left(), r.top(), r.right(), r.bottom(), shape.toSvg()))
    return shapes


def selection_bytes(doc):
    """The global selection over the whole image (1 byte per pixel), or None without one."""
    sel = doc.selection()
    if sel is None:
        return None
    return bytes(sel.pixelData(0, 0, doc.width(), doc.height()))


def collect_prompt(doc, refine_selection: bool, text=None) -> CanvasPrompt:
    """The prompt for `doc` (with the docker's cleaned `text`, if any); prompts.PromptError when it has
    neither a selection, points nor a text."""
    return build_prompt(selection_bytes(doc), point_shapes(doc), doc.width(), doc.height(),
                        doc.xRes(), doc.yRes(), refine_selection, text)
