"""Messages the GIMP plug-in shows the artist (the client library words the daemon's own problems)."""
from __future__ import annotations


def replace_mask_question(layer_name: str) -> str:
    """Asked in the GUI before an existing layer mask is overwritten."""
    return f"Layer \"{layer_name}\" already has a layer mask. Replace it with the subject's matte?"


def mask_exists_in_batch(layer_name: str) -> str:
    """The batch-mode error when a mask would be overwritten without replace-mask."""
    return (f"Layer \"{layer_name}\" already has a layer mask; pass replace-mask=TRUE to replace it, "
            "or remove the mask first.")


def needs_rgb_image() -> str:
    """Extract Subject makes an RGBA layer, which a grayscale or indexed image cannot hold."""
    return "Extract Subject needs an RGB image: convert it with Image ▸ Mode ▸ RGB first."


def progress_label(hello: dict) -> str:
    """The progress bar's prefix; it names the classic (no-weights) mode whenever the daemon runs it,
    so nobody mistakes its mattes for the MAM model's."""
    model = hello.get("model") if isinstance(hello.get("model"), dict) else {}
    if model.get("backend") == "classic":
        return "Matting Anything [CLASSIC MODE, no model weights]"
    return "Matting Anything"
