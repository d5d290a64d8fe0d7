"""The Mask-to-Matte network of Matting Anything and its checkpoint loader."""
from .checkpoint import MamCheckpoint, load_m2m, read_mam_checkpoint
from .network import M2M

__all__ = ["M2M", "MamCheckpoint", "load_m2m", "read_mam_checkpoint"]
