"""Put a matte into the document: a soft global selection, a transparency mask on a layer, or a new
layer holding the extracted subject.

Existing layers' pixels are never touched. The transparency mask and the subject layer are built
completely (pixels set while detached) before the one call that inserts them, Node.addChildNode,
which Krita runs as a single undoable command: one Ctrl+Z removes the whole result.
Krita 5.2's scripting API has no undoable way to replace the global selection
(Document.setSelection pushes no undo command), so the selection target is applied directly.
"""
from __future__ import annotations

from krita import Selection

from .cutout import layer_pixels

MASK_NAME = "Matte (Matting Anything)"
SUBJECT_LAYER_NAME = "Subject (Matting Anything)"


def _selection(alpha: bytes, x: int, y: int, width: int, height: int) -> Selection:
    sel = Selection()
    if width > 0 and height > 0:
        sel.setPixelData(alpha, x, y, width, height)
    return sel


def apply_selection(doc, alpha: bytes, x: int, y: int, width: int, height: int) -> None:
    """Replace the global selection with the 8-bit matte placed at (x, y)."""
    doc.setSelection(_selection(alpha, x, y, width, height))
    doc.waitForDone()


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
