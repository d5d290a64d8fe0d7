"""Grounding DINO through Hugging Face transformers: pure PyTorch (no compiled CUDA ops), loaded from a local folder.

The image processor is transformers' PIL one (`GroundingDinoImageProcessorPil`): the default "fast" processor needs
torchvision, which this project does not install. Boxes come from transformers' own
`post_process_grounded_object_detection`, so they are exactly what transformers gives (a test checks it).

Image features are reused across phrases. In Grounding DINO only the vision backbone (Swin + its position
embeddings) is independent of the text: the encoder fuses image and text from its first layer on. The backbone's
output for the last image is kept (`_CachedBackbone`) and the pixel tensor with it, so a second phrase on the same
canvas runs only the text encoder, the fusion encoder and the decoder, with bit-identical results.
"""
from __future__ import annotations

import re
from pathlib import Path
from typing import Any, cast

import numpy as np
import torch
from PIL import Image
from torch import nn

from mam_engine.detect import Detection, DetectOutput
from mam_engine.model.devices import resolve_device


def _label(text: str) -> str:
    """transformers' decoded label without BERT's special tokens and the phrase separators ("the dog. [SEP]")."""
    words = re.sub(r"\[(CLS|SEP|PAD)\]", " ", text).replace(" .", " ").split()
    return " ".join(words).strip(" .")


class _CachedBackbone(nn.Module):
    """Wraps the model's vision backbone; returns the stored features when `key` names the image they came from."""

    def __init__(self, backbone: nn.Module) -> None:
        super().__init__()
        self.inner = backbone
        self.position_embedding = backbone.position_embedding  # the model calls it for its extra feature level
        self.key: Any = None  # set by the detector before each forward
        self._stored: tuple[Any, list, list] | None = None
        self.hits = 0

    def forward(self, pixel_values: torch.Tensor, pixel_mask: torch.Tensor) -> tuple[list, list]:
        if self.key is not None and self._stored is not None and self._stored[0] == self.key:
            self.hits += 1
            features, positions = self._stored[1], self._stored[2]
        else:
            features, positions = self.inner(pixel_values, pixel_mask)
            self._stored = (self.key, list(features), list(positions)) if self.key is not None else None
        # The model appends its extra level to the position list: hand out copies so the store stays as computed.
        return list(features), list(positions)


class GroundingDinoDetector:
    def __init__(self, folder: Path | str, device: str = "auto") -> None:
        from transformers import (
            AutoModelForZeroShotObjectDetection,
            AutoTokenizer,
            GroundingDinoImageProcessorPil,
            GroundingDinoProcessor,
        )

        folder = Path(folder)
        self.folder = folder
        self.device = resolve_device(device)
        # local_files_only: never a network call at run time; use_safetensors: never unpickle a .bin.
        image_processor = GroundingDinoImageProcessorPil.from_pretrained(folder, local_files_only=True)
        tokenizer = AutoTokenizer.from_pretrained(folder, local_files_only=True)
        self.processor = GroundingDinoProcessor(image_processor=image_processor, tokenizer=tokenizer)
        model: Any = AutoModelForZeroShotObjectDetection.from_pretrained(folder, local_files_only=True,
                                                                          use_safetensors=True)
        self.model = model.to(self.device).eval()
        self.backbone = _CachedBackbone(self.model.model.backbone)
        self.model.model.backbone = self.backbone
        self.max_text_len = int(self.model.config.max_text_len)
        self._pixels: tuple[Any, dict[str, torch.Tensor]] | None = None
        self._tokens = 0

    @staticmethod
    def caption(phrase: str) -> str:
        """The text as Grounding DINO was trained to read it: lower case, ending with a dot (the reference's rule)."""
        text = phrase.strip().lower()
        return text if text.endswith(".") else text + "."

    def inputs(self, image: np.ndarray, key: Any, phrase: str) -> dict[str, torch.Tensor]:
        """Model inputs: the image part is kept for `key`, the text part is tokenised per call."""
        if key is None or self._pixels is None or self._pixels[0] != key:
            pixels = self.processor.image_processor(images=Image.fromarray(image), return_tensors="pt")
            self._pixels = (key, dict(pixels))
        # Cut to the model's text length here: transformers 5.23 fails on longer inputs instead of truncating.
        text = self.processor.tokenizer(self.caption(phrase), return_tensors="pt", return_token_type_ids=True,
                                        truncation=True, max_length=self.max_text_len)
        self._tokens = len(self.processor.tokenizer(self.caption(phrase))["input_ids"])
        return {**self._pixels[1], **dict(text)}

    def detect(self, image: np.ndarray, key: str | None, phrase: str, box_threshold: float,
               text_threshold: float) -> DetectOutput:
        inputs = {k: v.to(self.device) for k, v in self.inputs(image, key, phrase).items()}
        self.backbone.key = None if key is None else (key, tuple(inputs["pixel_values"].shape))
        with torch.inference_mode():
            outputs = self.model(**inputs)
        height, width = image.shape[:2]
        result = self.processor.post_process_grounded_object_detection(
            outputs, cast(Any, inputs["input_ids"]), threshold=box_threshold, text_threshold=text_threshold,
            target_sizes=[(height, width)])[0]
        detections = [Detection(tuple(float(v) for v in box), float(score), _label(str(label)))  # type: ignore[arg-type]
                      for box, score, label in zip(result["boxes"].cpu(), result["scores"].cpu(),
                                                   result["text_labels"])]
        best = float(torch.sigmoid(outputs.logits[0]).max()) if outputs.logits.numel() else 0.0
        notes = []
        if self._tokens > self.max_text_len:
            notes.append(f"the phrase is {self._tokens} tokens long; the detector read only its first "
                         f"{self.max_text_len}")
        return DetectOutput(detections, best, notes)
