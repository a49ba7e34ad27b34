"""Reranking: the registry, and the embedding reranker with the real MiniLM text model."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from rag.config import EmbedConfig, RetrieveConfig
from rag.embed.text_models import MiniLMEmbedder
from rag.errors import ConfigError
from rag.pipeline import Pipeline
from rag.records import Evidence
from rag.rerank import RERANKERS, EmbeddingReranker, FeatureReranker, NoReranker, Reranker, build_reranker

QUESTION = "How often should the shaft seal of the pump be checked?"
PAGES = [  # in a fused order that puts the answer last
    ("/m/motor.pdf", 4, "Motor bearing lubrication intervals and supply voltage checks."),
    ("/m/valve.pdf", 1, "Ball valve torque settings for the manifold flanges."),
    ("/m/fig.pdf", 2, ""),  # an image without bridge text
    ("/m/pump.pdf", 1, "Pump maintenance: inspect the shaft seal and the impeller every month."),
]


@pytest.fixture(scope="module")
def minilm() -> MiniLMEmbedder:
    return MiniLMEmbedder.from_config(EmbedConfig(backend="minilm", device="cpu"))


def _evidence() -> list[Evidence]:
    return [Evidence(id=f"00000000-0000-0000-0000-{i:012d}", file=f, page=p,
                     kind="text" if t else "figure", score=1.0 / (2 + i), text=t)
            for i, (f, p, t) in enumerate(PAGES)]


def test_registry_builds_none_and_embedding(minilm: MiniLMEmbedder) -> None:
    assert RERANKERS.names() == ["embedding", "features", "none"]
    assert isinstance(build_reranker(RetrieveConfig(), minilm), NoReranker)
    emb = build_reranker(RetrieveConfig(rerank="embedding", rerank_weight=0.7), minilm)
    assert isinstance(emb, EmbeddingReranker) and isinstance(emb, Reranker)
    assert emb.weight == 0.7 and emb.embedder is minilm
    with pytest.raises(ConfigError, match="unknown reranker backend 'cross'"):
        build_reranker(RetrieveConfig(rerank="cross"), minilm)
    with pytest.raises(ValueError, match=r"weight must be in \[0, 1\], got 1.5"):
        EmbeddingReranker(minilm, 1.5)


def test_embedding_reranker_moves_the_answer_up(minilm: MiniLMEmbedder) -> None:
    evidence = _evidence()
    out = EmbeddingReranker(minilm, weight=0.7).rerank(QUESTION, evidence)
    assert out[0].file == "/m/pump.pdf"
    assert sorted(e.id for e in out) == sorted(e.id for e in evidence)
    assert [e.score for e in out if e.file == "/m/pump.pdf"] == [evidence[3].score]  # store score kept
    scores = [e.rerank_score for e in out]
    assert all(s is not None for s in scores) and scores == sorted(scores, reverse=True)  # type: ignore[type-var]
    assert NoReranker().rerank(QUESTION, evidence) == evidence
    assert EmbeddingReranker(minilm, 0.7).rerank(QUESTION, []) == []


def test_blended_score_follows_the_documented_formula(minilm: MiniLMEmbedder) -> None:
    evidence = _evidence()
    w = 0.4
    got = EmbeddingReranker(minilm, weight=w).scores(QUESTION, evidence)  # (n,)
    q = minilm.embed_queries([QUESTION])[0]  # (dim,)
    texts = [i for i, e in enumerate(evidence) if e.text]
    cos = np.zeros(len(evidence))
    cos[texts] = minilm.embed_texts([evidence[i].text for i in texts]) @ q
    cos[2] = cos[texts].mean()  # no text: the mean cosine of the others
    prior = 1 - np.arange(4) / 4
    np.testing.assert_allclose(got, w * cos + (1 - w) * prior, atol=1e-5)
    # weight 0 keeps the fused order exactly
    assert [e.id for e in EmbeddingReranker(minilm, 0.0).rerank(QUESTION, evidence)] == [e.id for e in evidence]


def test_pipeline_passes_the_configured_reranker(tmp_path: Path) -> None:
    overrides = {"store.path": str(tmp_path / "idx"), "retrieve.rerank": "embedding", "retrieve.rerank_top": 8}
    with Pipeline.from_config("cpu", overrides, environ={}) as pipe:
        reranker = pipe.retriever.reranker
        assert isinstance(reranker, EmbeddingReranker) and reranker.embedder is pipe.embedder
        assert pipe.search("shaft seal") == []  # an empty index: nothing to rerank, no error
    with Pipeline.from_config("cpu", {"store.path": str(tmp_path / "idx")}, environ={}) as pipe:
        assert isinstance(pipe.retriever.reranker, FeatureReranker)  # the cpu profile's (issue 18)
    with Pipeline.from_config("cpu", {"store.path": str(tmp_path / "idx"), "retrieve.rerank": "none"},
                              environ={}) as pipe:
        assert pipe.retriever.reranker is None


def test_rerank_passes_the_search_context_only_to_a_context_reranker() -> None:
    from rag.rerank import ContextReranker, RerankContext, rerank

    evidence = _evidence()
    seen: list[str] = []

    class Plain:
        def rerank(self, query: str, ev: list[Evidence]) -> list[Evidence]:
            seen.append("plain")
            return ev[::-1]

    class WithContext(Plain):
        def rerank_in(self, query: str, ev: list[Evidence], context: RerankContext) -> list[Evidence]:
            seen.append(f"context {len(context.branches)}")
            return ev

    ctx = RerankContext(branches=[("text", [])])
    assert not isinstance(Plain(), ContextReranker) and isinstance(WithContext(), ContextReranker)
    assert rerank(Plain(), QUESTION, evidence, ctx) == evidence[::-1]
    assert rerank(WithContext(), QUESTION, evidence, ctx) == evidence
    assert seen == ["plain", "context 1"]
