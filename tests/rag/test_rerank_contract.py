"""Every registered reranker passes the Reranker contract (:mod:`rag.testing.reranker`)."""

from __future__ import annotations

import pytest

from rag.config import EmbedConfig, RetrieveConfig
from rag.embed.text_models import MiniLMEmbedder
from rag.rerank import RERANKERS, Reranker
from rag.testing.reranker import RerankerContract


@pytest.fixture(scope="module")
def minilm() -> MiniLMEmbedder:
    return MiniLMEmbedder.from_config(EmbedConfig(backend="minilm", device="cpu"))


class TestNoReranker(RerankerContract):
    @pytest.fixture
    def reranker(self, minilm: MiniLMEmbedder) -> Reranker:
        reranker: Reranker = RERANKERS.factory("none")(RetrieveConfig(rerank="none"), minilm)
        return reranker


class TestEmbeddingReranker(RerankerContract):
    @pytest.fixture
    def reranker(self, minilm: MiniLMEmbedder) -> Reranker:
        reranker: Reranker = RERANKERS.factory("embedding")(RetrieveConfig(rerank="embedding"), minilm)
        return reranker


class TestFeatureReranker(RerankerContract):
    @pytest.fixture
    def reranker(self, minilm: MiniLMEmbedder) -> Reranker:
        reranker: Reranker = RERANKERS.factory("features")(RetrieveConfig(rerank="features"), minilm)
        return reranker
