"""Messages the GIMP plug-in shows the artist (the client library words the daemon's own problems)."""
from __future__ import annotations


def mask_exists(layer_name: str) -> str:
    """Asked (or reported in batch mode) before an existing layer mask would be overwritten."""
    return (f"Layer \"{layer_name}\" already has a layer mask. Replace it with the subject's matte? "
            "(In batch mode pass replace-mask=TRUE.)")
