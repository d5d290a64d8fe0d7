"""A bounded, byte-counted LRU of per-image model state, keyed by a digest of the pixels."""
from __future__ import annotations

import hashlib
from dataclasses import dataclass

import numpy as np
import torch

from mam_engine.lru import BytesLRU
from mam_engine.model.preprocess import Frame


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


class EmbeddingCache(BytesLRU[Encoded]):
    """Per-image model state by image digest, bounded in bytes."""
