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
``features``
    Scores each page of the pool by a linear model over cheap features (:mod:`rag.rerank_features`:
    each branch's rank and score of the page, the question-vs-page-item cosine, BM25 over the
    pool, the question's terms, numbers and figure/table labels on the page and in its title)::

        score_i = sum_j w_j * (x_ij - mean_j) / scale_j

    with ``w``, ``mean`` and ``scale`` read from a weights file (the packaged
    ``rag/rerank_weights.json``, fitted on the dev split by ``scripts/rerank_study.py``): one
    model for a pool of one file's pages, one for a whole-folder pool of several files'. Branch
    ranks come from the search itself (:class:`RerankContext`); every pool page's best chunk and
    page-item cosine and keyword score come from two store calls restricted to the pool's pages.
    Runs on CPU with no model of its own; the ``cpu`` profile's reranker (issue 18: within one
    document recall@5 0.717 -> 0.781 on the dev split, 0.763 held out; ``docs/eval.md``).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Literal, Protocol, runtime_checkable

import numpy as np

from ingest.records import TEXT_KINDS
from rag.config import RetrieveConfig
from rag.embed.base import Embedder
from rag.errors import ConfigError
from rag.records import Evidence, Hit, Prefetch, QueryPlan, SearchFilter, SparseVector
from rag.registry import Registry
from rag.rerank_features import FEATURES, Candidate, feature_matrix
from rag.store.base import RefQueries
from rag.store.common import PointRef

if TYPE_CHECKING:
    from rag.store.base import Store

log = logging.getLogger(__name__)


@runtime_checkable
class Reranker(Protocol):
    """Reorders evidence for a question; returns the same items, best first."""

    def rerank(self, query: str, evidence: list[Evidence]) -> list[Evidence]:
        """``evidence`` in fused order (best first) -> the same items reordered."""
        ...


@dataclass(frozen=True)
class RerankContext:
    """What the search already has when it reranks: rerankers that read it implement
    :class:`ContextReranker`; the others get the question and the evidence alone."""

    query_vector: Sequence[float] | None = None
    """The question's dense vector (None in ``sparse`` mode)."""
    branches: Sequence[tuple[str, Sequence[Hit]]] = ()
    """Each branch's hits, best first, as fused (name as :func:`rag.retrieve.branch_name`);
    empty with ``retrieve.fusion: items``."""
    store: Store | None = None
    """The store searched, for what the branches did not return (a pool page's page item)."""
    filter: SearchFilter = field(default_factory=SearchFilter)
    """The search's filter (tenant, kinds, files)."""
    sparse_vector: SparseVector | None = None
    """The question's keyword vector (None in ``dense`` mode)."""


@runtime_checkable
class ContextReranker(Protocol):
    """A reranker that also reads the search's :class:`RerankContext`."""

    def rerank(self, query: str, evidence: list[Evidence]) -> list[Evidence]: ...

    def rerank_in(self, query: str, evidence: list[Evidence], context: RerankContext) -> list[Evidence]:
        """Like :meth:`Reranker.rerank`, reading ``context`` too."""
        ...


def rerank(reranker: Reranker, query: str, evidence: list[Evidence], context: RerankContext) -> list[Evidence]:
    """``reranker``'s order of ``evidence``, passing ``context`` to a :class:`ContextReranker`."""
    if isinstance(reranker, ContextReranker):
        return reranker.rerank_in(query, evidence, context)
    return reranker.rerank(query, evidence)


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


ITEMS_PER_PAGE = 12
"""Items read per pool page by the reranker's store calls (a page's best chunk is among them)."""
MAX_POOL_ITEMS = 600
"""Most items one of those calls returns."""

WEIGHTS_FILE = Path(__file__).with_name("rerank_weights.json")
"""The packaged weights of the ``features`` reranker (fitted on the dev split only)."""


@dataclass(frozen=True)
class LinearWeights:
    """A linear model over :data:`~rag.rerank_features.FEATURES`: standardise, then dot."""

    weights: np.ndarray
    mean: np.ndarray
    scale: np.ndarray

    @classmethod
    def load(cls, path: Path = WEIGHTS_FILE, model: str = "file") -> LinearWeights:
        """Reads model ``model`` (``file``: pools of one file; ``folder``: pools of several) of a
        weights file (JSON: ``features``, then per model ``weights``, ``mean``, ``scale``); a
        file whose feature names are not :data:`FEATURES` is a ConfigError (fitted on other columns)."""
        try:
            raw = json.loads(Path(path).read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise ConfigError(f"{path}: cannot read reranker weights: {exc}") from exc
        names = raw.get("features")
        if names != list(FEATURES):
            raise ConfigError(f"{path}: reranker weights are for features {names}, this version has {list(FEATURES)}")
        one = raw.get("models", {}).get(model)
        if not isinstance(one, dict):
            raise ConfigError(f"{path}: no reranker model {model!r}")
        try:
            arrays = [np.asarray(one[key], dtype=np.float64) for key in ("weights", "mean", "scale")]
        except (KeyError, TypeError, ValueError) as exc:
            raise ConfigError(f"{path}: reranker model {model!r} needs weights, mean and scale: {exc}") from exc
        if any(a.shape != (len(FEATURES),) for a in arrays) or not np.all(arrays[2] > 0):
            raise ConfigError(f"{path}: reranker weights, mean and scale need {len(FEATURES)} values (scale > 0)")
        return cls(*arrays)

    def score(self, x: np.ndarray) -> np.ndarray:
        """Score of each row of ``x`` (n, F) -> (n,)."""
        return ((x - self.mean) / self.scale) @ self.weights


class FeatureReranker:
    """Linear model over cheap per-page features (formula: module docstring)."""

    def __init__(self, embedder: Embedder, weights: LinearWeights | None = None,
                 folder_weights: LinearWeights | None = None) -> None:
        """``weights`` score a pool of one file's pages, ``folder_weights`` a pool of several
        files' (a whole-folder search); None reads that model of the packaged :data:`WEIGHTS_FILE`."""
        self.embedder = embedder
        self.weights = weights or LinearWeights.load(WEIGHTS_FILE, "file")
        self.folder_weights = folder_weights or (self.weights if weights is not None
                                                 else LinearWeights.load(WEIGHTS_FILE, "folder"))

    def model_for(self, candidates: Sequence[Candidate]) -> LinearWeights:
        """The file model for a pool of one file's pages, else the folder model."""
        return self.weights if len({c.file for c in candidates}) <= 1 else self.folder_weights

    @classmethod
    def from_config(cls, cfg: RetrieveConfig, embedder: Embedder) -> FeatureReranker:
        """The packaged weights; the embedder only scores pages when no search context is given."""
        return cls(embedder)

    def candidates(self, query: str, evidence: Sequence[Evidence], context: RerankContext) -> list[Candidate]:
        """The pool as :class:`~rag.rerank_features.Candidate` (fused order): branch ranks from
        ``context``, and from two store calls restricted to the pool's pages every page's best
        chunk cosine, page item (its text and cosine), figures and best keyword score."""
        rank: dict[tuple[str, int], dict[str, int]] = {}
        best: dict[tuple[str, int], dict[str, float]] = {}
        for name, hits in context.branches:
            seen = 0
            for h in hits:
                key = (h.item.file, h.item.page)
                if name not in rank.setdefault(key, {}):
                    seen += 1
                    rank[key][name] = seen
                    best.setdefault(key, {})[name] = h.score
        keys = [(e.file, e.page) for e in evidence]
        if isinstance(context.store, RefQueries):
            return self._candidates_from_refs(evidence, keys, context, rank, best)
        dense = self._pool_hits(keys, context, "dense")
        sparse = self._pool_hits(keys, context, "sparse")
        out = []
        for ev, key in zip(evidence, keys, strict=True):
            own = dense.get(key, [])
            page_item = next((h for h in own if h.item.kind == "page"), None)
            chunk = next((h for h in own if h.item.kind in TEXT_KINDS), None)
            kw = sparse.get(key, [])
            text = page_item.item.text if page_item is not None and page_item.item.text.strip() else ev.text
            out.append(Candidate(
                file=ev.file, page=ev.page, fused_score=ev.score, text=text,
                page_cos=page_item.score if page_item is not None else None,
                chunk_cos=chunk.score if chunk is not None else None,
                keyword_score=kw[0].score if kw else (0.0 if sparse else None),
                figures=sum(1 for h in own if h.item.kind == "figure"),
                branch_rank=rank.get(key, {}), branch_score=best.get(key, {})))
        return out

    @staticmethod
    def _candidates_from_refs(evidence: Sequence[Evidence], keys: Sequence[tuple[str, int]],
                              context: RerankContext, rank: dict[tuple[str, int], dict[str, int]],
                              best: dict[tuple[str, int], dict[str, float]]) -> list[Candidate]:
        """What :meth:`candidates` reads from the two pool queries, from a :class:`RefQueries`
        store: both queries returning only where each hit is (no items), then only the page
        items' texts by id (issue 14: the same points, order and scores as two
        :meth:`Store.query` calls, ~3 ms less a search; ``tests/rag/test_rerank_fast_path.py``)."""
        store = context.store
        assert isinstance(store, RefQueries)
        plans = {using: FeatureReranker._pool_plan(keys, context, using) for using in ("dense", "sparse")}
        live = [(using, plan) for using, plan in plans.items() if plan is not None]
        found = dict(zip([u for u, _ in live], store.query_refs([p for _, p in live]), strict=True))
        wanted = set(keys)

        def by_page(refs: Sequence[PointRef]) -> dict[tuple[str, int], list[PointRef]]:
            out: dict[tuple[str, int], list[PointRef]] = {}
            for r in refs:
                if (r.file, r.page) in wanted:
                    out.setdefault((r.file, r.page), []).append(r)
            return out

        dense, sparse = by_page(found.get("dense", [])), by_page(found.get("sparse", []))
        page_ref = {key: next((r for r in refs if r.kind == "page"), None) for key, refs in dense.items()}
        texts = {h.id: h.item.text for h in store.hits_by_id([r.id for r in page_ref.values() if r is not None])}
        out = []
        for ev, key in zip(evidence, keys, strict=True):
            own = dense.get(key, [])
            page_item = page_ref.get(key)
            chunk = next((r for r in own if r.kind in TEXT_KINDS), None)
            kw = sparse.get(key, [])
            page_text = texts.get(page_item.id, "") if page_item is not None else ""
            out.append(Candidate(
                file=ev.file, page=ev.page, fused_score=ev.score, text=page_text if page_text.strip() else ev.text,
                page_cos=page_item.score if page_item is not None else None,
                chunk_cos=chunk.score if chunk is not None else None,
                keyword_score=kw[0].score if kw else (0.0 if sparse else None),
                figures=sum(1 for r in own if r.kind == "figure"),
                branch_rank=rank.get(key, {}), branch_score=best.get(key, {})))
        return out

    @staticmethod
    def _pool_plan(keys: Sequence[tuple[str, int]], context: RerankContext,
                   using: Literal["dense", "sparse"]) -> QueryPlan | None:
        """The ``using`` query of the question restricted to the pool's files and page numbers;
        None when the context has no store or no query vector of that kind."""
        vector = context.query_vector if using == "dense" else context.sparse_vector
        if context.store is None or vector is None or not keys:
            return None
        files = sorted({f for f, _ in keys})
        pages = sorted({p for _, p in keys})
        limit = min(MAX_POOL_ITEMS, ITEMS_PER_PAGE * len(keys))
        flt = context.filter.model_copy(update={"files": files, "file_globs": [], "kinds": []})
        return QueryPlan(dense=list(context.query_vector) if context.query_vector is not None else None,
                         sparse=context.sparse_vector, filter=flt, limit=limit,
                         prefetch=[Prefetch(using=using, pages=pages, limit=limit)])

    @staticmethod
    def _pool_hits(keys: Sequence[tuple[str, int]], context: RerankContext,
                   using: Literal["dense", "sparse"]) -> dict[tuple[str, int], list[Hit]]:
        """Every item of the pool's pages a ``using`` query of the question returns (best first,
        by page); one store call restricted to the pool's files and page numbers. Empty when the
        context has no store or no query vector of that kind."""
        plan = FeatureReranker._pool_plan(keys, context, using)
        if plan is None or context.store is None:
            return {}
        wanted = set(keys)
        found: dict[tuple[str, int], list[Hit]] = {}
        for h in context.store.query(plan):
            key = (h.item.file, h.item.page)
            if key in wanted:
                found.setdefault(key, []).append(h)
        return found

    def scores_in(self, query: str, evidence: Sequence[Evidence], context: RerankContext) -> np.ndarray:
        """Model score of each item, in input order. Shape (n,)."""
        cands = self.candidates(query, evidence, context)
        return self.model_for(cands).score(feature_matrix(query, cands))

    def rerank_in(self, query: str, evidence: list[Evidence], context: RerankContext) -> list[Evidence]:
        """``evidence`` ordered by model score (stable), each with its ``rerank_score``."""
        if not evidence:
            return []
        scores = self.scores_in(query, evidence, context)
        order = sorted(range(len(evidence)), key=lambda i: -scores[i])
        log.debug("feature-reranked %d items for %r: fused ranks %s", len(evidence), query[:80], order)
        return [evidence[i].model_copy(update={"rerank_score": float(scores[i])}) for i in order]

    def rerank(self, query: str, evidence: list[Evidence]) -> list[Evidence]:
        """Without a search context: the question vector from the embedder, no branch ranks,
        and each page's cosine against its own text."""
        if not evidence:
            return []
        qv = self.embedder.embed_queries([query])[0]
        texts = [e.text if e.text.strip() else " " for e in evidence]
        cos = np.asarray(self.embedder.embed_texts(texts), dtype=np.float64) @ np.asarray(qv, dtype=np.float64)
        cands = [Candidate(file=e.file, page=e.page, fused_score=e.score, text=e.text, page_cos=float(c))
                 for e, c in zip(evidence, cos, strict=True)]
        scores = self.model_for(cands).score(feature_matrix(query, cands))
        order = sorted(range(len(evidence)), key=lambda i: -scores[i])
        return [evidence[i].model_copy(update={"rerank_score": float(scores[i])}) for i in order]


RERANKERS: Registry[Reranker] = Registry("reranker")
RERANKERS.register("none", "rag.rerank:NoReranker.from_config")
RERANKERS.register("embedding", "rag.rerank:EmbeddingReranker.from_config")
RERANKERS.register("features", "rag.rerank:FeatureReranker.from_config")


def build_reranker(cfg: RetrieveConfig, embedder: Embedder) -> Reranker:
    """The reranker ``cfg.rerank`` names, built once at start-up; an unknown name is a ConfigError."""
    return RERANKERS.factory(cfg.rerank)(cfg, embedder)
