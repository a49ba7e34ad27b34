"""One question through every system: retrieve with the pipeline and each baseline, ask, score.

Scopes: ``doc`` restricts every search to the question's document (the pages of THAT document);
``corpus`` searches the whole index, as a user asks a folder, and the baselines index the same
files: a page of another document takes a rank and never counts as evidence.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping, Sequence
from functools import partial
from pathlib import Path
from typing import Any

from rag.errors import MmragError
from rag.eval import metrics as m
from rag.eval.baselines import BASELINES, PageRetriever, in_worker
from rag.eval.dataset import DatasetError, QAItem
from rag.eval.results import SCOPES, SYSTEM, QuestionResult, SystemRun
from rag.eval.scoring import corpus_ranking, retrieval_metrics, score_answer
from rag.records import Answer, Evidence, SearchFilter

log = logging.getLogger(__name__)

PAGE_OVERFETCH = 3
"""Evidence items fetched per wanted page: several items of one page collapse into one page hit."""
MAX_SEARCH_K = 100


def check_baselines(names: Sequence[str]) -> None:
    """Fail now, before any ingest, when a baseline's packages are missing (importing its module
    raises :class:`~rag.errors.MissingPartError`, one sentence naming the extra)."""
    for name in names:
        BASELINES.factory(name)


def resolve_docs(items: Sequence[QAItem], docs_dir: Path) -> dict[str, Path]:
    """Absolute path of every document the questions name; a missing one fails, naming it."""
    if not docs_dir.is_dir():
        raise DatasetError(f"--docs {docs_dir}: not a folder")
    paths = {name: (docs_dir / name).resolve() for name in dict.fromkeys(i.doc for i in items)}
    missing = [name for name, p in paths.items() if not p.is_file()]
    if missing:
        more = f" and {len(missing) - 3} more" if len(missing) > 3 else ""
        raise DatasetError(f"documents named by the QA set are not in {docs_dir}: "
                           f"{', '.join(missing[:3])}{more}")
    return paths


def build_baselines(names: Sequence[str], embedder: Any) -> list[PageRetriever]:
    """The baselines asked for, built once by their registry factories."""
    return [BASELINES.factory(name)(embedder) for name in names]


def _pages_of(evidence: Sequence[Evidence], doc: Path) -> list[int]:
    return m.ranked_pages(((str(Path(e.file).resolve()), e.page) for e in evidence), str(doc))


def _timed(fn: Callable[[], list[int]]) -> SystemRun:
    t = time.perf_counter()
    try:
        pages = fn()
    except MmragError as exc:
        return SystemRun(seconds=time.perf_counter() - t, error=str(exc))
    return SystemRun(pages=pages, seconds=round(time.perf_counter() - t, 5))


def _timed_corpus(fn: Callable[[], Sequence[tuple[str | Path, int]]], doc: Path, depth: int) -> SystemRun:
    """A whole-corpus run: the distinct (file, page) hits, and the question's document's pages among them."""
    t = time.perf_counter()
    try:
        raw = fn()
    except MmragError as exc:
        return SystemRun(seconds=time.perf_counter() - t, error=str(exc))
    seconds = round(time.perf_counter() - t, 5)
    hits = list(dict.fromkeys((str(Path(f).resolve()), p) for f, p in raw))[:depth]
    return SystemRun(pages=m.ranked_pages(hits, str(doc)), hits=hits, seconds=seconds)


def evaluate_question(item: QAItem, doc: Path, pipe: Any, baselines: Sequence[PageRetriever],
                      ks: Sequence[int], scope: str = "doc") -> QuestionResult:
    """Retrieve with every system, ask the pipeline, and score one question, either within its
    document (``scope="doc"``) or over the whole index (``scope="corpus"``, no filter at all)."""
    if scope not in SCOPES:
        raise MmragError(f"unknown scope {scope!r}; known: {', '.join(SCOPES)}")
    depth = max(ks)
    flt = SearchFilter(files=[str(doc)]) if scope == "doc" else None
    result = QuestionResult(id=item.id, doc=item.doc, question=item.question, gold=item.answer,
                            answerable=item.answerable, evidence_type=list(item.evidence_type),
                            pages=item.pages)
    search_k = min(MAX_SEARCH_K, depth * PAGE_OVERFETCH)

    if scope == "doc":
        def mine() -> list[int]:
            return _pages_of(pipe.search(item.question, k=search_k, flt=flt), doc)[:depth]

        result.retrieval[SYSTEM] = _timed(mine)
        for b in baselines:
            result.retrieval[b.name] = _timed(partial(in_worker, b.retrieve, item.question, doc, depth))
    else:
        def mine_all() -> list[tuple[str | Path, int]]:
            return [(e.file, e.page) for e in pipe.search(item.question, k=search_k, flt=None)]

        result.retrieval[SYSTEM] = _timed_corpus(mine_all, doc, depth)
        for b in baselines:
            result.retrieval[b.name] = _timed_corpus(partial(in_worker, b.retrieve_corpus, item.question, depth),
                                                     doc, depth)
    if item.has_evidence:
        for run in result.retrieval.values():
            ranking = run.pages if scope == "doc" else corpus_ranking(run.hits, str(doc))
            run.metrics = retrieval_metrics(ranking, item.pages, ks)
    t = time.perf_counter()
    try:
        answer: Answer = pipe.ask(item.question, flt=flt)
    except MmragError as exc:
        result.error = str(exc)
        log.warning("%s: ask failed: %s", item.id, exc)
        return result
    result.seconds = {**answer.seconds, "total": round(time.perf_counter() - t, 5)}
    result.answer, result.abstained = answer.text, answer.abstained
    result.cited = sorted({(Path(c.file).name if Path(c.file).resolve() != doc else item.doc, c.page)
                           for c in answer.citations})
    score_answer(result)
    return result


def corpus_files(pipe: Any, docs: Mapping[str, Path]) -> list[Path]:
    """Every file the index holds that the baselines can read (PDFs), the question documents first:
    the corpus of the whole-index scope, the same for the pipeline and the baselines."""
    held = [Path(f).resolve() for f in pipe.store.files()]
    other = [f for f in held if f not in set(docs.values())]
    unread = [f for f in other if f.suffix.lower() != ".pdf"]
    if unread:
        log.warning("the baselines read PDFs only: %d other files of the index are searched by %s alone "
                    "(e.g. %s)", len(unread), SYSTEM, unread[0])
    return [*docs.values(), *(f for f in other if f.suffix.lower() == ".pdf")]
