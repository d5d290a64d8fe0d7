"""Bounded LRU of converted images, so a client can send a digest instead of the pixels again."""
from __future__ import annotations

import hashlib
import threading
from collections import OrderedDict

import numpy as np

from .protocol import ProtocolError


def frame_digest(frame: memoryview | bytes) -> str:
    """The wire digest: BLAKE2b with a 16-byte digest over the pixel frame exactly as sent."""
    return hashlib.blake2b(frame, digest_size=16).hexdigest()


def check_digest(actual: str, expected: str) -> None:
    """Refuse pixels whose digest is not the header's: the image cache must never hold a wrong image."""
    if actual != expected:
        raise ProtocolError("bad_request", f"digest mismatch: header says {expected}, the pixel frame hashes to "
                                           f"{actual} (BLAKE2b, digest_size=16, over the frame as sent)")


class ImageStore:
    """Thread-safe, byte-bounded LRU of H×W×3 uint8 images keyed by `ImageSpec.key`."""

    def __init__(self, max_bytes: int) -> None:
        self.max_bytes = max_bytes
        self._items: OrderedDict[str, np.ndarray] = OrderedDict()
        self._bytes = 0
        self._lock = threading.Lock()

    def get(self, key: str) -> np.ndarray | None:
        with self._lock:
            image = self._items.get(key)
            if image is not None:
                self._items.move_to_end(key)
            return image

    def __contains__(self, key: str) -> bool:
        with self._lock:
            return key in self._items

    def put(self, key: str, image: np.ndarray) -> None:
        """Keep `image`, evicting least recently used ones; an image larger than the bound is not kept."""
        with self._lock:
            old = self._items.pop(key, None)
            if old is not None:
                self._bytes -= old.nbytes
            if image.nbytes > self.max_bytes:
                return
            self._items[key] = image
            self._bytes += image.nbytes
            while self._bytes > self.max_bytes:
                _, evicted = self._items.popitem(last=False)
                self._bytes -= evicted.nbytes

    def stats(self) -> dict[str, int]:
        with self._lock:
            return {"entries": len(self._items), "bytes": self._bytes, "max_bytes": self.max_bytes}
