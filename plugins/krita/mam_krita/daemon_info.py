"""One line about the daemon for the docker, from its hello reply (docs/PROTOCOL.md, `model` map)."""
from __future__ import annotations

CLASSIC_WARNING = "CLASSIC MODE (no model weights): classical segmentation and matting, not the MAM model"


def summary(hello: dict) -> str:
    """E.g. "connected: vit_b on cuda:0, server 0.1.0"; warns loudly about random test weights and
    about the classic (no-weights) backend, so the artist knows which kind of matte to expect."""
    model = hello.get("model") if isinstance(hello.get("model"), dict) else {}
    server = f"server {hello.get('server_version', '?')}"
    device = model.get("device", "unknown device")
    if model.get("backend") == "classic":
        mode = model.get("mode")
        detail = f" — {mode}" if isinstance(mode, str) and mode else ""
        return f"connected: {CLASSIC_WARNING}{detail}; on {device}, {server}"
    text = f"connected: {model.get('model_type', 'unknown model')} on {device}, {server}"
    if model.get("random_weights"):
        text += " — RANDOM WEIGHTS (test mode): mattes are meaningless"
    elif model.get("loaded") is False:
        text += " (model loads on first use)"
    return text
