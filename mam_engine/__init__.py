"""Matting Anything (SAM + Mask-to-Matte) as a library: image + box/points/mask → soft alpha matte."""
from .embedding_cache import image_digest
from .engine import MatteCancelled, MatteResult, MattingEngine

__all__ = ["MattingEngine", "MatteResult", "MatteCancelled", "image_digest"]
__version__ = "0.1.0"
