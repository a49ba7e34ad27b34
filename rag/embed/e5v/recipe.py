"""The E5-V recipe (``royokong/e5-v``), shared by both runners so they build the same inputs.

E5-V is LLaVA-NeXT-8B prompted to summarise its input "in one word"; the embedding is the last
token's hidden state of the last layer, L2-normalised. The prompts are the method, so they live
in ``prompts/e5v_text.txt`` and ``prompts/e5v_image.txt``. Queries use the text prompt, as in
E5-V's own retrieval code. Nothing here needs torch: the transformers runner
(:mod:`rag.embed.e5v.transformers`) and the vLLM pooling runner (:mod:`rag.embed.vllm_pool`) import it.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from PIL import Image

from rag.prompts import load_prompt

DEFAULT_MODEL = "royokong/e5-v"
TEXT_PROMPT = "e5v_text.txt"
IMAGE_PROMPT = "e5v_image.txt"
SENT_SLOT = "<sent>"
IMAGE_TOKEN = "<image>"


def space_id(model: str) -> str:
    """Identity of the vector space: the same for every runner of the same weights."""
    return f"e5v:{model or DEFAULT_MODEL}"


def text_prompt(text: str) -> str:
    """E5-V's text prompt around ``text``. A literal ``<image>`` in the text is removed: it would
    be read as an image placeholder."""
    return load_prompt(TEXT_PROMPT).replace(SENT_SLOT, text.replace(IMAGE_TOKEN, ""))


def image_prompt() -> str:
    """E5-V's image prompt (holds one ``<image>`` placeholder)."""
    return load_prompt(IMAGE_PROMPT)


def fit_image(image: Image.Image, side: int) -> Image.Image:
    """RGB copy of ``image`` whose longest side is at most ``side`` (aspect ratio kept)."""
    if side < 1:
        raise ValueError(f"side must be >= 1, got {side}")
    image = image.convert("RGB")
    width, height = image.size
    longest = max(width, height)
    if longest <= side:
        return image
    scale = side / longest
    size = (max(1, round(width * scale)), max(1, round(height * scale)))
    return image.resize(size, Image.Resampling.BICUBIC)


def plan_batches(costs: Sequence[int], *, budget: int, max_batch: int) -> list[list[int]]:
    """Group item indices into batches whose padded size (``len(batch) * longest``) stays within
    ``budget`` tokens and ``max_batch`` items. Longest first, so each batch pads little; an item
    over the budget on its own gets a batch of one."""
    if budget < 1 or max_batch < 1:
        raise ValueError(f"budget and max_batch must be >= 1, got {budget} and {max_batch}")
    order = sorted(range(len(costs)), key=lambda i: costs[i], reverse=True)
    batches: list[list[int]] = []
    for index in order:
        batch = batches[-1] if batches else None
        # Sorted descending: the first item of a batch is its longest.
        if batch and len(batch) < max_batch and (len(batch) + 1) * costs[batch[0]] <= budget:
            batch.append(index)
        else:
            batches.append([index])
    return batches


class E5VSpace:
    """What both runners share of the Embedder protocol: the space id, the dimension, images embedded
    natively and queries under the passages' text prompt. A runner sets ``_model_name`` and ``_dim``
    and implements ``embed_texts``."""

    _model_name: str
    _dim: int

    @property
    def id(self) -> str:
        return space_id(self._model_name)

    @property
    def dim(self) -> int:
        return self._dim

    @property
    def embeds_images(self) -> bool:
        return True

    def embed_texts(self, texts: Sequence[str]) -> np.ndarray:
        raise NotImplementedError

    def embed_queries(self, texts: Sequence[str]) -> np.ndarray:
        """Questions: E5-V embeds them with the same text prompt as passages."""
        return self.embed_texts(texts)
