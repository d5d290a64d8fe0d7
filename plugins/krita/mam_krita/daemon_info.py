"""One line about the daemon for the docker, from its hello reply (docs/PROTOCOL.md, `model` map)."""
from __future__ import annotations


def summary(hello: dict) -> str:
    """E.g. "connected: vit_b on cuda:0, server 0.1.0"; warns loudly about random test weights."""
    model = hello.get("model") if isinstance(hello.get("model"), dict) else {}
    text = (f"connected: {model.get('model_type', 'unknown model')} on {model.get('device', 'unknown device')}, "
            f"server {hello.get('server_version', '?')}")
    if model.get("random_weights"):
        text += " — RANDOM WEIGHTS (test mode): mattes are meaningless"
    elif model.get("loaded") is False:
        text += " (model loads on first use)"
    return text
