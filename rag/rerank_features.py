"""Cheap per-page features of the ``features`` reranker (:mod:`rag.rerank`), one row per candidate page.

A candidate is a page of the fused pool: its fused rank and score, the rank and raw score of its
best item in each retrieval branch (dense text, dense image/page, keywords, named pages), the
multilingual embedder's cosine between the question and the page's own page item (the query
vector is the one the search already computed), and text matches between the question and the
page's text: BM25 over the pool with the keyword tokenizer (Kiwi morphemes for Korean, so the
features are the same for both languages), the share of the question's terms, numbers and
figure/table labels ("Figure 3", "표 2") the page holds, and how many of its terms the page's
first lines (a statement's title) hold.

Every feature is a number on a scale that does not depend on the pool size (ranks enter as
reciprocal ranks, scores relative to the pool's best), so weights fitted on a pool of 30 pages
(``mmrag eval``) hold for the 20 of a chat search. :data:`FEATURES` names the columns; the
weights file stores them by name, so a file that lacks a column or has an extra one is refused.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from itertools import pairwise

import numpy as np

from ingest.text.tokens import NUMBER, QUOTED_TITLE, keyword_terms, label_terms, normalise
from rag.doc_stage import script_of

BRANCHES = ("text", "image", "sparse", "pages")
"""Retrieval branches whose ranks are features (names as :func:`rag.retrieve.branch_name`)."""

RRF_K = 10.0
"""Constant of the reciprocal-rank features: ``1 / (RRF_K + rank)`` scaled by ``RRF_K + 1``
(rank from 1), so the best rank gives 1."""

TITLE_CHARS = 240
"""The page's first characters read as its title (a statement's name and units fit in them)."""

FEATURES: tuple[str, ...] = (
    "fused_rr",          # reciprocal fused rank
    "fused_rel",         # fused score / the pool's best fused score
    *(f"{b}_rr" for b in BRANCHES),      # reciprocal rank of the page's best item in each branch (0: not found)
    # raw score in the branch (best chunk cosine, page item cosine, keyword score) against the
    # pool's best: a difference for cosines, a ratio for keywords; unknown: the pool's worst
    "text_rel", "image_rel", "sparse_rel",
    "branches",          # how many branches found the page, / 4
    "page_cos_rel",      # cosine(question, page item) minus the pool's best
    "page_cos_z",        # the same cosine as a z-score within the pool
    "bm25_rel",          # BM25 of the page text over the pool / the pool's best
    "coverage",          # share of the question's distinct terms in the page
    "title_coverage",    # share of them in the page's first TITLE_CHARS characters
    "numbers",           # share of the question's numbers in the page (0 when it has none)
    "labels",            # share of the question's figure/table labels on the page (0 when none)
    "visual",            # the question asks about a figure/chart/photo and the page has figures
    "figures",           # the page has figure items (any question)
    "statement",         # share of the financial statements the question names that the page's title names
    "log_len",           # log(1 + page terms) / 8
    "neighbour_rr",      # the best reciprocal fused rank of the page just before or after it
    "chunk_pool_rr", "page_pool_rr", "keyword_pool_rr", "bm25_pool_rr",  # reciprocal rank within the pool by
    # the best chunk's cosine, the page item's cosine, the keyword score, BM25
    "bigrams",           # share of the question's adjacent term pairs adjacent on the page
    "quoted",            # share of the question's quoted phrases on the page (0 when none)
    "file_share",        # share of the pool's first 10 pages that are of the page's file (1 within one file)
)

VISUAL_TERMS = frozenset({
    "figure", "figures", "fig", "chart", "charts", "graph", "graphs", "image", "images", "picture",
    "pictures", "photo", "photos", "photograph", "diagram", "diagrams", "plot", "plots", "map", "maps",
    "logo", "logos", "illustration", "screenshot", "icon", "icons", "infographic", "subfigure",
    "그림", "사진", "도표", "차트", "그래프", "이미지", "다이어그램", "지도", "로고", "도식",
})
"""Question terms (keyword tokenizer forms) that ask about something drawn rather than written."""

STATEMENTS: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    # statement: (what a question says when it needs it, what the statement's title says)
    "balance": (("balance sheet", "financial position", "total assets", "working capital", "current assets",
                 "current liabilities", "total liabilities", "stockholders' equity", "shareholders' equity",
                 "pp&e", "inventor", "receivable", "quick ratio", "current ratio", "debt to equity",
                 "debt-to-equity", "return on assets", "roa", "return on equity", "roe", "asset turnover",
                 "inventory turnover", "days sales", "operating cash flow ratio", "net debt",
                 "재무상태표", "대차대조표", "자산총계", "부채총계", "유동자산", "유동부채", "자본총계"),
                ("balance sheet", "financial position", "재무상태표", "대차대조표")),
    "cash": (("cash flow", "cash from operations", "operating activities", "capital expenditure", "capex",
              "dividends", "free cash", "cashflow", "cash conversion", "depreciation and amortization", "d&a",
              "capital-intensive", "capital intensive", "현금흐름"),
             ("cash flow", "현금흐름")),
    "income": (("income statement", "statement of operations", "statements of operations", "p&l",
                "profit and loss", "revenue", "net income", "operating income", "operating margin",
                "gross margin", "gross profit", "ebitda", "earnings per share", "eps", "cost of goods",
                "cogs", "net sales", "return on assets", "roa", "return on equity", "roe", "asset turnover",
                "inventory turnover", "days sales", "interest coverage", "ebit", "margin",
                "손익계산서", "매출", "영업이익", "당기순이익"),
               ("statements of operations", "statement of operations", "statements of income",
                "statement of income", "income statement", "statements of earnings", "statement of earnings",
                "손익계산서")),
}
"""The three financial statements: a question's cue words and the statement page's title words
(English and Korean, normalised lower case). Filings hold hundreds of pages that quote the same
line items; the page whose title is the statement the question names is the one that answers."""


def _cue_pattern(cues: Sequence[str]) -> re.Pattern[str]:
    """One regex for a statement's cues: each not inside a longer word on its left, and short
    ones (< 5 characters: "roa", "eps") not on their right either. A search of the alternation
    matches where some cue's own search would: one search a statement instead of ~30 (issue 14)."""
    return re.compile("(?<![a-z])(?:" + "|".join(
        f"{re.escape(c)}{'(?![a-z])' if len(c) < 5 else ''}" for c in cues) + ")")


_CUES = {name: _cue_pattern(cues) for name, (cues, _) in STATEMENTS.items()}


def statements_asked(question: str) -> set[str]:
    """Statements of :data:`STATEMENTS` whose cue words ``question`` holds."""
    norm = normalise(question)
    return {name for name, pattern in _CUES.items() if pattern.search(norm)}


def statements_titled(title: str) -> set[str]:
    """Statements of :data:`STATEMENTS` whose title words ``title`` holds."""
    norm = normalise(title)
    return {name for name, (_, titles) in STATEMENTS.items() if any(t in norm for t in titles)}


def numbers_in(text: str) -> set[str]:
    """Numbers of ``text`` without thousands separators ("1,200.5" -> "1200.5"); single digits
    are left out (list markers, footnotes), years and amounts stay."""
    out = {m.group().replace(",", "") for m in NUMBER.finditer(text)}
    return {n for n in out if len(n.replace(".", "")) >= 2}


def labels_in(text: str) -> set[str]:
    """Figure and table labels of ``text`` as keyword terms: ``figure:3``, ``table:2`` (그림, 표 too)."""
    return {t for _, t in label_terms(normalise(text))}




def quoted_in(text: str) -> list[str]:
    """Phrases of ``text`` in double, curly or corner quotes, normalised."""
    return [normalise(m.group(1)).strip() for m in QUOTED_TITLE.finditer(text) if m.group(1).strip()]


@lru_cache(maxsize=4096)
def _terms(text: str) -> tuple[str, ...]:
    """Keyword terms of a page text, kept for the pages searched again (Kiwi is most of the cost)."""
    return tuple(keyword_terms(text))


# What the features read from a page's text alone, kept per text like its terms: a page is in the
# pools of many questions about its document, and rebuilding these (word pairs above all) was
# most of the features' time (issue 14: ~4 of the reranker's ~10 ms). Each is a pure function of
# the text, so a cached value is the value; the sets are frozen and the Counter is only read.
# 4,096 texts each, as for the terms (the pools of ~130 searches of 30 pages; fewer and a round of
# the 227 dev questions evicted them before they were met again). The bag is the big one (~10-20
# KB a page: up to ~80 MB when full); the others hold a few numbers, labels or pointers a page.
PAGE_CACHE = 4096
"""Page texts whose derived values (bag of terms, title terms, numbers, labels, words) are kept."""


@lru_cache(maxsize=PAGE_CACHE)
def _bag(text: str) -> Counter[str]:
    """Term counts of a page text (read only: shared by every pool the page is in)."""
    return Counter(_terms(text))


@lru_cache(maxsize=PAGE_CACHE)
def _title_terms(text: str) -> frozenset[str]:
    """Terms of the page's first :data:`TITLE_CHARS` characters."""
    return frozenset(_terms(text[:TITLE_CHARS]))


@lru_cache(maxsize=PAGE_CACHE)
def _page_numbers(text: str) -> frozenset[str]:
    """:func:`numbers_in` of a page text."""
    return frozenset(numbers_in(text))


@lru_cache(maxsize=PAGE_CACHE)
def _page_labels(text: str) -> frozenset[str]:
    """:func:`labels_in` of a page text."""
    return frozenset(labels_in(text))


@lru_cache(maxsize=PAGE_CACHE)
def _page_statements(text: str) -> frozenset[str]:
    """:func:`statements_titled` of the page's first :data:`TITLE_CHARS` characters."""
    return frozenset(statements_titled(text[:TITLE_CHARS]))


@lru_cache(maxsize=PAGE_CACHE)
def _page_words(text: str) -> tuple[str, ...]:
    """:func:`_words` of a page text's terms (pointers to its terms' strings: small to keep)."""
    return tuple(_words(_terms(text)))


def _bigrams_found(bigrams: set[tuple[str, str]], firsts: set[str], words: Sequence[str]) -> int:
    """How many of ``bigrams`` (``firsts``: their first words) are adjacent in ``words``: the
    size of ``bigrams & set(pairwise(words))`` without building the page's every pair (~600
    tuples a page, most of the features' time before issue 14); a pair whose first word is no
    first word of ``bigrams`` cannot be one of them."""
    return len(bigrams.intersection([p for p in pairwise(words) if p[0] in firsts]))


@lru_cache(maxsize=PAGE_CACHE)
def _normalised(text: str) -> str:
    """:func:`~ingest.text.tokens.normalise` of a page text (quoted phrases are matched in it)."""
    return normalise(text)


LEXICAL = ("sparse_rr", "sparse_rel", "keyword_pool_rr", "bm25_rel", "bm25_pool_rr", "coverage",
           "title_coverage", "bigrams", "quoted")
"""Features read from the question's words: silent on a page in another script than the question
(a Korean question, an English page). Such a page would rank below every look-alike page of the
question's script (a mean or any other stand-in still did, on the Korean set), so a pool whose
nearest pages by cosine hold one is ordered without them."""

CROSS_SCRIPT_TOP = 3
"""Pages nearest the question by cosine looked at for a page in another script than the question."""

SCRIPT_CHARS = 600
"""Characters of a page its script is read from (:func:`rag.doc_stage.script_of`)."""


MIN_SCRIPT_LETTERS = 20
"""Letters a page needs for its script to count: OCR of a photo ("@ ': 구나 {7") has none to speak of."""


@lru_cache(maxsize=4096)
def _script(text: str) -> str:
    """The page's script, ``""`` when it has too few letters to tell."""
    head = text[:SCRIPT_CHARS]
    return script_of(head) if sum(ch.isalpha() for ch in head) >= MIN_SCRIPT_LETTERS else ""


def _words(terms: Sequence[str]) -> list[str]:
    """``terms`` without the parts the tokenizer adds after a compound ("hx-7720", "hx", "7720" is
    one word; 영업이익, 영업, 이익 too)."""
    words: list[str] = []
    for t in terms:
        if words and t != words[-1] and t in words[-1]:
            continue
        words.append(t)
    return words


def _bigrams(terms: Sequence[str]) -> set[tuple[str, str]]:
    """Adjacent pairs of :func:`_words` of ``terms``, so a pair is two words."""
    return set(pairwise(_words(terms)))


@dataclass
class Candidate:
    """One page of the pool, in fused order, with what its features are read from."""

    file: str
    page: int
    fused_score: float
    text: str
    """The page's full text (its page item) when known, else the text of its hit chunks."""
    page_cos: float | None = None
    """Cosine of the question and the page item; None: the page has none (or it was not fetched)."""
    chunk_cos: float | None = None
    """Cosine of the question and the page's best text chunk or table; None: not known."""
    keyword_score: float | None = None
    """Best keyword (sparse) score of the page's items; None: not known."""
    figures: int = 0
    """Figure items of the page."""
    branch_rank: dict[str, int] = field(default_factory=dict)
    """Branch name -> rank (from 1) of the page among that branch's distinct pages."""
    branch_score: dict[str, float] = field(default_factory=dict)
    """Branch name -> raw score of the page's best item in that branch."""


@dataclass
class QueryTerms:
    """What the question is matched with, read once per question."""

    terms: list[str]
    numbers: set[str]
    labels: set[str]
    script: str = ""
    """The question's writing system (:func:`rag.doc_stage.script_of`; ``""``: no letters)."""
    visual: bool = False
    statements: set[str] = field(default_factory=set)
    bigrams: set[tuple[str, str]] = field(default_factory=set)
    quoted: list[str] = field(default_factory=list)

    @classmethod
    def of(cls, question: str) -> QueryTerms:
        """Distinct keyword terms (tokenizer of the keyword branch), numbers, labels, whether it
        asks about a figure, and the financial statements it names, of ``question``."""
        seq = keyword_terms(question)
        terms = list(dict.fromkeys(seq))
        return cls(terms, numbers_in(question), labels_in(question), script_of(question),
                   bool(VISUAL_TERMS.intersection(terms)), statements_asked(question),
                   _bigrams(seq), quoted_in(question))


def _bm25(query: Sequence[str], docs: Sequence[Counter[str]], lengths: np.ndarray,
          k1: float = 1.2, b: float = 0.75) -> np.ndarray:
    """BM25 of each doc for ``query`` with IDF over ``docs`` themselves (the pool). Shape (n,)."""
    n = len(docs)
    avg = float(lengths.mean()) if n and lengths.mean() > 0 else 1.0
    out = np.zeros(n, dtype=np.float64)
    for term in query:
        df = sum(1 for d in docs if term in d)
        if not df:
            continue
        idf = math.log(1.0 + (n - df + 0.5) / (df + 0.5))
        for i, d in enumerate(docs):
            tf = d.get(term, 0)
            if tf:
                out[i] += idf * tf * (k1 + 1) / (tf + k1 * (1 - b + b * lengths[i] / avg))
    return out


def _neutral_across_scripts(x: np.ndarray, candidates: Sequence[Candidate], col: dict[str, int],
                            script: str) -> None:
    """In place: when one of the :data:`CROSS_SCRIPT_TOP` pages of the pool closest to the question
    by cosine is in another script than the question, the :data:`LEXICAL` columns become 0 for
    every page (the same for all: they no longer order the pool, which the fused rank and the
    cosines then do)."""
    if not script:
        return
    # only when the multilingual embedder puts such a page near the top: else the words still
    # order the pages of a mixed-language folder that the question can meet
    dense = [max((v for v in (c.chunk_cos, c.page_cos, *(c.branch_score.get(b) for b in ("text", "image")))
                  if v is not None), default=-1.0) for c in candidates]
    top = sorted(range(len(candidates)), key=lambda i: -dense[i])[:CROSS_SCRIPT_TOP]
    if not any(_script(candidates[i].text) and _script(candidates[i].text) != script for i in top):
        return
    for name in LEXICAL:
        x[:, col[name]] = 0.0


def _score_of(c: Candidate, branch: str) -> float | None:
    """The page's raw score in ``branch``: the pool-wide lookup when made, else the branch's own hit."""
    own = {"text": c.chunk_cos, "image": c.page_cos, "sparse": c.keyword_score}[branch]
    return own if own is not None else c.branch_score.get(branch)


def _rel(values: np.ndarray) -> np.ndarray:
    """``values`` over the pool's best (0 when the best is not positive)."""
    top = float(values.max()) if values.size else 0.0
    return values / top if top > 0 else np.zeros_like(values)


def feature_matrix(question: str | QueryTerms, candidates: Sequence[Candidate]) -> np.ndarray:
    """One row of :data:`FEATURES` per candidate (candidates in fused order). Shape (n, F)."""
    q = question if isinstance(question, QueryTerms) else QueryTerms.of(question)
    n = len(candidates)
    x = np.zeros((n, len(FEATURES)), dtype=np.float64)
    if not n:
        return x
    col = {name: j for j, name in enumerate(FEATURES)}
    fused = np.array([c.fused_score for c in candidates], dtype=np.float64)
    x[:, col["fused_rr"]] = (RRF_K + 1) / (RRF_K + 1 + np.arange(n))
    x[:, col["fused_rel"]] = _rel(fused)
    for b in BRANCHES:
        x[:, col[f"{b}_rr"]] = [(RRF_K + 1) / (RRF_K + c.branch_rank[b]) if b in c.branch_rank else 0.0
                                for c in candidates]
    for b in ("text", "image", "sparse"):
        raw = [_score_of(c, b) for c in candidates]
        known = [s for s in raw if s is not None]
        if not known:
            continue
        worst, best = min(known), max(known)
        vals = np.array([worst if s is None else s for s in raw], dtype=np.float64)
        # dense cosines differ by hundredths: a difference; keyword scores have no fixed scale: a ratio
        x[:, col[f"{b}_rel"]] = (vals - best) * 10 if b != "sparse" else (vals / best if best > 0 else 0.0)
    x[:, col["branches"]] = [len(c.branch_rank) / len(BRANCHES) for c in candidates]
    cos = [c.page_cos for c in candidates]
    known_cos = [v for v in cos if v is not None]
    if known_cos:
        floor = min(known_cos)
        cv = np.array([floor if v is None else v for v in cos], dtype=np.float64)
        x[:, col["page_cos_rel"]] = (cv - cv.max()) * 10
        sd = float(cv.std())
        x[:, col["page_cos_z"]] = (cv - cv.mean()) / sd if sd > 1e-9 else 0.0
    page_terms = [_terms(c.text) for c in candidates]
    bags = [_bag(c.text) for c in candidates]
    lengths = np.array([len(t) for t in page_terms], dtype=np.float64)
    x[:, col["bm25_rel"]] = _rel(_bm25(q.terms, bags, lengths))
    if q.terms:
        x[:, col["coverage"]] = [sum(1 for t in q.terms if t in bag) / len(q.terms) for bag in bags]
        titles = [_title_terms(c.text) for c in candidates]
        x[:, col["title_coverage"]] = [sum(1 for t in q.terms if t in tt) / len(q.terms) for tt in titles]
    if q.numbers:
        x[:, col["numbers"]] = [len(q.numbers & _page_numbers(c.text)) / len(q.numbers) for c in candidates]
    if q.labels:
        x[:, col["labels"]] = [len(q.labels & _page_labels(c.text)) / len(q.labels) for c in candidates]
    x[:, col["figures"]] = [float(c.figures > 0) for c in candidates]
    if q.visual:
        x[:, col["visual"]] = x[:, col["figures"]]
    if q.statements:
        x[:, col["statement"]] = [len(q.statements & _page_statements(c.text)) / len(q.statements)
                                  for c in candidates]
    x[:, col["log_len"]] = np.log1p(lengths) / 8.0
    rr_of = {(c.file, c.page): x[i, col["fused_rr"]] for i, c in enumerate(candidates)}
    x[:, col["neighbour_rr"]] = [max(rr_of.get((c.file, c.page - 1), 0.0), rr_of.get((c.file, c.page + 1), 0.0))
                                 for c in candidates]
    top_files = Counter(c.file for c in candidates[:10])
    x[:, col["file_share"]] = [top_files.get(c.file, 0) / min(10, n) for c in candidates]
    if q.bigrams:
        firsts = {a for a, _ in q.bigrams}
        x[:, col["bigrams"]] = [_bigrams_found(q.bigrams, firsts, _page_words(c.text)) / len(q.bigrams)
                                for c in candidates]
    if q.quoted:
        norms = [_normalised(c.text) for c in candidates]
        x[:, col["quoted"]] = [sum(1 for ph in q.quoted if ph in t) / len(q.quoted) for t in norms]
    pooled = {"chunk_pool_rr": x[:, col["text_rel"]], "page_pool_rr": x[:, col["image_rel"]],
              "keyword_pool_rr": x[:, col["sparse_rel"]], "bm25_pool_rr": x[:, col["bm25_rel"]]}
    for name, values in pooled.items():
        ranks = np.empty(n)
        ranks[np.argsort(-values, kind="stable")] = np.arange(1, n + 1)
        x[:, col[name]] = (RRF_K + 1) / (RRF_K + ranks)
    _neutral_across_scripts(x, candidates, col, q.script)
    return x


PAGE_CACHES = (_terms, _script, _bag, _title_terms, _page_numbers, _page_labels, _page_statements,
               _page_words, _normalised)
"""Every per-text cache of this module (``scripts/bench_search.py --cold`` empties them)."""
