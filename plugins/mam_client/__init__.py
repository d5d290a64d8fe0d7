"""Client library the Krita and GIMP plugins bundle (by copying this folder) to reach the MAM daemon.

Standard library only; pyzmq and msgpack are used when importable. See /work/notes/README_client.md
(and docs/PROTOCOL.md for the wire format).
"""
from .client import BYTES_PER_PIXEL, DEFAULT_ENDPOINT, PROTOCOL_VERSION, DaemonMatte, DaemonPrepare, MamClient
from .errors import DaemonTimeout, DaemonUnavailable, MamError, MatteCancelled, ProtocolMismatch
from .transport import PURE_PYTHON_ENV, CurveKeys

__all__ = ["MamClient", "DaemonMatte", "DaemonPrepare", "MamError", "MatteCancelled", "ProtocolMismatch",
           "DaemonUnavailable", "DaemonTimeout", "CurveKeys", "DEFAULT_ENDPOINT", "PROTOCOL_VERSION", "BYTES_PER_PIXEL",
           "PURE_PYTHON_ENV"]
