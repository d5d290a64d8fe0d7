"""A small Grounding DINO with seeded random weights, saved the way a real one is stored (save_pretrained,
safetensors, PIL image-processor config, BERT tokenizer files), so the tests run the real loading code.

Built from transformers' own config classes. The tokenizer's vocabulary puts [CLS], [SEP], "." and "?" at
bert-base-uncased's ids (101, 102, 1012, 1029): Grounding DINO's phrase masks are built from those ids.
"""
from __future__ import annotations

import json
from pathlib import Path

WORDS = ["the", "dog", "cat", "a", "all", "people", "person", "car", "truck", "tree", "sky", "red", "blue", "and"]


def _vocab() -> list[str]:
    vocab = ["[PAD]"] + [f"[unused{i}]" for i in range(1, 100)] + ["[UNK]", "[CLS]", "[SEP]", "[MASK]"]
    while len(vocab) < 1012:
        vocab.append(f"[unused{len(vocab)}]")
    vocab.append(".")
    while len(vocab) < 1029:
        vocab.append(f"[unused{len(vocab)}]")
    vocab.append("?")
    chars = "abcdefghijklmnopqrstuvwxyz0123456789"
    vocab += list(chars + ",!'-") + ["##" + c for c in chars]
    return vocab + WORDS


def build_tiny_detector(folder: Path, seed: int = 0, shortest_edge: int = 96, longest_edge: int = 160) -> Path:
    """Write the detector into `folder` (created) and return it. Small input size keeps a forward pass cheap."""
    import torch
    from transformers import (
        BertConfig,
        BertTokenizer,
        GroundingDinoConfig,
        GroundingDinoForObjectDetection,
        GroundingDinoImageProcessorPil,
        SwinConfig,
    )

    folder.mkdir(parents=True, exist_ok=True)
    vocab = _vocab()
    (folder / "vocab.txt").write_text("\n".join(vocab) + "\n")
    BertTokenizer(str(folder / "vocab.txt"), do_lower_case=True).save_pretrained(folder)
    config = GroundingDinoConfig(
        backbone_config=SwinConfig(embed_dim=16, depths=[1, 1, 1, 1], num_heads=[1, 1, 2, 2], window_size=7,
                                   out_features=["stage2", "stage3", "stage4"]),
        text_config=BertConfig(vocab_size=len(vocab), hidden_size=32, num_hidden_layers=1, num_attention_heads=2,
                               intermediate_size=37, max_position_embeddings=512),
        d_model=32, encoder_layers=1, decoder_layers=2, encoder_ffn_dim=32, decoder_ffn_dim=32,
        encoder_attention_heads=2, decoder_attention_heads=2, num_queries=30, num_feature_levels=4)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = GroundingDinoForObjectDetection(config).eval()
        # Random logits saturate (every box scores ~1.0); a small final decoder norm spreads the box scores over
        # about 0.35..0.85, so thresholds have something to choose between.
        model.model.decoder.layer_norm.weight.data.fill_(0.1)
        model.model.decoder.layer_norm.bias.data.zero_()
    model.save_pretrained(folder)
    GroundingDinoImageProcessorPil(size={"shortest_edge": shortest_edge, "longest_edge": longest_edge}
                                   ).save_pretrained(folder)
    # The hub's file names the torchvision processor; the engine must load it with the PIL one all the same.
    config_path = folder / "preprocessor_config.json"
    stored = json.loads(config_path.read_text())
    stored["image_processor_type"] = "GroundingDinoImageProcessor"
    config_path.write_text(json.dumps(stored, indent=2))
    return folder
