"""Put a matte into the document: a soft global selection, or a transparency mask on a layer.

Layer pixels are never touched. The transparency mask is built completely (pixels set on a
detached Selection) before the one call that inserts it, Node.addChildNode, which Krita runs
as a single undoable command: one Ctrl+Z removes the whole matte.
Krita 5.2's scripting API has no undoable way to replace the global selection
(Document.setSelection pushes no undo command), so the selection target is applied directly.
"""
from __future__ import annotations

from krita import Selection

MASK_NAME = "Matte (Matting Anything)"


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
