"""SAM + M2M on one device, in the spirit of segment-anything's SamPredictor: set an image once, prompt many times.

The numpy layer (`set_image`, `predict_mask`, `matte`) is what pipelines, tests and benchmarks call; under it the
torch layer (`encode`, `m2m_alphas`) works on the cached `Encoded` state. Every method runs under inference mode and
the chosen precision.
"""
from __future__ import annotations

import contextlib
import time
from dataclasses import dataclass
from typing import Any, Callable, Iterator, cast

import numpy as np
import torch
from torch.nn import functional as F

from mam_engine.model.devices import resolve_device
from mam_engine.model.embedding_cache import EmbeddingCache, Encoded, image_digest
from mam_engine.model.fusion import fuse, fuse_from
from mam_engine.model.m2m import M2M
from mam_engine.model.m2m.fold import fold_for_inference
from mam_engine.model.preprocess import Frame, mask_to_model_frame, model_input
from mam_engine.model.region import Window, fusion_window, model_window, resize_window
from mam_engine.model.sam_attention import use_fast_attention
from mam_engine.request import Prompt

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


@dataclass
class MaskPrediction:
    guide: torch.Tensor  # 1×1×256×256 {0, 1} over the padded frame: what M2M is guided by
    mask: np.ndarray  # H×W bool, SAM's post-processed mask
    score: float  # SAM's predicted IoU of the chosen mask


class MattePredictor:
    def __init__(self, sam: torch.nn.Module, m2m: M2M | None, device: str = "auto", path: str = "fast",
                 precision: str = "fp32", cache_bytes: int = DEFAULT_CACHE_BYTES) -> None:
        if path not in PATHS:
            raise ValueError(f"unknown path {path!r}; choose one of {', '.join(PATHS)}")
        if precision not in PRECISIONS:
            raise ValueError(f"unknown precision {precision!r}; choose one of {', '.join(PRECISIONS)}")
        self.device = resolve_device(device)
        if precision != "fp32" and self.device.type not in _PRECISION_DEVICES[precision]:
            raise ValueError(f"precision {precision!r} needs a {' or '.join(_PRECISION_DEVICES[precision])} device, "
                             f"not {self.device.type}")
        self.path, self.precision = path, precision
        self.cache = EmbeddingCache(cache_bytes)
        self.sam: Any = cast(Any, sam).to(self.device).eval()  # segment_anything's Sam, read by attribute
        self.m2m = None if m2m is None else m2m.to(self.device).eval()
        self._m2m_folded: Any = None if self.m2m is None else fold_for_inference(self.m2m).to(
            memory_format=torch.channels_last)  # type: ignore[call-overload]
        if path == "fast":
            use_fast_attention(self.sam.image_encoder)

    @contextlib.contextmanager
    def _compute(self) -> Iterator[None]:
        dtype = PRECISIONS[self.precision]
        autocast = contextlib.nullcontext() if dtype is None else torch.autocast(self.device.type, dtype=dtype)
        with torch.inference_mode(), autocast:
            yield

    def synchronize(self) -> None:
        """Wait for queued device work, so a stage's wall time is its own."""
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)

    # --- numpy layer ---------------------------------------------------------------------------
    def cached(self, image: np.ndarray, key: str | None = None) -> Encoded | None:
        return self.cache.get(key or image_digest(image))

    def set_image(self, image: np.ndarray, key: str | None = None) -> Encoded:
        """The image's encoder state: from the cache under `key` (default: a digest of the pixels) or computed."""
        key = key or image_digest(image)
        encoded = self.cache.get(key)
        if encoded is None:
            encoded = self.encode(image)
            self.cache.put(key, encoded)
        return encoded

    def predict_mask(self, encoded: Encoded, prompt: Prompt) -> MaskPrediction:
        """SAM's decoder with MAM's choice: the multimask output of highest predicted IoU."""
        frame, dev, sam = encoded.frame, self.device, self.sam
        points = boxes = masks = None
        if prompt.points:
            xy = frame.to_model_coords(np.array([p[:2] for p in prompt.points]))
            labels = torch.tensor([[p[2] for p in prompt.points]], dtype=torch.int, device=dev)
            points = (torch.as_tensor(xy[None], dtype=torch.float, device=dev), labels)
        if prompt.effective_box is not None:
            corners = frame.to_model_coords(np.array(prompt.effective_box).reshape(2, 2)).reshape(1, 4)
            boxes = torch.as_tensor(corners, dtype=torch.float, device=dev)
        if prompt.mask is not None:
            grid = torch.from_numpy(mask_to_model_frame(prompt.mask, frame)).to(dev)
            masks = ((grid * 2.0 - 1.0) * MASK_PROMPT_LOGIT)[None, None]
        with self._compute():
            sparse, dense = sam.prompt_encoder(points=points, boxes=boxes, masks=masks)
            low_res, iou = sam.mask_decoder(image_embeddings=encoded.embedding,
                                            image_pe=sam.prompt_encoder.get_dense_pe(),
                                            sparse_prompt_embeddings=sparse, dense_prompt_embeddings=dense,
                                            multimask_output=True)
            idx = int(torch.argmax(iou[0]))
            best = low_res[:, idx : idx + 1]
            post = sam.postprocess_masks(best.float(), frame.resized, frame.original)[0, 0] > sam.mask_threshold
            guide = (best > 0).to(encoded.model_image.dtype)
        return MaskPrediction(guide=guide, mask=post.cpu().numpy(), score=float(iou[0, idx]))

    def matte(self, encoded: Encoded, prediction: MaskPrediction, guidance: str = "alpha",
              timings: dict[str, float] | None = None) -> np.ndarray:
        """M2M and MAM's fusion (their wall times go to `timings`). The fast path runs both only where fusion can
        change the mask, with the same numbers."""
        timings = {} if timings is None else timings
        alpha = prediction.mask.astype(np.float32)
        window = None if self.path == "reference" else fusion_window(prediction.mask)
        if window is None and self.path == "fast":
            return alpha
        t0 = time.perf_counter()
        if window is None:
            alphas = self.m2m_alphas(encoded, prediction.guide, window)  # on the host: the device is done
            t1 = time.perf_counter()
            alpha = fuse(*alphas, prediction.mask, guidance)
        else:
            # M2M on the crop, then each of its alphas upsampled only over the box of the pixels fusion copies it
            # to, one at a time (bilinear is per pixel, so a sub-window's values are the full window's): fewer and
            # smaller full-resolution buffers on a large canvas. `fusion` includes those upsamplings.
            low, crop = self._m2m_crop(encoded, prediction.guide, window)
            self.synchronize()
            t1 = time.perf_counter()
            rows, cols = window.slices()
            alpha[rows, cols] = fuse_from(self._window_reader(encoded, low, crop, window),
                                          prediction.mask[rows, cols], guidance)
        timings.update(m2m=t1 - t0, fusion=time.perf_counter() - t1)
        return alpha

    def _window_reader(self, encoded: Encoded, low: torch.Tensor, crop: Window,
                       window: Window) -> Callable[[int, slice, slice], np.ndarray]:
        def read(index: int, rows: slice, cols: slice) -> np.ndarray:
            sub = Window(window.y0 + rows.start, window.y0 + rows.stop, window.x0 + cols.start, window.x0 + cols.stop)
            with self._compute():
                out = resize_window(low[index : index + 1], crop, encoded.frame.resized, encoded.frame.original, sub)
                return out[0].float().cpu().numpy()

        return read

    # --- torch layer ---------------------------------------------------------------------------
    def encode(self, image: np.ndarray) -> Encoded:
        frame = Frame.for_size(image.shape[0], image.shape[1])
        with self._compute():
            x = model_input(image, frame, self.device)
            return Encoded(embedding=self.sam.image_encoder(x), model_image=x, frame=frame)

    def m2m_alphas(self, encoded: Encoded, guide: torch.Tensor,
                   window: Window | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """M2M's (os8, os4, os1) at full resolution: over `window` from a crop (folded M2M), or over the whole
        image from the full model frame (M2M as stored, MAM's literal computation) when `window` is None."""
        if self.m2m is None:
            raise RuntimeError("this predictor has no M2M network (a SAM-only pipeline)")
        with self._compute():
            if window is None:
                os1, os4, os8 = self.m2m(encoded.embedding, encoded.model_image, guide)
                newh, neww = encoded.frame.resized
                stacked = torch.cat((os8, os4, os1), dim=1)[..., :newh, :neww]
                full = F.interpolate(stacked, size=encoded.frame.original, mode="bilinear", align_corners=False)[0]
            else:
                full = self._m2m_window(encoded, guide, window)
            a8, a4, a1 = full.float().cpu().numpy()
        return a8, a4, a1

    def _m2m_window(self, encoded: Encoded, guide: torch.Tensor, window: Window) -> torch.Tensor:
        stacked, crop = self._m2m_crop(encoded, guide, window)
        return resize_window(stacked, crop, encoded.frame.resized, encoded.frame.original, window)

    def _m2m_crop(self, encoded: Encoded, guide: torch.Tensor, window: Window) -> tuple[torch.Tensor, Window]:
        """Folded M2M on the model-frame crop `window` needs: (os8, os4, os1) stacked at model resolution, and the
        crop."""
        crop = model_window(window, encoded.frame)
        e, g = crop.scaled(16), crop.scaled(4)
        inputs = (encoded.embedding[..., e.y0 : e.y1, e.x0 : e.x1],
                  encoded.model_image[..., crop.y0 : crop.y1, crop.x0 : crop.x1],
                  guide[..., g.y0 : g.y1, g.x0 : g.x1])
        with self._compute():
            os1, os4, os8 = self._m2m_folded(*(t.contiguous(memory_format=torch.channels_last) for t in inputs))
            return torch.cat((os8, os4, os1), dim=1)[0], crop
