"""Size limits a daemon announces in `hello`; the request validator enforces the ones that concern a request."""
from __future__ import annotations

from dataclasses import asdict, dataclass


@dataclass(frozen=True)
class Limits:
    max_pixels: int = 100_000_000
    max_message_bytes: int = 2 << 30
    max_points: int = 256
    max_queue: int = 32
    max_queued_bytes: int = 4 << 30
    max_text_chars: int = 1000  # a text prompt's phrase (Grounding DINO reads at most 256 tokens)
    max_instances: int = 32  # mattes one text prompt returns with instances="all"

    def __post_init__(self) -> None:
        bad = [name for name, value in asdict(self).items() if not (isinstance(value, int) and value >= 1)]
        if bad:
            raise ValueError(f"limits must be positive integers: {', '.join(bad)}")

    def as_dict(self) -> dict[str, int]:
        return asdict(self)


NO_LIMITS = Limits(max_pixels=1 << 62, max_message_bytes=1 << 62, max_points=1 << 30)
