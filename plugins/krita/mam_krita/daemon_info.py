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


REFINE_EDGES_FEATURE = "refine:classic"     # hello `features` entry of the classic edge refinement
REFINE_EDGES_LABEL = "Refine edges (classic)"
GUIDANCE_LABELS = (("alpha", "M2M alpha"), ("mask", "SAM mask"))   # settings value, what the docker shows
GUIDANCE_TOOLTIP = ("What guides the fusion of the matte (both give a soft matte):\n"
                    "M2M alpha: starts from the Mask-to-Matte alpha, soft everywhere inside the box (default).\n"
                    "SAM mask: starts from SAM's mask and takes M2M's alpha only in a band around its edge; "
                    "better when several objects overlap.")


def offers_refine_edges(hello) -> bool:
    """Whether the daemon's hello lists the classic edge refinement (a revision 1.0 daemon lists no
    features and ignores the option, so it must not be sent there)."""
    features = hello.get("features") if isinstance(hello, dict) else None
    return isinstance(features, list) and REFINE_EDGES_FEATURE in features


def not_offered_text(endpoint: str) -> str:
    return (f"{REFINE_EDGES_LABEL} is not available: the daemon at {endpoint} does not offer classic edge "
            "refinement (its hello lists no \"refine:classic\"); update mam-server. The matte was made without it.")


def refine_edges_option(hello, wanted: bool, endpoint: str) -> tuple:
    """(value for MamClient.matte's `refine`, note for the artist): "classic" only when asked for and
    offered; asked for but not offered gives None and a note that says so."""
    if not wanted:
        return None, ""
    if offers_refine_edges(hello):
        return "classic", ""
    return None, not_offered_text(endpoint)


def refine_edges_control(hello) -> tuple:
    """(enabled, text, tooltip) of the docker's checkbox for a daemon that answered `hello`."""
    if offers_refine_edges(hello):
        return True, REFINE_EDGES_LABEL, ("Re-solve the band around the matte's edge at the image's full "
                                          "resolution with closed-form matting (slower, finer edges)")
    return False, f"{REFINE_EDGES_LABEL}: not offered by this daemon", (
        "This daemon's hello does not list \"refine:classic\" (an older mam-server): update it to use the "
        "classic edge refinement. The stored choice is kept.")
