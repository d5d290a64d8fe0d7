"""A bounded, byte-counted LRU of per-image model state, keyed by a digest of the pixels."""
from __future__ import annotations

import hashlib
import threading
from collections import OrderedDict
from dataclasses import dataclass

import numpy as np
import torch

from .preprocess import Frame


def image_digest(image: np.ndarray) -> str:
    """BLAKE2b-128 over shape, dtype and pixels, so equal canvases share one embedding whatever their origin."""
    h = hashlib.blake2b(digest_size=16)
    h.update(f"{image.shape}|{image.dtype.str}|".encode())
    h.update(np.ascontiguousarray(image).data)
    return h.hexdigest()


@dataclass
class Encoded:
    """What every prompt on one image needs: SAM's embedding and the normalised padded image M2M reads."""

    embedding: torch.Tensor  # 1×256×64×64
    model_image: torch.Tensor  # 1×3×1024×1024
    frame: Frame

    @property
    def nbytes(self) -> int:
        return sum(t.element_size() * t.nelement() for t in (self.embedding, self.model_image))


class EmbeddingCache:
    def __init__(self, max_bytes: int) -> None:
        if max_bytes < 0:
            raise ValueError(f"cache size must be >= 0 bytes, got {max_bytes}")
        self.max_bytes = max_bytes
        self._items: OrderedDict[str, Encoded] = OrderedDict()
        self._bytes = 0
        self._lock = threading.Lock()

    def get(self, key: str) -> Encoded | None:
        with self._lock:
            item = self._items.get(key)
            if item is not None:
                self._items.move_to_end(key)
            return item

    def __contains__(self, key: str) -> bool:
        with self._lock:
            return key in self._items

    def put(self, key: str, item: Encoded) -> None:
        with self._lock:
            old = self._items.pop(key, None)
            if old is not None:
                self._bytes -= old.nbytes
            if item.nbytes > self.max_bytes:
                return
            self._items[key] = item
            self._bytes += item.nbytes
            while self._bytes > self.max_bytes:
                _, evicted = self._items.popitem(last=False)
                self._bytes -= evicted.nbytes

    def stats(self) -> dict[str, int]:
        with self._lock:
            return {"entries": len(self._items), "bytes": self._bytes, "max_bytes": self.max_bytes}
