"""mam-server: the ZeroMQ daemon that serves MattingEngine to the editor plugins (docs/PROTOCOL.md)."""

__version__ = "0.1.0"
