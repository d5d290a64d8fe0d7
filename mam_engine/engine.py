"""MattingEngine: SAM + M2M + fusion behind one call, with image embeddings cached across prompts."""
from __future__ import annotations

import contextlib
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterable, Sequence

import numpy as np
import torch
from torch.nn import functional as F

from mam_engine.classic.stages import check_backend, check_options, classic_selection, finish
from mam_engine.model.devices import resolve_device
from mam_engine.model.embedding_cache import EmbeddingCache, Encoded, image_digest
from mam_engine.model.fusion import GUIDANCES, fuse
from mam_engine.model.m2m import M2M, load_m2m
from mam_engine.model.m2m.fold import fold_for_inference
from mam_engine.model.preprocess import Frame, mask_to_model_frame, model_input, validate_image
from mam_engine.request.prompt import Prompt, make_prompt
from mam_engine.model.region import fusion_window, model_window, resize_window
from mam_engine.model.sam_attention import use_fast_attention
from mam_engine.weights.catalog import find_checkpoint
from mam_engine.model.sam_loader import SAM_CONFIGS, build_sam, load_sam, load_sam_weights

ProgressCallback = Callable[[str, float], None]

# A selection sent as SAM's mask prompt becomes logits of this magnitude (SAM's own low-res logits are of this order).
MASK_PROMPT_LOGIT = 10.0
DEFAULT_CACHE_BYTES = 1 << 30
# "fast": fused encoder attention and folded M2M on the region fusion reads (same numbers within float rounding);
# "reference": MAM's literal computation (SAM's own attention, full-frame M2M with spectral norm and BatchNorm as
# stored, full-image fusion), kept for the benchmark and the equivalence tests.
PATHS = ("fast", "reference")
# Lower precisions change the numbers: opt-in, with their error printed by the benchmark. fp32 is exact.
PRECISIONS = {"fp32": None, "bf16": torch.bfloat16, "fp16": torch.float16}
_PRECISION_DEVICES = {"bf16": ("cpu", "cuda"), "fp16": ("cuda",)}


class MatteCancelled(Exception):
    """Raised from an on_progress callback to stop a matte at the next stage boundary."""


@dataclass
class MatteResult:
    alpha: np.ndarray  # H×W float32 in [0, 1]
    mask: np.ndarray  # H×W bool, SAM's post mask
    score: float  # SAM's predicted IoU of the chosen mask
    timings: dict[str, float] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    foreground: np.ndarray | None = None  # H×W×3 uint8 decontaminated colours, with matte(foreground=True)


@dataclass
class _Decoded:
    guide: torch.Tensor  # 1×1×256×256 {0, 1}, over the padded frame
    post: np.ndarray  # H×W bool
    score: float


class MattingEngine:
    def __init__(
        self,
        sam_checkpoint: str | Path | None = None,
        m2m_checkpoint: str | Path | None = None,
        model_type: str = "vit_b",
        device: str = "auto",
        cache_bytes: int = DEFAULT_CACHE_BYTES,
        random_weights_seed: int | None = None,
        path: str = "fast",
        precision: str = "fp32",
        backend: str = "mam",
    ) -> None:
        """backend: "mam" (SAM + M2M, the reference), "sam" (SAM's mask only, for refine="classic"), or "classic"
        (GrabCut + matting Laplacian: no weights at all, so it works before any checkpoint is installed)."""
        check_backend(backend)
        self.backend = backend
        if path not in PATHS:
            raise ValueError(f"unknown path {path!r}; choose one of {', '.join(PATHS)}")
        if precision not in PRECISIONS:
            raise ValueError(f"unknown precision {precision!r}; choose one of {', '.join(PRECISIONS)}")
        if model_type not in SAM_CONFIGS:
            raise ValueError(f"unknown model_type {model_type!r}; choose one of {', '.join(SAM_CONFIGS)}")
        self.model_type = model_type
        self.path = path
        self.device = resolve_device(device)
        if precision != "fp32" and self.device.type not in _PRECISION_DEVICES[precision]:
            raise ValueError(f"precision {precision!r} needs a {' or '.join(_PRECISION_DEVICES[precision])} device, "
                             f"not {self.device.type}")
        self.precision = precision
        self.cache = EmbeddingCache(cache_bytes)
        self._lock = threading.Lock()
        self._info: dict[str, object] = {}
        if backend == "classic":
            self._info.update(weights="none (classic backend: GrabCut + closed-form matting)")
            return
        if random_weights_seed is not None:
            sam, m2m = self._random_models(model_type, random_weights_seed)
        else:
            sam, m2m = self._load_models(model_type, sam_checkpoint, m2m_checkpoint)
        self.sam = sam.to(self.device).eval()
        self.m2m = m2m.to(self.device).eval()
        if path == "fast":
            self._m2m_folded = fold_for_inference(self.m2m).to(memory_format=torch.channels_last)
            use_fast_attention(self.sam.image_encoder)

    def _random_models(self, model_type: str, seed: int) -> tuple[torch.nn.Module, M2M]:
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            sam, m2m = build_sam(model_type), M2M().eval()
        self._info.update(weights=f"random (seed {seed})")
        return sam, m2m

    def _load_models(
        self, model_type: str, sam_checkpoint: str | Path | None, m2m_checkpoint: str | Path | None
    ) -> tuple[torch.nn.Module, M2M]:
        m2m_path = Path(m2m_checkpoint) if m2m_checkpoint else find_checkpoint("m2m", model_type)
        m2m, ckpt = load_m2m(m2m_path)
        if sam_checkpoint is None and ckpt.sam_state is not None and model_type == "vit_b":
            sam = build_sam(model_type)
            load_sam_weights(sam, ckpt.sam_state, f"{m2m_path} (SAM part of the all-in-one layout)")
            sam_source = str(m2m_path)
        else:
            sam_path = Path(sam_checkpoint) if sam_checkpoint else find_checkpoint("sam", model_type)
            sam, sam_source = load_sam(model_type, sam_path), str(sam_path)
        self._info.update(weights="checkpoints", sam_checkpoint=sam_source, m2m_checkpoint=str(m2m_path),
                          m2m_layout=ckpt.layout)
        return sam, m2m

    def describe(self) -> dict[str, object]:
        return {"model_type": self.model_type, "backend": self.backend, "device": str(self.device), "loaded": True,
                "path": self.path, "precision": self.precision,
                **self._info, "cache": self.cache.stats()}

    def has_embedding(self, key: str) -> bool:
        return key in self.cache

    def matte(
        self,
        image: np.ndarray,
        box: Sequence[float] | None = None,
        points: Iterable[Sequence[float]] | None = None,
        mask: np.ndarray | None = None,
        guidance: str = "alpha",
        on_progress: ProgressCallback | None = None,
        image_key: str | None = None,
        refine: str | None = None,
        refine_band: int | None = None,
        foreground: bool = False,
    ) -> MatteResult:
        """One prompt on one image; the image encoder runs only if this image's embedding is not cached.

        refine="classic" re-solves a band around the edge at full resolution (refine_band: its half-width in px);
        foreground=True also returns the decontaminated subject colours in r.foreground.
        """
        validate_image(image)
        if guidance not in GUIDANCES:
            raise ValueError(f"unknown guidance {guidance!r}; choose one of {', '.join(GUIDANCES)}")
        prompt = make_prompt(image.shape, box, points, mask)
        method = check_options(image.shape, self.backend, refine, refine_band, foreground)
        report = on_progress or (lambda stage, fraction: None)
        if self.backend == "classic":
            return self._classic_matte(image, prompt, refine_band, foreground, report)
        key = image_key or image_digest(image)
        timings: dict[str, float] = {}
        start = time.perf_counter()
        with self._lock, torch.inference_mode(), self._autocast():
            encoded = self.cache.get(key)
            if encoded is None:
                report("encode", 0.0)
                encoded = self._timed(timings, "encode", self._encode, image)
                self.cache.put(key, encoded)
            report("decode", 0.6)
            decoded = self._timed(timings, "decode", self._decode, encoded, prompt)
            report("m2m", 0.7)
            if self.backend == "sam":
                alpha = decoded.post.astype(np.float32)
            elif self.path == "reference":
                alphas = self._timed(timings, "m2m", self._m2m_full_frame, encoded, decoded.guide)
                report("fusion", 0.9)
                alpha = self._timed(timings, "fusion", fuse, *alphas, decoded.post, guidance)
            else:
                alpha = self._matte_region(encoded, decoded, guidance, timings, report)
        finished = finish(image, alpha, method, refine_band, foreground, timings, report)
        timings["total"] = time.perf_counter() - start
        report("done", 1.0)
        notes = [] if decoded.post.any() else ["SAM found no subject for this prompt: the matte is empty"]
        return MatteResult(alpha=finished.alpha, mask=decoded.post, score=decoded.score, timings=timings,
                           notes=notes + finished.notes, foreground=finished.foreground)

    def _classic_matte(
        self, image: np.ndarray, prompt: Prompt, refine_band: int | None, foreground: bool, report: ProgressCallback
    ) -> MatteResult:
        """No weights: GrabCut selection, then the classic refinement. Score 0.0: GrabCut has no confidence."""
        start = time.perf_counter()
        report("segment", 0.0)
        selection, notes = classic_selection(image, prompt)
        timings = {"segment": time.perf_counter() - start}
        finished = finish(image, selection.astype(np.float32), "classic", refine_band, foreground, timings, report)
        timings["total"] = time.perf_counter() - start
        report("done", 1.0)
        return MatteResult(alpha=finished.alpha, mask=selection, score=0.0, timings=timings,
                           notes=notes + finished.notes, foreground=finished.foreground)

    def _autocast(self) -> contextlib.AbstractContextManager:
        dtype = PRECISIONS[self.precision]
        return contextlib.nullcontext() if dtype is None else torch.autocast(self.device.type, dtype=dtype)

    def _timed(self, timings: dict[str, float], stage: str, fn: Callable, *args: object):
        t0 = time.perf_counter()
        out = fn(*args)
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)
        timings[stage] = time.perf_counter() - t0
        return out

    def _encode(self, image: np.ndarray) -> Encoded:
        frame = Frame.for_size(image.shape[0], image.shape[1])
        x = model_input(image, frame, self.device)
        return Encoded(embedding=self.sam.image_encoder(x), model_image=x, frame=frame)

    def _decode(self, encoded: Encoded, prompt: Prompt) -> _Decoded:
        frame, dev = encoded.frame, self.device
        points = None
        if prompt.points:
            xy = frame.to_model_coords(np.array([p[:2] for p in prompt.points]))
            labels = torch.tensor([[p[2] for p in prompt.points]], dtype=torch.int, device=dev)
            points = (torch.as_tensor(xy[None], dtype=torch.float, device=dev), labels)
        boxes = None
        if prompt.effective_box is not None:
            corners = frame.to_model_coords(np.array(prompt.effective_box).reshape(2, 2)).reshape(1, 4)
            boxes = torch.as_tensor(corners, dtype=torch.float, device=dev)
        masks = None
        if prompt.mask is not None:
            grid = torch.from_numpy(mask_to_model_frame(prompt.mask, frame)).to(dev)
            masks = ((grid * 2.0 - 1.0) * MASK_PROMPT_LOGIT)[None, None]
        sam = self.sam
        sparse, dense = sam.prompt_encoder(points=points, boxes=boxes, masks=masks)
        low_res, iou = sam.mask_decoder(
            image_embeddings=encoded.embedding,
            image_pe=sam.prompt_encoder.get_dense_pe(),
            sparse_prompt_embeddings=sparse,
            dense_prompt_embeddings=dense,
            multimask_output=True,
        )
        idx = int(torch.argmax(iou[0]))
        best = low_res[:, idx : idx + 1]
        post = sam.postprocess_masks(best.float(), frame.resized, frame.original)[0, 0] > sam.mask_threshold
        return _Decoded(guide=(best > 0).to(encoded.model_image.dtype), post=post.cpu().numpy(),
                        score=float(iou[0, idx]))

    def _matte_region(
        self, encoded: Encoded, decoded: _Decoded, guidance: str, timings: dict[str, float], report: ProgressCallback
    ) -> np.ndarray:
        """Fusion changes only the mask's box plus a small reach; elsewhere the alpha is SAM's mask itself."""
        alpha = decoded.post.astype(np.float32)
        window = fusion_window(decoded.post)
        if window is None:
            return alpha
        alphas = self._timed(timings, "m2m", self._m2m_window, encoded, decoded.guide, window)
        report("fusion", 0.9)
        rows, cols = window.slices()
        alpha[rows, cols] = self._timed(timings, "fusion", fuse, *alphas, decoded.post[rows, cols], guidance)
        return alpha

    def _m2m_window(self, encoded: Encoded, guide: torch.Tensor, window) -> tuple[np.ndarray, ...]:
        """(os8, os4, os1) over the full-resolution `window`, from M2M run on the matching crop of the model frame."""
        crop = model_window(window, encoded.frame)
        e, g = crop.scaled(16), crop.scaled(4)
        inputs = (
            encoded.embedding[..., e.y0 : e.y1, e.x0 : e.x1],
            encoded.model_image[..., crop.y0 : crop.y1, crop.x0 : crop.x1],
            guide[..., g.y0 : g.y1, g.x0 : g.x1],
        )
        os1, os4, os8 = self._m2m_folded(*(t.contiguous(memory_format=torch.channels_last) for t in inputs))
        stacked = torch.cat((os8, os4, os1), dim=1)[0]
        full = resize_window(stacked, crop, encoded.frame.resized, encoded.frame.original, window)
        a8, a4, a1 = full.float().cpu().numpy()
        return a8, a4, a1

    def _m2m_full_frame(self, encoded: Encoded, guide: torch.Tensor) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(os8, os4, os1) at full image size: the padding cropped away, then bilinear back to H×W."""
        os1, os4, os8 = self.m2m(encoded.embedding, encoded.model_image, guide)
        newh, neww = encoded.frame.resized
        stacked = torch.cat((os8, os4, os1), dim=1)[..., :newh, :neww]
        full = F.interpolate(stacked, size=encoded.frame.original, mode="bilinear", align_corners=False)
        a8, a4, a1 = full[0].float().cpu().numpy()
        return a8, a4, a1
