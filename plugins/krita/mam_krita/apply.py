"""Put a matte into the document: a soft global selection, a transparency mask on a layer, or a new
layer holding the extracted subject.

Existing layers' pixels are never touched. The transparency mask and the subject layer are built
completely (pixels set while detached) before the one call that inserts them, Node.addChildNode,
which Krita runs as a single undoable command: one Ctrl+Z removes the whole result.
Krita 5.2's scripting API has no undoable way to replace the global selection (Document.setSelection
pushes no undo command), and a selection written with Selection.setPixelData keeps the empty outline cache
a new selection starts with, marked valid, so Krita draws no marching ants for it. The selection therefore
goes through Krita's own Select Opaque (Replace) action, one undo step that builds its selection with a
fresh outline: for the length of the action a transparency mask holding the matte hangs on the active
layer, outside the undo history (Node.setChildNodes: it records nothing, and on a layer without child
nodes it adds and removes exactly that mask), so the layer's alpha there is the matte. The result is
checked against the matte; where it differs (the layer is not opaque there: the step is undone) or the
route cannot run (the image is not in the active view, the active node is not a paint layer without
masks), the selection is set directly, not undoable in Krita 5.2, and the docker says so.

A text prompt with "All instances" gives one node per instance. Krita adds one node per undo step, so
they are built inside a detached group layer (Node.setChildNodes on a node outside the image records
nothing) and the group goes in with the one Node.addChildNode: one Ctrl+Z removes all of them. A layer's
transparency masks multiply (two masks on one layer show only where both are opaque), so the instances'
masks sit on clone layers of the active layer, one each, in that group; the layer itself is left as it is.
"""
from __future__ import annotations

from krita import Krita, Selection

from .cutout import layer_pixels
from .text_prompt import crop_window

MASK_NAME = "Matte (Matting Anything)"
SUBJECT_LAYER_NAME = "Subject (Matting Anything)"


def _selection(alpha: bytes, x: int, y: int, width: int, height: int) -> Selection:
    sel = Selection()
    if width > 0 and height > 0:
        sel.setPixelData(alpha, x, y, width, height)
    return sel


TEMPORARY_MASK_NAME = "Matte (Matting Anything, temporary)"
SELECT_OPAQUE, DESELECT = "selectopaque", "deselect"


def _in_active_view(doc) -> bool:
    window = Krita.instance().activeWindow()
    view = window.activeView() if window is not None else None
    return view is not None and view.document() == doc


def _selection_is(doc, alpha: bytes, x: int, y: int, width: int, height: int) -> bool:
    sel = doc.selection()
    return sel is not None and bytes(sel.pixelData(x, y, width, height)) == bytes(alpha)


last_selection_route = ""   # how the last selection was applied, or why Select Opaque could not be used


def apply_selection(doc, alpha: bytes, x: int, y: int, width: int, height: int) -> bool:
    """Replace the global selection with the 8-bit matte placed at (x, y) (outside it: unselected). True when
    it went through Krita's undoable Select Opaque (one undo step, marching ants drawn); False when it had to
    be set directly (not undoable in Krita 5.2)."""
    global last_selection_route
    last_selection_route = "the image is not in the active view"
    if _in_active_view(doc):
        if width <= 0 or height <= 0 or not any(alpha):
            Krita.instance().action(DESELECT).trigger()
            doc.waitForDone()
            last_selection_route = "deselect"
            return True
        layer = doc.activeNode()
        last_selection_route = "the active node is not a paint layer without masks"
        if layer is not None and layer.type() == "paintlayer" and not layer.childNodes():
            last_selection_route = _select_opaque(doc, layer, alpha, x, y, width, height)
            if last_selection_route == "select opaque":
                return True
    doc.setSelection(_selection(alpha, x, y, width, height))
    doc.waitForDone()
    return False


def _select_opaque(doc, layer, alpha: bytes, x: int, y: int, width: int, height: int) -> str:
    """"select opaque" when Krita's Select Opaque, run on the active `layer` while a transparency mask holding the
    matte hangs on it (outside the undo history), gave exactly the matte; else why not (any wrong Select Opaque
    step is undone)."""
    mask = doc.createTransparencyMask(TEMPORARY_MASK_NAME)
    mask.setSelection(_selection(alpha, x, y, width, height))
    layer.setChildNodes([mask])   # outside the undo history; the layer's projection alpha becomes alpha x matte
    try:
        doc.refreshProjection()
        doc.waitForDone()
        action = Krita.instance().action(SELECT_OPAQUE)
        if action is None or not action.isEnabled():
            return "Krita's Select Opaque action is not available"
        action.trigger()
        doc.waitForDone()
    finally:
        layer.setChildNodes([])
        doc.refreshProjection()
        doc.waitForDone()
    if _selection_is(doc, alpha, x, y, width, height):
        return "select opaque"
    Krita.instance().action("edit_undo").trigger()   # the layer is not opaque there: take that step back
    doc.waitForDone()
    return "the active layer is not opaque where the matte is"


def apply_transparency_mask(doc, layer, alpha: bytes, x: int, y: int, width: int, height: int,
                            name: str = MASK_NAME):
    """Add a transparency mask holding the matte on top of `layer`'s masks; returns the mask node."""
    mask = doc.createTransparencyMask(name)
    mask.setSelection(_selection(alpha, x, y, width, height))
    layer.addChildNode(mask, None)
    doc.refreshProjection()
    doc.waitForDone()
    return mask


def apply_subject_layer(doc, above, foreground: bytes, alpha: bytes, x: int, y: int, width: int, height: int,
                        name: str = SUBJECT_LAYER_NAME):
    """Add a paint layer (the document's colour space) right above `above` (None: on top of the
    image) holding the subject's colours with the matte as transparency; returns the new layer."""
    layer = doc.createNode(name, "paintlayer")
    if width > 0 and height > 0:
        pixels = layer_pixels(foreground, alpha, width, height, layer.colorModel(), layer.colorDepth())
        layer.setPixelData(pixels, x, y, width, height)
    parent = above.parentNode() if above is not None else doc.rootNode()
    if not parent.addChildNode(layer, above):
        raise RuntimeError("Krita did not add the subject layer")
    doc.refreshProjection()
    doc.waitForDone()
    return layer


def _add_group(doc, above, name: str, children: list):
    """A group layer holding `children` (built while detached: no undo step) added right above `above` in one
    step; returns it."""
    group = doc.createGroupLayer(name)
    group.setChildNodes(children)
    parent = above.parentNode() if above is not None else doc.rootNode()
    if not parent.addChildNode(group, above):
        raise RuntimeError("Krita did not add the group of instances")
    doc.refreshProjection()
    doc.waitForDone()
    return group


def apply_instance_masks(doc, layer, instances, names: list, group: str):
    """One clone layer of `layer` per instance, each with a transparency mask holding that instance's matte, in
    one new group right above `layer` (one undo step); returns the group."""
    clones = []
    for instance, name in zip(instances, names):
        clone = doc.createCloneLayer(name, layer)
        mask = doc.createTransparencyMask(name)
        mask.setSelection(_selection(instance.alpha, instance.x, instance.y, instance.width, instance.height))
        clone.setChildNodes([mask])
        clones.append(clone)
    return _add_group(doc, layer, group, clones)


def apply_instance_layers(doc, above, foreground: bytes, union: tuple, instances, names: list, group: str):
    """One paint layer per instance (the subject's colours, estimated once on the union, with the instance's
    matte as transparency) in one new group right above `above` (one undo step); returns the group.
    `union` is the (x, y, width, height) window of `foreground`."""
    layers = []
    for instance, name in zip(instances, names):
        window = (instance.x, instance.y, instance.width, instance.height)
        layer = doc.createNode(name, "paintlayer")
        if instance.width > 0 and instance.height > 0:
            colours = crop_window(foreground, 3, union[2], union[3], union[0], union[1], *window)
            layer.setPixelData(layer_pixels(colours, instance.alpha, instance.width, instance.height,
                                            layer.colorModel(), layer.colorDepth()), *window)
        layers.append(layer)
    return _add_group(doc, above, group, layers)
