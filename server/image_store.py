"""Bounded LRU of converted images, so a client can send a digest instead of the pixels again."""
from __future__ import annotations

import hashlib

import numpy as np

from mam_engine.lru import BytesLRU

from .protocol import ProtocolError


def frame_digest(frame: memoryview | bytes) -> str:
    """The wire digest: BLAKE2b with a 16-byte digest over the pixel frame exactly as sent."""
    return hashlib.blake2b(frame, digest_size=16).hexdigest()


def check_digest(actual: str, expected: str) -> None:
    """Refuse pixels whose digest is not the header's: the image cache must never hold a wrong image."""
    if actual != expected:
        raise ProtocolError("bad_request", f"digest mismatch: header says {expected}, the pixel frame hashes to "
                                           f"{actual} (BLAKE2b, digest_size=16, over the frame as sent)")


class ImageStore(BytesLRU[np.ndarray]):
    """Converted H×W×3 uint8 images keyed by `ImageSpec.key`, bounded in bytes (an oversized image is not kept)."""
