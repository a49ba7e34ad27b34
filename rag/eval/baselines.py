"""Baselines that ``mmrag eval`` and ``mmrag bench`` run side by side with the pipeline.

Every baseline is a :class:`PageRetriever`: it indexes PDF files, then returns the pages of ONE file
(per-document scope) or ``(file, page)`` pairs of every indexed file (whole-corpus scope), best first,
for a question. ``bm25`` is Okapi BM25 over each page's PyMuPDF text (one index per document and one
over all pages, written here in a few lines). ``llamaindex`` (in :mod:`rag.eval.li_baseline`, imported only
when asked for) is a plain LlamaIndex pipeline over the same page texts and the same text embedder.
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
from collections import Counter
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, Protocol, TypeVar

import numpy as np

from ingest.text.tokens import plain_words
from rag.aio import run_sync
from rag.errors import MmragError
from rag.registry import Registry

T = TypeVar("T")

log = logging.getLogger(__name__)

BASELINES: Registry[PageRetriever] = Registry("baseline")
"""Baselines by name; a factory takes the pipeline's embedder (under its cache) and builds one."""
BASELINES.register("bm25", "rag.eval.baselines:BM25Baseline.from_embedder")
BASELINES.register("llamaindex", "rag.eval.li_baseline:LlamaIndexBaseline.from_embedder")



class PageRetriever(Protocol):
    """Indexes files, then ranks one file's pages for a question."""

    name: str

    def index(self, files: Sequence[Path]) -> IndexTiming:
        """Index ``files`` (absolute paths); returns what it took."""
        ...

    def retrieve(self, question: str, file: Path, k: int) -> list[int]:
        """Up to ``k`` distinct 1-based pages of ``file``, best first."""
        ...

    def retrieve_corpus(self, question: str, k: int) -> list[tuple[Path, int]]:
        """Up to ``k`` distinct ``(file, page)`` pairs over every indexed file, best first."""
        ...


class IndexTiming:
    """Pages indexed and seconds spent (text extraction included)."""

    def __init__(self, pages: int, seconds: float) -> None:
        self.pages = pages
        self.seconds = seconds

    @property
    def pages_per_s(self) -> float:
        return self.pages / self.seconds if self.seconds > 0 else math.inf

    def as_json(self) -> dict[str, float]:
        return {"pages": self.pages, "seconds": round(self.seconds, 3),
                "pages_per_s": round(self.pages_per_s, 2)}


def in_worker(fn: Callable[..., T], *args: Any) -> T:
    """Call ``fn(*args)`` in a worker thread, the way the pipeline runs its stages (``asyncio.to_thread``
    under :func:`rag.aio.run_sync`). Baselines are timed through this so that both sides' model calls
    run under the same threading: on a busy machine torch calls from the main thread ran several times
    slower than the same calls from a worker thread (docs/benchmarks.md, "Figures behind the code")."""
    return run_sync(asyncio.to_thread(fn, *args))


def page_texts(path: Path) -> list[str]:
    """The PyMuPDF text layer of every page of a PDF, page 1 first ('' for pages without one)."""
    import pymupdf

    try:
        with pymupdf.open(path) as doc:
            return [page.get_text("text") for page in doc]
    except (pymupdf.FileDataError, RuntimeError) as exc:
        raise MmragError(f"{path}: cannot read PDF text: {exc}") from exc


class BM25:
    """Okapi BM25 over a fixed list of tokenised documents."""

    def __init__(self, docs: Sequence[Sequence[str]], k1: float = 1.5, b: float = 0.75) -> None:
        if k1 < 0 or not 0 <= b <= 1:
            raise ValueError(f"BM25 needs k1 >= 0 and 0 <= b <= 1, got k1={k1}, b={b}")
        self.k1, self.b = k1, b
        self._tf = [Counter(d) for d in docs]
        self._len = np.array([len(d) for d in docs], dtype=np.float64)  # (n_docs,)
        self._avg = float(self._len.mean()) if len(docs) and self._len.mean() > 0 else 1.0
        df: Counter[str] = Counter()
        for tf in self._tf:
            df.update(tf.keys())
        n = len(docs)
        self._idf = {t: math.log(1 + (n - f + 0.5) / (f + 0.5)) for t, f in df.items()}

    def scores(self, query: Sequence[str]) -> np.ndarray:
        """BM25 score of every document for the query tokens. Shape (n_docs,)."""
        out = np.zeros(len(self._tf), dtype=np.float64)  # (n_docs,)
        norm = self.k1 * (1 - self.b + self.b * self._len / self._avg)  # (n_docs,)
        for term in set(query):
            idf = self._idf.get(term)
            if idf is None:
                continue
            tf = np.array([d.get(term, 0) for d in self._tf], dtype=np.float64)  # (n_docs,)
            out += idf * tf * (self.k1 + 1) / (tf + norm)
        return out

    def top(self, query: Sequence[str], k: int) -> list[int]:
        """Indices of the ``k`` best documents with a positive score, best first (ties: lower index)."""
        s = self.scores(query)
        order = np.argsort(-s, kind="stable")
        return [int(i) for i in order[:k] if s[i] > 0]


class BM25Baseline:
    """BM25 over page text, one index per document and one over every page: retrieval only."""

    name = "bm25"

    @classmethod
    def from_embedder(cls, embedder: Any) -> BM25Baseline:
        """Registry factory: BM25 needs no embedder."""
        return cls()

    def __init__(self) -> None:
        self._indexes: dict[Path, BM25] = {}
        self._tokens: dict[Path, list[list[str]]] = {}
        self._corpus: BM25 | None = None
        self._corpus_pages: list[tuple[Path, int]] = []

    def index(self, files: Sequence[Path]) -> IndexTiming:
        t, pages = time.perf_counter(), 0
        for f in files:
            texts = page_texts(f)
            self._tokens[f] = [plain_words(x) for x in texts]
            self._indexes[f] = BM25(self._tokens[f])
            pages += len(texts)
        # The corpus index: IDF over every page of every file, as the whole-index scope asks.
        self._corpus_pages = [(f, n) for f, toks in self._tokens.items() for n in range(1, len(toks) + 1)]
        self._corpus = BM25([page for toks in self._tokens.values() for page in toks])
        return IndexTiming(pages, time.perf_counter() - t)

    def retrieve_corpus(self, question: str, k: int) -> list[tuple[Path, int]]:
        if self._corpus is None:
            raise MmragError("bm25 baseline: index() was not called")
        return [self._corpus_pages[i] for i in self._corpus.top(plain_words(question), k)]

    def retrieve(self, question: str, file: Path, k: int) -> list[int]:
        index = self._indexes.get(file)
        if index is None:
            raise MmragError(f"bm25 baseline: {file} was not indexed")
        return [i + 1 for i in index.top(plain_words(question), k)]
