"""Text prompts: Grounding DINO (the default checkpoint's architecture, grounding-dino-tiny: Swin-T + BERT-base,
seeded random weights) on a 1-MP photo: load, first phrase, second phrase on the same image (backbone reused),
peak memory; then text -> matte end to end with a random ViT-B MAM. Prints figures for docs/BENCHMARKS.md.

    .venv/bin/python benchmarks/text_bench.py [--photo PATH]
"""
from __future__ import annotations

import argparse
import json
import platform
import resource
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))


def peak_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def photo(path: str | None) -> np.ndarray:
    default = ROOT.parent / "shared" / "data" / "sam-notebook-images" / "truck.jpg"
    image = Image.open(path or default).convert("RGB")
    scale = (1_000_000 / (image.width * image.height)) ** 0.5
    return np.asarray(image.resize((round(image.width * scale), round(image.height * scale)), Image.BICUBIC))


def build_default_architecture(folder: Path) -> None:
    """GroundingDinoConfig() is grounding-dino-tiny's architecture (Swin-T, BERT-base, 900 queries, 6+6 layers)."""
    import torch
    from transformers import (
        BertTokenizer,
        GroundingDinoConfig,
        GroundingDinoForObjectDetection,
        GroundingDinoImageProcessorPil,
    )

    from support.tiny_detector import _vocab

    folder.mkdir(parents=True)
    (folder / "vocab.txt").write_text("\n".join(_vocab()) + "\n")
    BertTokenizer(str(folder / "vocab.txt"), do_lower_case=True).save_pretrained(folder)
    torch.manual_seed(0)
    GroundingDinoForObjectDetection(GroundingDinoConfig()).eval().save_pretrained(folder)
    GroundingDinoImageProcessorPil().save_pretrained(folder)  # 800 short side, 1333 long side: the hub's config


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--photo")
    args = parser.parse_args()
    import torch

    image = photo(args.photo)
    print(f"machine: {platform.processor() or platform.machine()}, {torch.get_num_threads()} torch threads, "
          f"torch {torch.__version__}; photo {image.shape[1]}x{image.shape[0]} "
          f"({image.shape[0] * image.shape[1] / 1e6:.2f} MP)")
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / "grounding-dino-tiny"
        build_default_architecture(folder)
        size = sum(f.stat().st_size for f in folder.iterdir())
        from mam_engine.detect.grounding_dino import GroundingDinoDetector

        base = peak_rss_mib()
        t0 = time.perf_counter()
        detector = GroundingDinoDetector(folder, "cpu")
        load = time.perf_counter() - t0
        params = sum(p.numel() for p in detector.model.parameters())
        rows = {"folder_MB": round(size / 1e6, 1), "params_M": round(params / 1e6, 1), "load_s": round(load, 2)}
        for name, phrase in (("first_phrase_s", "the truck"), ("second_phrase_s", "the wheels. the window"),
                             ("third_phrase_s", "a person")):
            t0 = time.perf_counter()
            out = detector.detect(image, "bench", phrase, 0.25, 0.25)
            rows[name] = round(time.perf_counter() - t0, 2)
        rows["backbone_reused"] = detector.backbone.hits
        pixels = detector.inputs(image, "bench", "x")
        t0 = time.perf_counter()
        with torch.inference_mode():
            detector.backbone.inner(pixels["pixel_values"], pixels["pixel_mask"])
        rows["backbone_alone_s"] = round(time.perf_counter() - t0, 2)
        t0 = time.perf_counter()
        detector.detect(image, None, "the truck", 0.25, 0.25)  # no key: nothing reused
        rows["uncached_phrase_s"] = round(time.perf_counter() - t0, 2)
        rows["peak_rss_MiB_after_detector"] = round(peak_rss_mib(), 0)
        rows["peak_rss_growth_MiB"] = round(peak_rss_mib() - base, 0)
        rows["detections_above_0.25"] = len(out.detections)
        print(json.dumps(rows, indent=1))

        from mam_engine import MattingEngine

        engine = MattingEngine(model_type="vit_b", random_weights_seed=0, device="cpu", detector_checkpoint=folder)
        for label, kw in (("text->matte best, cold", {}), ("text->matte best, same image", {}),
                          ("text->matte box only (no text), same image", None)):
            t0 = time.perf_counter()
            if kw is None:
                r = engine.matte(image, box=(100, 100, 600, 500))
            else:
                r = engine.matte(image, text="the truck", box_threshold=0.0, **kw)
            total = time.perf_counter() - t0
            print(f"{label}: {total:.2f} s; stages " + ", ".join(f"{k} {v:.2f}" for k, v in r.timings.items()))
        print(f"peak RSS of the whole process: {peak_rss_mib():.0f} MiB")


if __name__ == "__main__":
    main()
