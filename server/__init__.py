"""mam-server: the ZeroMQ daemon that serves MattingEngine to the editor plugins (docs/PROTOCOL.md)."""

from mam_engine import __version__

__all__ = ["__version__"]
