"""The one error type of request validation, and the rule that bounds how much user input an error echoes."""
from __future__ import annotations

from typing import Literal

ECHO_CHARS = 200

RequestErrorCode = Literal["bad_request", "too_large", "too_many_points", "missing_weights"]


def clip(text: str, limit: int = ECHO_CHARS) -> str:
    """`text` cut to `limit` characters: an error or log line never carries unbounded user input."""
    return text if len(text) <= limit else text[: limit - 1] + "…"


def echo(value: object, limit: int = ECHO_CHARS) -> str:
    """How a user's value appears in a message: its repr, clipped."""
    return clip(repr(value), limit)


class RequestError(ValueError):
    """A request refused before any work: `field` names what is wrong, `code` is the wire error code."""

    def __init__(self, field: str, message: str, code: RequestErrorCode = "bad_request") -> None:
        text = f"{field}: {message}" if field else message
        super().__init__(text)
        self.field = field
        self.code = code
        self.message = text
