"""The ``features`` reranker's fast paths (issue 14) against the code they replace, on a small real
index built here (cpu profile: multilingual-e5-small, Qdrant Edge): the pool lookups through
:class:`~rag.store.base.RefQueries` give the candidates of the two :meth:`Store.query` calls
(same pages, texts, cosines, keyword scores, figures: exactly equal floats), so the same scores
and order; and the per-text caches of :mod:`rag.rerank_features` give the values of the functions
they cache, so the same feature matrix cold and warm."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pymupdf
import pytest

from rag import rerank_features as rf
from rag.pipeline import Pipeline
from rag.records import Evidence, Hit, QueryPlan, SearchFilter
from rag.rerank import FeatureReranker, RerankContext
from rag.retrieve import group_by_page
from rag.store.base import RefQueries
from tests.pdfs import write_report

FOOTER = " Figures in thousands of euros unless stated otherwise. See note 4 (page 2)."
QUESTIONS = [
    "How much did the company pay in dividends in 2025?",
    "What were total assets and total current liabilities?",
    "Which part number replaces the cooling pump, QZ-7781-K?",
    "What does Table 2 show about warranty claims in 2024 and 2025?",
    "What is the Figure 1 chart about?",
    "\"statements of cash flows\" capital expenditure",
    "the of and",  # stopwords only: no keyword vector
]


@pytest.fixture(scope="module")
def pipe(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Pipeline, Path]]:
    docs = tmp_path_factory.mktemp("docs")
    write_report(docs / "operations_2025.pdf")
    write_report(docs / "finance.pdf", {
        1: "Letter to shareholders. The year brought new customers in every region." + FOOTER,
        2: "CONSOLIDATED STATEMENTS OF CASH FLOWS (in thousands). Dividends paid 41,200 in 2025; "
           "capital expenditure 12,900." + FOOTER,
        3: "CONSOLIDATED BALANCE SHEETS (in thousands). Total assets 880,100; total current liabilities 90,400."
           + FOOTER,
        4: "Table 2: warranty claims by year. 2024: 1.9 percent. 2025: 1.3 percent." + FOOTER,
        5: "Figure 1: revenue by region, a bar chart. Europe 41 percent, Asia 33 percent." + FOOTER,
        6: "Letter to shareholders. The year brought new customers in every region." + FOOTER,  # = page 1
        7: "Notes to the statements. Dividends are paid twice a year; the next in March 2026." + FOOTER,
    }, "Annual report")
    _write_figures(docs / "charts.pdf")
    index = tmp_path_factory.mktemp("index")
    # small chunks: several per page, so a page's first hit of each kind is a choice the lookups make
    overrides = {"store.path": str(index), "ingest.ocr": "none", "retrieve.rerank": "features",
                 "ingest.chunk_tokens": 16, "ingest.chunk_overlap": 0}
    with Pipeline.from_config("cpu", overrides, environ={}) as p:
        p.ingest([docs], progress=False)
        yield p, docs


def _write_figures(path: Path) -> None:
    """Three pages of prose, each with two bar-chart images of their own (figure items: the
    lookups count them; an image repeated across pages would be taken for a logo)."""

    def chart(seed: int) -> bytes:
        src = pymupdf.open()
        page = src.new_page(width=300, height=200)
        for i in range(3):
            h = 30 + (seed * 37 + i * 53) % 140
            page.draw_rect(pymupdf.Rect(40 + 80 * i, 180 - h, 90 + 80 * i, 180), color=(0, 0, 0),
                           fill=(0.2 + 0.1 * (seed % 6), 0.3, 0.2))
        png: bytes = page.get_pixmap(dpi=96).tobytes("png")
        src.close()
        return png

    doc = pymupdf.open()
    for n, topic in enumerate(("revenue by region", "warranty claims by year", "dividends per share"), start=1):
        page = doc.new_page(width=595, height=842)
        page.insert_textbox(pymupdf.Rect(72, 72, 523, 300), f"Chart book page {n}. The charts below show {topic} "
                            f"for 2024 and 2025. Figure {n}: {topic}.", fontsize=11)
        for k, top in enumerate((300, 540)):  # a caption under each: a figure without text is not embedded
            page.insert_image(pymupdf.Rect(72, top, 372, top + 200), stream=chart(2 * n + k))
            page.insert_text((72, top + 216), f"Figure {n}.{k + 1}: {topic}, {'2024' if k else '2025'}.", fontsize=10)
    doc.save(str(path))
    doc.close()


class _QueryOnly:
    """The store as the reranker saw every store before: ``query`` only (not RefQueries); counts calls."""

    def __init__(self, store: Any) -> None:
        self.store = store
        self.calls = 0

    def query(self, plan: QueryPlan) -> list[Hit]:
        self.calls += 1
        result: list[Hit] = self.store.query(plan)
        return result


def _pools(p: Pipeline, docs: Path) -> Iterator[tuple[str, list[Evidence], RerankContext]]:
    """Each question's pool and search context, within each file and over the whole folder."""
    r = p.retriever
    scopes: Sequence[SearchFilter | None] = [SearchFilter(files=[str((docs / n).resolve())])
                                             for n in ("finance.pdf", "operations_2025.pdf", "charts.pdf")] + [None]
    for flt in scopes:
        for q in QUESTIONS:
            plan = r.plan(q, 30, flt)
            hits, branches = r._query(q, plan, flt)
            evidence = group_by_page(hits, 30, max_per_file=15)
            yield q, evidence, RerankContext(plan.dense, branches, p.store, plan.filter, plan.sparse)


def test_pool_lookups_by_reference_give_the_candidates_and_scores_of_store_queries(
        pipe: tuple[Pipeline, Path]) -> None:
    p, docs = pipe
    reranker = p.retriever.reranker
    assert isinstance(reranker, FeatureReranker) and isinstance(p.store, RefQueries)
    pools = list(_pools(p, docs))
    assert any(len(ev) >= 7 for _, ev, _ in pools)  # pools of several pages, with figures and tables
    seen_keywords = seen_pages = seen_figures = 0
    for q, evidence, context in pools:
        slow_store = _QueryOnly(p.store)
        slow_context = RerankContext(context.query_vector, context.branches, slow_store,  # type: ignore[arg-type]
                                     context.filter, context.sparse_vector)
        fast = reranker.candidates(q, evidence, context)
        slow = reranker.candidates(q, evidence, slow_context)
        assert slow_store.calls == 2  # the old path: one query per pool lookup
        assert fast == slow, q  # dataclass equality: every field, floats bit for bit
        assert np.array_equal(reranker.scores_in(q, evidence, context),
                              reranker.scores_in(q, evidence, slow_context))
        fast_order = [(e.file, e.page, e.rerank_score) for e in reranker.rerank_in(q, evidence, context)]
        slow_order = [(e.file, e.page, e.rerank_score) for e in reranker.rerank_in(q, evidence, slow_context)]
        assert fast_order == slow_order
        seen_keywords += sum(c.keyword_score is not None and c.keyword_score > 0 for c in fast)
        seen_pages += sum(c.page_cos is not None for c in fast)
        seen_figures += sum(c.figures for c in fast)
    assert seen_keywords and seen_pages and seen_figures  # the lookups found something to compare


def test_the_fast_path_makes_no_item_queries(pipe: tuple[Pipeline, Path], monkeypatch: pytest.MonkeyPatch) -> None:
    p, docs = pipe
    reranker = p.retriever.reranker
    assert isinstance(reranker, FeatureReranker)
    q, evidence, context = next(_pools(p, docs))

    def refuse(plan: QueryPlan) -> list[Hit]:
        raise AssertionError("the reranker's pool lookups went through Store.query")

    monkeypatch.setattr(p.store, "query", refuse)
    assert reranker.candidates(q, evidence, context)


def test_cached_page_values_are_the_functions_values_and_the_matrix_is_the_same_cold_and_warm(
        pipe: tuple[Pipeline, Path]) -> None:
    p, docs = pipe
    reranker = p.retriever.reranker
    assert isinstance(reranker, FeatureReranker)
    for q, evidence, context in _pools(p, docs):
        cands = reranker.candidates(q, evidence, context)
        for c in cands:
            t = c.text
            assert rf._bag(t) == rf.Counter(rf.keyword_terms(t))
            assert rf._title_terms(t) == set(rf.keyword_terms(t[:rf.TITLE_CHARS]))
            assert rf._page_numbers(t) == rf.numbers_in(t)
            assert rf._page_labels(t) == rf.labels_in(t)
            assert rf._page_statements(t) == rf.statements_titled(t[:rf.TITLE_CHARS])
            assert set(rf.pairwise(rf._page_words(t))) == rf._bigrams(rf.keyword_terms(t))
            qt = rf.QueryTerms.of(q)
            firsts = {a for a, _ in qt.bigrams}
            assert rf._bigrams_found(qt.bigrams, firsts, rf._page_words(t)) == len(
                qt.bigrams & rf._bigrams(rf.keyword_terms(t)))
            for pair in list(rf._bigrams(rf.keyword_terms(t)))[:20]:  # the page's own pairs are found
                assert rf._bigrams_found({pair, ("zz", "yy")}, {pair[0], "zz"}, rf._page_words(t)) == 1
            assert rf._normalised(t) == rf.normalise(t)
        for cache in rf.PAGE_CACHES:
            cache.cache_clear()
        cold = rf.feature_matrix(q, cands)
        warm = rf.feature_matrix(q, cands)
        assert np.array_equal(cold, warm)
        assert rf._bag.cache_info().hits > 0


def test_one_regex_per_statement_finds_what_one_search_per_cue_found() -> None:
    import re

    def by_cue(question: str) -> set[str]:  # the code before issue 14
        norm = rf.normalise(question)
        return {name for name, (cues, _) in rf.STATEMENTS.items()
                if any(re.search(rf"(?<![a-z]){re.escape(c)}{'(?![a-z])' if len(c) < 5 else ''}", norm)
                       for c in cues)}

    cues = [c for cue_list, _ in rf.STATEMENTS.values() for c in cue_list]
    questions = [*QUESTIONS, "What was the ROA and the EPS in 2025?", "roadmap and epsilon", "Debt-to-equity?"]
    for c in cues:
        questions += [f"What is the {c}?", f"x{c}", f"{c}s of 2024", f"{c.upper()}-based", f"({c})"]
    assert any(by_cue(q) for q in questions) and any(not by_cue(q) for q in questions)
    for q in questions:
        assert rf.statements_asked(q) == by_cue(q), q
