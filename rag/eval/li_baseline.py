"""The plain LlamaIndex baseline: what a user gets from the framework's defaults.

One ``Document`` per PDF page (PyMuPDF text, ``file`` and ``page`` as metadata), a ``VectorStoreIndex``
with LlamaIndex's default chunking (``SentenceSplitter``, 1024 tokens, 200 overlap) over a
``QdrantVectorStore`` on an in-memory ``QdrantClient``, embedded with the SAME text embedder as the
pipeline (wrapped as a LlamaIndex ``BaseEmbedding``). Retrieval is dense top-k with a metadata filter
on the file (per-document scope) or without one (whole-corpus scope); chunk hits become page hits.
Imported only when the baseline is asked for.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from rag.embed.base import Embedder
from rag.errors import MissingPartError
from rag.eval.baselines import IndexTiming, page_texts
from rag.eval.metrics import ranked_pages

try:
    from llama_index.core import Document, StorageContext, VectorStoreIndex
    from llama_index.core.embeddings import BaseEmbedding
    from llama_index.core.vector_stores import ExactMatchFilter, MetadataFilters
    from llama_index.vector_stores.qdrant import QdrantVectorStore
except ImportError as exc:  # pragma: no cover - depends on the install
    raise MissingPartError("the llamaindex baseline needs llama-index: "
                           "pip install 'mmrag[llamaindex]'") from exc
from pydantic import PrivateAttr
from qdrant_client import QdrantClient

CHUNK_OVERFETCH = 3
"""Chunks fetched per wanted page: several chunks of one page collapse into one page hit."""


class EmbedderAsLlamaIndex(BaseEmbedding):
    """An mmrag :class:`Embedder` seen as a LlamaIndex embedding model (text only)."""

    _embedder: Any = PrivateAttr()

    def __init__(self, embedder: Embedder, embed_batch_size: int = 32) -> None:
        super().__init__(model_name=embedder.id, embed_batch_size=embed_batch_size)
        self._embedder = embedder

    def _get_query_embedding(self, query: str) -> list[float]:
        return [float(x) for x in self._embedder.embed_queries([query])[0]]

    async def _aget_query_embedding(self, query: str) -> list[float]:
        return self._get_query_embedding(query)

    def _get_text_embedding(self, text: str) -> list[float]:
        return [float(x) for x in self._embedder.embed_texts([text])[0]]

    def _get_text_embeddings(self, texts: list[str]) -> list[list[float]]:
        return [[float(x) for x in row] for row in self._embedder.embed_texts(texts)]


class LlamaIndexBaseline:
    """Default LlamaIndex RAG retrieval over page texts, on Qdrant (in memory)."""

    name = "llamaindex"

    @classmethod
    def from_embedder(cls, embedder: Embedder) -> LlamaIndexBaseline:
        """Registry factory: the embedder under an on-disk cache, so the baseline does not share
        the pipeline's cache."""
        return cls(getattr(embedder, "inner", embedder))

    def __init__(self, embedder: Embedder) -> None:
        self._embed_model = EmbedderAsLlamaIndex(embedder)
        self._client = QdrantClient(location=":memory:")
        self._store = QdrantVectorStore(collection_name=f"baseline_{uuid.uuid4().hex[:8]}",
                                        client=self._client)
        self._index: VectorStoreIndex | None = None

    def index(self, files: Sequence[Path]) -> IndexTiming:
        t, pages = time.perf_counter(), 0
        docs: list[Document] = []
        for f in files:
            texts = page_texts(f)
            pages += len(texts)
            docs += [Document(text=text, metadata={"file": str(f), "page": n},
                              excluded_embed_metadata_keys=["file", "page"],
                              excluded_llm_metadata_keys=["file", "page"])
                     for n, text in enumerate(texts, start=1) if text.strip()]
        storage = StorageContext.from_defaults(vector_store=self._store)
        if self._index is None:
            self._index = VectorStoreIndex.from_documents(docs, storage_context=storage,
                                                          embed_model=self._embed_model, show_progress=False)
        else:
            for d in docs:
                self._index.insert(d)
        return IndexTiming(pages, time.perf_counter() - t)

    def retrieve(self, question: str, file: Path, k: int) -> list[int]:
        if self._index is None:
            raise MissingPartError("llamaindex baseline: index() was not called")
        retriever = self._index.as_retriever(
            similarity_top_k=k * CHUNK_OVERFETCH,
            filters=MetadataFilters(filters=[ExactMatchFilter(key="file", value=str(file))]))
        nodes = retriever.retrieve(question)
        hits = [(str(n.node.metadata.get("file")), int(n.node.metadata.get("page", 0))) for n in nodes]
        return ranked_pages(hits, str(file))[:k]

    def retrieve_corpus(self, question: str, k: int) -> list[tuple[Path, int]]:
        if self._index is None:
            raise MissingPartError("llamaindex baseline: index() was not called")
        nodes = self._index.as_retriever(similarity_top_k=k * CHUNK_OVERFETCH).retrieve(question)
        out: list[tuple[Path, int]] = []
        for n in nodes:
            hit = (Path(str(n.node.metadata.get("file"))), int(n.node.metadata.get("page", 0)))
            if hit not in out:
                out.append(hit)
        return out[:k]

    def close(self) -> None:
        """Drop the in-memory collection."""
        self._client.close()
