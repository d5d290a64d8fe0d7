"""Messages the GIMP plug-in shows the artist (the client library words the daemon's own problems)."""
from __future__ import annotations

# guidance: value, index, label, help. Both give a soft matte: only what MAM's fusion starts from differs.
GUIDANCE_CHOICES = (
    ("alpha", 0, "M2M alpha", "Fusion starts from the Mask-to-Matte alpha: soft edges everywhere inside the box "
                              "(the default)"),
    ("mask", 1, "SAM mask", "Fusion starts from SAM's mask and takes M2M's alpha only in a band around its edge: "
                            "still a soft matte; better when several objects overlap"),
)


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


def click_needs_a_person() -> str:
    """Click to Select run from a script."""
    return ("Click to Select is interactive (it shows a dialog to click in). In scripts, call "
            "plug-in-mam-add-layer-mask, plug-in-mam-select-subject or plug-in-mam-extract-subject: the selection's "
            "box and the anchors of the active path (foreground) and of paths named \"MAM background\" are the "
            "prompt.")


def progress_label(hello: dict) -> str:
    """The progress bar's prefix; it names the classic (no-weights) mode whenever the daemon runs it,
    so nobody mistakes its mattes for the MAM model's."""
    model = hello.get("model")
    if isinstance(model, dict) and model.get("backend") == "classic":
        return "Matting Anything [CLASSIC MODE, no model weights]"
    return "Matting Anything"


REFINE_EDGES_FEATURE = "refine:classic"     # hello `features` entry of the classic edge refinement


class RefineEdgesUnavailable(ValueError):
    """Refine edges (classic) was asked of a daemon that does not offer it."""


def refine_edges_offered(hello: dict) -> bool:
    """Whether the daemon's hello lists the classic edge refinement in `features` (a revision 1.0 daemon lists
    none and would silently ignore the option)."""
    features = hello.get("features") if isinstance(hello, dict) else None
    return isinstance(features, list) and REFINE_EDGES_FEATURE in features


def refine_edges_not_offered(endpoint: str) -> str:
    return (f"Matting Anything: \"Refine edges (classic)\" is not available: the daemon at {endpoint} does not "
            "offer classic edge refinement (its hello lists no \"refine:classic\"). Update mam-server, or run "
            "again with Refine edges unticked (refine-edges=FALSE).")


def refine_edges_option(hello: dict, wanted: bool, endpoint: str):
    """The `refine` value for the matte request: "classic" when asked for and offered by the daemon, None when
    not asked for. Asked for but not offered raises RefineEdgesUnavailable with a message for the artist, and
    nothing is sent."""
    if not wanted:
        return None
    if refine_edges_offered(hello):
        return "classic"
    raise RefineEdgesUnavailable(refine_edges_not_offered(endpoint))
