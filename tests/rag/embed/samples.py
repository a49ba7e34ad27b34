"""Inputs shared by the embedder tests."""

from __future__ import annotations

from pathlib import Path

from PIL import Image

from rag.config import EmbedConfig

# E5-V's README, verbatim.
LLAMA3_TEMPLATE = ("<|start_header_id|>user<|end_header_id|>\n\n{}<|eot_id|>"
                   "<|start_header_id|>assistant<|end_header_id|>\n\n \n")

TEXTS = [
    "A dog sitting in the grass.",
    "Quarterly revenue grew by 12% in the north region, driven by new contracts and a lower cost base "
    "across the supplier network; the audit found no material risk.",
    "x",
    "Total",
    "Invoice 20413: net 30 days.",
]


def sample_images() -> list[Image.Image]:
    """Sizes that land on every anyres grid (and one bigger than image_side)."""
    return [
        Image.new("RGB", (300, 200), (200, 30, 30)),
        Image.new("RGB", (100, 180), (20, 30, 230)),
        Image.effect_noise((500, 700), 40).convert("RGB"),
        Image.new("RGBA", (50, 50), (0, 200, 0, 128)),
        Image.linear_gradient("L").resize((224, 40)),
    ]


def cfg_for(model_dir: Path, **overrides: object) -> EmbedConfig:
    values: dict[str, object] = {"backend": "e5v", "model": str(model_dir), "image_side": 224,
                                 "batch_tokens": 512, "max_batch": 3}
    values.update(overrides)
    if values["backend"] != "e5v":  # the token budget is the in-process runner's own setting
        values.pop("batch_tokens")
    return EmbedConfig.model_validate(values)
