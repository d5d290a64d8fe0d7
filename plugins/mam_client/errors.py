"""Exceptions a plugin catches, each carrying a message it can show the artist as is."""
from __future__ import annotations

from typing import Optional

START_HINT = ("Start it with:  mam-server --endpoint {endpoint}   "
              "(from a source checkout: python -m mam_server.main --endpoint {endpoint})")


class DaemonUnavailable(ConnectionError):
    """The daemon is not running, not reachable, or went away during a request."""

    def __init__(self, endpoint: str, problem: str, hint: Optional[str] = None) -> None:
        """`hint`: what the user can do, instead of the default "start it with ..." line."""
        super().__init__(f"MAM daemon at {endpoint}: {problem}. "
                         + (START_HINT.format(endpoint=endpoint) if hint is None else hint))
        self.endpoint = endpoint


class DaemonTimeout(TimeoutError):
    """The daemon is connected but did not answer within the call's timeout."""


class MamError(Exception):
    """An `error` reply from the daemon (or a reply this client cannot use); `.code` is machine-readable."""

    def __init__(self, code: str, message: str, request_id: Optional[str] = None) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message
        self.request_id = request_id


class MatteCancelled(MamError):
    """The request was cancelled (by this client or superseded by a newer one) before it finished."""


class ProtocolMismatch(MamError):
    """The daemon speaks another protocol version; plugin and daemon must be updated together."""
