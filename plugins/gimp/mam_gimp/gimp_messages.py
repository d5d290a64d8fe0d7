"""Messages the GIMP plug-in shows when it cannot do its job, worded for the artist."""
from __future__ import annotations


def start_command(endpoint: str) -> str:
    """The command that starts a daemon listening where the plug-in looks for it."""
    return f"mam-server --endpoint {endpoint}"


def daemon_unreachable(endpoint: str, reason: str) -> str:
    """Shown when nothing answers at the endpoint: says how to start the daemon."""
    return (f"The Matting Anything daemon does not answer at {endpoint} ({reason}).\n"
            f"Start it in a terminal with:\n    {start_command(endpoint)}\n"
            "(from the project's virtual environment; `python -m server.main --endpoint "
            f"{endpoint}` works too), then run the command again.")


def mask_exists(layer_name: str) -> str:
    """Asked (or reported in batch mode) before an existing layer mask would be overwritten."""
    return (f"Layer \"{layer_name}\" already has a layer mask. Replace it with the subject's matte? "
            "(In batch mode pass replace-mask=TRUE.)")
