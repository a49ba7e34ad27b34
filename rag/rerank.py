"""Reranking: reorder grouped page evidence for a question, after fusion.

A :class:`Reranker` takes the question and the evidence in fused order and returns it reordered
(same items, ``rerank_score`` set). Backends are chosen by ``retrieve.rerank`` through
:data:`RERANKERS`:

``none``
    Keeps the fused order (the default).
``embedding``
    Re-scores each page's text against the question with the pipeline's own embedder, and blends
    that with the fused rank::

        cos_i   = <embed_queries([q])[0], embed_texts([text_i])[0]>   (both L2-normalised)
        prior_i = 1 - i / n                (i: 0-based fused rank, n: items reranked; 1 .. 1/n)
        score_i = w * cos_i + (1 - w) * prior_i                        (w: retrieve.rerank_weight)

    Fusion ranks mix three branches by rank only; the cosine of the page's *whole* text (all its
    hit chunks and tables, as merged by grouping) against the question adds a score on one scale
    for every page. Evidence without text (an image without bridge text) gets the mean cosine of
    the others, so it is ordered by its prior alone. ``w = 0`` keeps the fused order; ``w = 1``
    orders by cosine alone. Ties keep the fused order.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Protocol, runtime_checkable

import numpy as np

from rag.config import RetrieveConfig
from rag.embed.base import Embedder
from rag.records import Evidence
from rag.registry import Registry

log = logging.getLogger(__name__)


@runtime_checkable
class Reranker(Protocol):
    """Reorders evidence for a question; returns the same items, best first."""

    def rerank(self, query: str, evidence: list[Evidence]) -> list[Evidence]:
        """``evidence`` in fused order (best first) -> the same items reordered."""
        ...


class NoReranker:
    """Keeps the fused order (``retrieve.rerank: none``)."""

    @classmethod
    def from_config(cls, cfg: RetrieveConfig, embedder: Embedder) -> NoReranker:
        return cls()

    def rerank(self, query: str, evidence: list[Evidence]) -> list[Evidence]:
        """``evidence`` unchanged."""
        return list(evidence)


class EmbeddingReranker:
    """Blends the question-text cosine of each page with its fused rank (formula: module docstring)."""

    def __init__(self, embedder: Embedder, weight: float = 0.5) -> None:
        """``weight``: share of the cosine in the blended score, in [0, 1]."""
        if not 0.0 <= weight <= 1.0:
            raise ValueError(f"weight must be in [0, 1], got {weight}")
        self.embedder = embedder
        self.weight = weight

    @classmethod
    def from_config(cls, cfg: RetrieveConfig, embedder: Embedder) -> EmbeddingReranker:
        """Reuses the pipeline's embedder (no second model); ``cfg.rerank_weight`` is ``weight``."""
        return cls(embedder, cfg.rerank_weight)

    def scores(self, query: str, evidence: Sequence[Evidence]) -> np.ndarray:
        """Blended score of each item, in input order. Shape (n,)."""
        n = len(evidence)
        prior = 1.0 - np.arange(n, dtype=np.float64) / n  # (n,)
        has_text = [i for i, ev in enumerate(evidence) if ev.text.strip()]
        cos = np.zeros(n, dtype=np.float64)  # (n,)
        if has_text:
            q = np.asarray(self.embedder.embed_queries([query]), dtype=np.float64)[0]  # (dim,)
            docs = np.asarray(self.embedder.embed_texts([evidence[i].text for i in has_text]),
                              dtype=np.float64)  # (m, dim)
            cos[has_text] = docs @ q  # (m,)
            missing = np.ones(n, dtype=bool)
            missing[has_text] = False
            cos[missing] = cos[has_text].mean()
        return self.weight * cos + (1.0 - self.weight) * prior  # (n,)

    def rerank(self, query: str, evidence: list[Evidence]) -> list[Evidence]:
        """``evidence`` ordered by blended score (stable: ties keep the fused order), each with
        its ``rerank_score``."""
        if not evidence:
            return []
        scores = self.scores(query, evidence)
        order = sorted(range(len(evidence)), key=lambda i: -scores[i])
        log.debug("reranked %d items for %r: fused ranks %s", len(evidence), query[:80], order)
        return [evidence[i].model_copy(update={"rerank_score": float(scores[i])}) for i in order]


RERANKERS: Registry[Reranker] = Registry("reranker")
RERANKERS.register("none", "rag.rerank:NoReranker.from_config")
RERANKERS.register("embedding", "rag.rerank:EmbeddingReranker.from_config")


def build_reranker(cfg: RetrieveConfig, embedder: Embedder) -> Reranker:
    """The reranker ``cfg.rerank`` names, built once at start-up; an unknown name is a ConfigError."""
    return RERANKERS.factory(cfg.rerank)(cfg, embedder)
