"""``mmrag eval QA.jsonl --docs DIR``: score retrieval and answers on a QA set, with baselines.

The harness checks that the baselines asked for can run (their packages), ingests the documents the
questions name (incrementally, so a second run reuses the index), then for every question and scope
retrieves with the pipeline and with each baseline, asks the pipeline, and scores it
(:mod:`rag.eval.metrics`). Scopes (``--scope``):

- ``doc``: every search is restricted to the question's document (the pages of THAT document);
- ``corpus``: every search runs over the whole index, as a user asks a folder; the baselines index
  the same files. A page of another document takes a rank and never counts as evidence.
- ``both``: the two side by side.

It prints tables (overall, by evidence type, by document, latency; with ``both`` a comparison of the
scopes) or JSON, and with ``--out`` writes ``questions.jsonl``, ``summary.json`` and
``recall_by_evidence_type.png`` (the corpus scope in ``corpus/`` under it).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import os
import platform
import re
import shlex
import sys
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import UTC, datetime
from functools import partial
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field
from tqdm.auto import tqdm

from rag.errors import MmragError
from rag.eval import metrics as m
from rag.eval.baselines import BASELINES, BM25Baseline, PageRetriever, in_worker
from rag.eval.dataset import EVIDENCE_TYPES, DatasetError, QAItem, load_qa
from rag.records import Answer, Evidence, SearchFilter

log = logging.getLogger(__name__)

SYSTEM = "mmrag"
UNTYPED = "untyped"
"""Group of answerable questions that carry no evidence type (FinanceBench)."""
UNANSWERABLE = "unanswerable"
PAGE_OVERFETCH = 3
"""Evidence items fetched per wanted page: several items of one page collapse into one page hit."""
MAX_SEARCH_K = 100
SCOPES = ("doc", "corpus")
SCOPE_TITLES = {"doc": "per-document scope (every search restricted to the question's document)",
                "corpus": "whole-corpus scope (every search over the whole index)"}


# ----------------------------------------------------------------------------------- records


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid")


class SystemRun(_Model):
    """One system's page ranking for one question, and its scores."""

    pages: list[int] = Field(default_factory=list)
    """Distinct pages of the question's document, best first."""
    hits: list[tuple[str, int]] = Field(default_factory=list)
    """Whole-corpus scope: the distinct ``(file, page)`` pairs retrieved, best first (any file)."""
    seconds: float = 0.0
    error: str | None = None
    metrics: dict[str, float] = Field(default_factory=dict)
    """``recall@k``, ``hit@k``, ``ndcg@k``, ``rr``; empty when the question has no evidence pages."""


class QuestionResult(_Model):
    """Everything measured for one question."""

    id: str
    doc: str
    question: str
    gold: str
    answerable: bool
    evidence_type: list[str]
    pages: list[int]
    retrieval: dict[str, SystemRun] = Field(default_factory=dict)
    answer: str = ""
    abstained: bool = False
    cited: list[tuple[str, int]] = Field(default_factory=list)
    """Distinct cited ``(file name, page)`` pairs."""
    exact_match: float | None = None
    f1: float | None = None
    contains: float | None = None
    citation_precision: float | None = None
    citation_recall: float | None = None
    seconds: dict[str, float] = Field(default_factory=dict)
    """The answer's stage timings (``retrieve``, ``generate``) and ``ask`` (wall time)."""
    error: str | None = None

    @property
    def has_evidence(self) -> bool:
        return self.answerable and bool(self.pages)


class AnswerSummary(_Model):
    """Answer quality over answerable questions."""

    n: int
    exact_match: float | None
    f1: float | None
    contains: float | None


class GroupSummary(_Model):
    """Scores of one group of questions (all, one evidence type, one document)."""

    n: int
    n_retrieval: int
    """Questions scored for retrieval: answerable, with evidence pages."""
    retrieval: dict[str, dict[str, float | None]]
    """system -> metric -> mean."""
    answers: AnswerSummary
    abstention: m.AbstentionScores
    citation_precision: float | None
    citation_recall: float | None
    errors: int


class Latency(_Model):
    """Seconds of one stage over all questions."""

    n: int
    p50: float | None
    p95: float | None
    mean: float | None


class Miss(_Model):
    """A question whose evidence pages the pipeline did not retrieve at all."""

    id: str
    doc: str
    evidence_type: list[str]
    pages: list[int]
    retrieved: list[int]
    """The pipeline's first pages."""
    found_by: list[str]
    """Baselines that did retrieve an evidence page."""


class EvalSummary(_Model):
    """The whole run."""

    meta: dict[str, Any]
    overall: GroupSummary
    by_evidence_type: dict[str, GroupSummary]
    by_doc: dict[str, GroupSummary]
    latency: dict[str, Latency]
    indexing: dict[str, Any]
    misses: list[Miss] = Field(default_factory=list)
    """Questions where the pipeline found no evidence page in its top ``max(k)``: the work list."""


# ----------------------------------------------------------------------------------- scoring


def parse_ks(text: str) -> list[int]:
    """``"1,5,10"`` -> ``[1, 5, 10]`` (sorted, distinct); every k must be a positive integer."""
    try:
        ks = sorted({int(x) for x in text.split(",") if x.strip()})
    except ValueError:
        raise MmragError(f"--k expects comma-separated positive integers, got {text!r}") from None
    if not ks or ks[0] < 1:
        raise MmragError(f"--k expects comma-separated positive integers, got {text!r}")
    return ks


def parse_baselines(text: str) -> list[str]:
    """``"bm25,llamaindex"`` -> names; ``"none"`` or ``""`` -> ``[]``. Unknown names fail."""
    names = [x.strip().lower() for x in text.split(",") if x.strip()]
    if names in ([], ["none"]):
        return []
    unknown = [n for n in names if n not in BASELINES]
    if unknown:
        raise MmragError(f"unknown baseline {unknown[0]!r}; known: {', '.join(BASELINES)}, or 'none'")
    return list(dict.fromkeys(names))


def parse_scope(text: str) -> list[str]:
    """``"doc"`` / ``"corpus"`` -> that scope; ``"both"`` -> ``["doc", "corpus"]``."""
    value = text.strip().lower()
    if value == "both":
        return list(SCOPES)
    if value not in SCOPES:
        raise MmragError(f"--scope expects doc, corpus or both, got {text!r}")
    return [value]


def check_baselines(names: Sequence[str]) -> None:
    """Fail now, before any ingest, when a baseline's packages are missing (one sentence says what
    to install)."""
    if "llamaindex" in names:
        import rag.eval.li_baseline  # noqa: F401  (raises MissingPartError naming the extra)


def corpus_ranking(hits: Iterable[tuple[str, int]], doc: str) -> list[int]:
    """A whole-corpus ranking as page numbers for the metrics: pages of ``doc`` keep their number; a
    page of another file gets a distinct negative stand-in, so it takes a rank but is never evidence."""
    out: list[int] = []
    others: dict[tuple[str, int], int] = {}
    for file, page in hits:
        out.append(page if file == doc else others.setdefault((file, page), -1 - len(others)))
    return out


def metric_names(ks: Sequence[int]) -> list[str]:
    """Retrieval metrics in table order."""
    return [*(f"recall@{k}" for k in ks), *(f"ndcg@{k}" for k in ks), *(f"hit@{k}" for k in ks), "mrr"]


def retrieval_metrics(ranked: Sequence[int], relevant: Sequence[int], ks: Sequence[int]) -> dict[str, float]:
    """Every retrieval metric of one ranking (``rr`` is averaged into ``mrr``)."""
    out: dict[str, float] = {}
    for k in ks:
        out[f"recall@{k}"] = m.recall_at_k(ranked, relevant, k)
        out[f"ndcg@{k}"] = m.ndcg_at_k(ranked, relevant, k)
        out[f"hit@{k}"] = m.hit_at_k(ranked, relevant, k)
    out["rr"] = m.reciprocal_rank(ranked, relevant)
    return out


def score_answer(result: QuestionResult) -> None:
    """Fill the answer and citation scores of ``result`` in place."""
    if result.answerable:
        result.exact_match = m.exact_match(result.answer, result.gold)
        result.f1 = m.token_f1(result.answer, result.gold)
        result.contains = m.contains_answer(result.answer, result.gold)
    if result.has_evidence:
        result.citation_precision = m.citation_precision(result.cited, result.doc, result.pages)
        result.citation_recall = m.citation_recall(result.cited, result.doc, result.pages)


def summarize_group(results: Sequence[QuestionResult], ks: Sequence[int],
                    systems: Sequence[str]) -> GroupSummary:
    """Means of every score over ``results``."""
    scored = [r for r in results if r.has_evidence]
    retrieval: dict[str, dict[str, float | None]] = {}
    for system in systems:
        runs = [r.retrieval[system] for r in scored if system in r.retrieval]
        row = {name: m.mean(run.metrics.get(name) for run in runs)
               for name in metric_names(ks) if name != "mrr"}
        row["mrr"] = m.mean(run.metrics.get("rr") for run in runs)
        retrieval[system] = row
    answerable = [r for r in results if r.answerable]
    return GroupSummary(
        n=len(results),
        n_retrieval=len(scored),
        retrieval=retrieval,
        answers=AnswerSummary(n=len(answerable), exact_match=m.mean(r.exact_match for r in answerable),
                              f1=m.mean(r.f1 for r in answerable),
                              contains=m.mean(r.contains for r in answerable)),
        abstention=m.abstention_scores([r.abstained for r in results], [r.answerable for r in results]),
        citation_precision=m.mean(r.citation_precision for r in scored),
        citation_recall=m.mean(r.citation_recall for r in scored),
        errors=sum(1 for r in results if r.error or any(run.error for run in r.retrieval.values())),
    )


def evidence_groups(result: QuestionResult) -> list[str]:
    """The evidence-type groups a question counts in: each of its types, ``untyped`` for answerable
    questions without one, ``unanswerable`` for the rest."""
    if not result.answerable:
        return [UNANSWERABLE]
    return list(result.evidence_type) or [UNTYPED]


def latency_of(values: Sequence[float]) -> Latency:
    """p50, p95 and mean of stage seconds."""
    return Latency(n=len(values), p50=m.percentile(values, 50), p95=m.percentile(values, 95),
                   mean=m.mean(values))


def summarize(results: Sequence[QuestionResult], ks: Sequence[int], systems: Sequence[str],
              meta: Mapping[str, Any] | None = None,
              indexing: Mapping[str, Any] | None = None) -> EvalSummary:
    """Aggregate per-question results overall, by evidence type, by document, and latency per stage."""
    by_type: dict[str, list[QuestionResult]] = {}
    by_doc: dict[str, list[QuestionResult]] = {}
    for r in results:
        for g in evidence_groups(r):
            by_type.setdefault(g, []).append(r)
        by_doc.setdefault(r.doc, []).append(r)
    order = [*EVIDENCE_TYPES, UNTYPED, UNANSWERABLE]
    stages: dict[str, list[float]] = {}
    for r in results:
        for system, run in r.retrieval.items():
            if run.error is None:
                stages.setdefault(f"{system}.search", []).append(run.seconds)
        for stage, sec in r.seconds.items():
            stages.setdefault(f"{SYSTEM}.ask.{stage}", []).append(sec)
    return EvalSummary(
        meta=dict(meta or {}),
        overall=summarize_group(results, ks, systems),
        by_evidence_type={g: summarize_group(by_type[g], ks, systems) for g in order if g in by_type},
        by_doc={d: summarize_group(rs, ks, systems) for d, rs in sorted(by_doc.items())},
        latency={stage: latency_of(v) for stage, v in sorted(stages.items())},
        indexing=dict(indexing or {}),
        misses=find_misses(results, max(ks)),
    )


def find_misses(results: Sequence[QuestionResult], k: int) -> list[Miss]:
    """Answerable questions with evidence whose pages are all missing from the pipeline's top ``k``."""
    out = []
    for r in results:
        mine = r.retrieval.get(SYSTEM)
        if not r.has_evidence or mine is None or mine.metrics.get(f"hit@{k}", 0.0) > 0:
            continue
        found = [s for s, run in r.retrieval.items() if s != SYSTEM and run.metrics.get(f"hit@{k}", 0.0) > 0]
        out.append(Miss(id=r.id, doc=r.doc, evidence_type=r.evidence_type, pages=r.pages,
                        retrieved=mine.pages[:5], found_by=found))
    return out


# ------------------------------------------------------------------------------------ output


def _f(x: float | None, digits: int = 3) -> str:
    return "-" if x is None else f"{x:.{digits}f}"


def _ratio(a: float | None, b: float | None) -> str:
    if a is None or b is None:
        return "-"
    if b == 0:
        return "inf" if a > 0 else "-"
    return f"{a / b:.2f}x"


def _table(header: Sequence[str], rows: Iterable[Sequence[str]]) -> str:
    rows = [list(r) for r in rows]
    widths = [max(len(str(c)) for c in col) for col in zip(header, *rows, strict=False)]

    numeric = [i > 0 and all(_numeric(r[i]) for r in rows) for i in range(len(header))]

    def line(cells: Sequence[str]) -> str:
        return "  ".join(str(c).rjust(w) if numeric[i] else str(c).ljust(w)
                         for i, (c, w) in enumerate(zip(cells, widths, strict=True)))

    return "\n".join([line(header), line(["-" * w for w in widths]), *(line(r) for r in rows)])


def _numeric(cell: str) -> bool:
    """Numbers, ratios ("1.5x", "inf") and "-" are right-aligned in tables."""
    return cell in ("-", "inf") or bool(re.fullmatch(r"-?[\d.,]+x?", cell))


def report_k(ks: Sequence[int]) -> int:
    """The cut-off shown in the compact tables: 5 when measured, else the largest."""
    return 5 if 5 in ks else max(ks)


def format_summary(summary: EvalSummary, ks: Sequence[int]) -> str:
    """Human-readable tables of a run."""
    systems = list(summary.overall.retrieval)
    base = [s for s in systems if s != SYSTEM]
    rk = report_k(ks)
    o = summary.overall
    out = [f"Retrieval, page level ({o.n_retrieval} answerable questions with evidence pages, of {o.n})"]
    header = ["metric", *systems, *(f"{SYSTEM}/{b}" for b in base)]
    rows = []
    for name in metric_names(ks):
        vals = [o.retrieval[s].get(name) for s in systems]
        mine = o.retrieval.get(SYSTEM, {}).get(name)
        rows.append([name, *(_f(v) for v in vals), *(_ratio(mine, o.retrieval[b].get(name)) for b in base)])
    out.append(_table(header, rows))

    out.append(f"\nBy evidence type (recall@{rk} / MRR)")
    header = ["type", "n", *(f"{s} R@{rk}" for s in systems), *(f"{s} MRR" for s in systems),
              "F1", "contains", "abst.R"]
    rows = [[g, str(s.n_retrieval or s.n), *(_f(s.retrieval[x].get(f"recall@{rk}")) for x in systems),
             *(_f(s.retrieval[x].get("mrr")) for x in systems), _f(s.answers.f1), _f(s.answers.contains),
             _f(s.abstention.recall)]
            for g, s in summary.by_evidence_type.items()]
    out.append(_table(header, rows))

    out.append(f"\nBy document (recall@{rk})")
    header = ["document", "n", *(f"{s} R@{rk}" for s in systems), "F1", "contains", "abst.R"]
    rows = [[d if len(d) <= 44 else d[:41] + "...", str(s.n),
             *(_f(s.retrieval[x].get(f"recall@{rk}")) for x in systems),
             _f(s.answers.f1), _f(s.answers.contains), _f(s.abstention.recall)]
            for d, s in summary.by_doc.items()]
    out.append(_table(header, rows))

    a, ab = o.answers, o.abstention
    out.append(f"\nAnswers ({SYSTEM}; {a.n} answerable, {ab.unanswerable} unanswerable)")
    out.append(_table(["metric", "value"], [
        ["exact match", _f(a.exact_match)], ["token F1", _f(a.f1)], ["contains gold", _f(a.contains)],
        ["abstention precision", _f(ab.precision)], ["abstention recall", _f(ab.recall)],
        ["abstention F1", _f(ab.f1)], ["abstained", str(ab.abstained)],
        ["citation precision", _f(o.citation_precision)], ["citation recall", _f(o.citation_recall)],
        ["errors", str(o.errors)],
    ]))

    out.append("\nLatency per stage (ms; the pipeline's embedding cache may hold repeated questions: "
               "compare speeds with `mmrag bench`)")
    out.append(_table(["stage", "n", "p50", "p95", "mean"], [
        [stage, str(lat.n), _f(_ms(lat.p50), 1), _f(_ms(lat.p95), 1), _f(_ms(lat.mean), 1)]
        for stage, lat in summary.latency.items()]))
    if summary.misses:
        out.append(f"\nMisses: no evidence page in {SYSTEM}'s top {max(ks)} ({len(summary.misses)} questions)")
        out.append(_table(["id", "document", "types", "gold pages", "retrieved", "found by"], [
            [x.id, x.doc if len(x.doc) <= 30 else x.doc[:27] + "...", ",".join(x.evidence_type) or "-",
             ",".join(map(str, x.pages[:6])), ",".join(map(str, x.retrieved)), ",".join(x.found_by) or "-"]
            for x in summary.misses]))
    if summary.indexing:
        out.append("\nIndexing")
        out.append(_table(["system", "pages", "seconds", "pages/s"], [
            [name, str(v.get("pages", "-")), _f(v.get("seconds"), 1), _f(v.get("pages_per_s"), 2)]
            for name, v in summary.indexing.items()]))
    return "\n".join(out)


def _ms(x: float | None) -> float | None:
    return None if x is None else x * 1000


def write_plots(summary: EvalSummary, ks: Sequence[int], out: Path) -> list[Path]:
    """Bar charts of recall@k per evidence type, one panel per k, one bar per system."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        log.warning("matplotlib is not installed: no plots (pip install matplotlib)")
        return []
    groups = [g for g in summary.by_evidence_type if g != UNANSWERABLE]
    systems = list(summary.overall.retrieval)
    fig, axes = plt.subplots(1, len(ks), figsize=(4.2 * len(ks), 3.8), sharey=True, squeeze=False)
    width = 0.8 / max(len(systems), 1)
    for ax, k in zip(axes[0], ks, strict=True):
        for i, system in enumerate(systems):
            vals = [summary.by_evidence_type[g].retrieval[system].get(f"recall@{k}") or 0.0 for g in groups]
            ax.bar([x + i * width for x in range(len(groups))], vals, width, label=system)
        ax.set_xticks([x + width * (len(systems) - 1) / 2 for x in range(len(groups))])
        ax.set_xticklabels([f"{g}\n(n={summary.by_evidence_type[g].n_retrieval})" for g in groups],
                           fontsize=8)
        ax.set_title(f"recall@{k}")
        ax.set_ylim(0, 1)
        ax.grid(axis="y", alpha=0.3)
    axes[0][0].set_ylabel("page recall")
    axes[0][0].legend(fontsize=8)
    fig.suptitle(f"Page recall by evidence type ({summary.overall.n_retrieval} questions)")
    fig.tight_layout()
    path = out / "recall_by_evidence_type.png"
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return [path]


def write_outputs(results: Sequence[QuestionResult], summary: EvalSummary, ks: Sequence[int],
                  out: Path) -> None:
    """``questions.jsonl``, ``summary.json`` and the plots under ``out``."""
    out.mkdir(parents=True, exist_ok=True)
    with (out / "questions.jsonl").open("w", encoding="utf-8") as fh:
        for r in results:
            fh.write(r.model_dump_json() + "\n")
    (out / "summary.json").write_text(summary.model_dump_json(indent=2), encoding="utf-8")
    plots = write_plots(summary, ks, out)
    log.info("wrote %s (questions.jsonl, summary.json, %d plots)", out, len(plots))


# ------------------------------------------------------------------------------------ running


def machine_info() -> dict[str, Any]:
    """What the numbers were measured on."""
    info: dict[str, Any] = {"platform": platform.platform(), "python": platform.python_version(),
                            "cpus": os.cpu_count(), "processor": platform.processor() or platform.machine()}
    with contextlib.suppress(OSError):
        info["loadavg"] = [round(x, 2) for x in os.getloadavg()]
    try:
        with open("/proc/meminfo", encoding="ascii") as fh:
            info["mem_gb"] = round(int(fh.readline().split()[1]) / 2**20, 1)
    except (OSError, ValueError, IndexError):
        pass
    return info


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
    """The baselines asked for, built once."""
    out: list[PageRetriever] = []
    for name in names:
        if name == "bm25":
            out.append(BM25Baseline())
        elif name == "llamaindex":
            from rag.eval.li_baseline import LlamaIndexBaseline

            out.append(LlamaIndexBaseline(_raw_embedder(embedder)))
    return out


def _raw_embedder(embedder: Any) -> Any:
    """The embedder under an on-disk cache, so baselines do not share the pipeline's cache."""
    return getattr(embedder, "inner", embedder)


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


def format_scope_comparison(summaries: Mapping[str, EvalSummary], ks: Sequence[int]) -> str:
    """The per-document and whole-corpus scopes side by side: one column per system and scope."""
    rk = report_k(ks)
    scopes = list(summaries)
    systems = list(next(iter(summaries.values())).overall.retrieval)
    header = ["metric", *(f"{s} ({scope})" for s in systems for scope in scopes)]
    rows = [[name, *(_f(summaries[scope].overall.retrieval.get(s, {}).get(name)) for s in systems for scope in scopes)]
            for name in (f"recall@{rk}", f"ndcg@{rk}", f"hit@{rk}", "mrr")]
    answers = [("token F1", lambda x: x.answers.f1), ("contains gold", lambda x: x.answers.contains),
               ("citation precision", lambda x: x.citation_precision),
               ("citation recall", lambda x: x.citation_recall)]
    mine = f"{SYSTEM} ({{}})"
    header_ans = ["answers", *(mine.format(scope) for scope in scopes)]
    rows_ans = [[label, *(_f(get(summaries[scope].overall)) for scope in scopes)] for label, get in answers]
    n = next(iter(summaries.values())).overall.n_retrieval
    return "\n".join([f"Scopes side by side (page level, {n} questions with evidence pages)",
                      _table(header, rows), "", _table(header_ans, rows_ans)])


def run_eval_command(args: argparse.Namespace, overrides: Mapping[str, Any]) -> int:
    """The ``mmrag eval`` command. Returns the exit code."""
    from rag.pipeline import Pipeline

    ks = parse_ks(args.k)
    names = parse_baselines(args.baselines)
    scopes = parse_scope(getattr(args, "scope", "doc"))
    check_baselines(names)  # before loading models or ingesting anything
    items = load_qa(args.qa, args.limit)
    docs = resolve_docs(items, Path(args.docs))
    started = datetime.now(UTC).isoformat(timespec="seconds")
    log.info("eval: %d questions over %d documents, k=%s, baselines=%s, scopes=%s",
             len(items), len(docs), ks, names or "none", scopes)
    indexing: dict[str, Any] = {}
    with Pipeline.from_config(args.config, overrides) as pipe:
        report = pipe.ingest(list(docs.values()), progress=not args.json)
        rate = report.pages / report.seconds if report.pages and report.seconds else None
        indexing[SYSTEM] = {"pages": report.pages, "seconds": report.seconds, "pages_per_s": rate,
                            "files_ingested": report.files_ingested,
                            "files_unchanged": report.files_unchanged,
                            "files_failed": report.files_failed, "items": report.items,
                            "stages": report.stages}
        for f in report.files_failed:
            log.warning("ingest failed for %s: %s (its questions will miss)", f["path"], f["reason"])
        corpus = corpus_files(pipe, docs) if "corpus" in scopes else list(docs.values())
        baselines = build_baselines(names, pipe.embedder)
        for b in baselines:
            log.info("indexing baseline %s (%d files)", b.name, len(corpus))
            indexing[b.name] = in_worker(b.index, corpus).as_json()
        results = {scope: [evaluate_question(item, docs[item.doc], pipe, baselines, ks, scope)
                           for item in tqdm(items, desc=f"eval ({scope})", unit="q",
                                            disable=True if args.json else None)]
                   for scope in scopes}
        for b in baselines:
            close = getattr(b, "close", None)
            if close is not None:
                close()
        meta = {"command": shlex.join(["mmrag", *sys.argv[1:]]), "qa": str(args.qa), "docs": str(args.docs),
                "config": str(args.config), "profile": pipe.settings.profile, "embedder": pipe.embedder.id,
                "generator": pipe.settings.generate.backend, "retrieve": pipe.settings.retrieve.model_dump(),
                "index": str(pipe.settings.index_dir), "ks": ks, "systems": [SYSTEM, *names],
                "n_questions": len(items), "n_docs": len(docs), "corpus_files": len(corpus),
                "started": started, "finished": datetime.now(UTC).isoformat(timespec="seconds"),
                "machine": machine_info()}
    summaries = {scope: summarize(rs, ks, [SYSTEM, *names], {**meta, "scope": scope}, indexing)
                 for scope, rs in results.items()}
    if args.out:
        for scope, summary in summaries.items():
            write_outputs(results[scope], summary, ks, Path(args.out) / ("corpus" if scope == "corpus" else ""))
    if args.json:
        data: Any = (summaries[scopes[0]].model_dump(mode="json") if len(scopes) == 1 else
                     {"scopes": {k: v.model_dump(mode="json") for k, v in summaries.items()}})
        print(json.dumps(data, indent=2, ensure_ascii=False))
    else:
        parts = []
        for scope, summary in summaries.items():
            extra = f", {len(corpus)} files" if scope == "corpus" else ""
            parts.append(f"=== {SCOPE_TITLES[scope]}{extra} ===\n\n{format_summary(summary, ks)}")
        if len(summaries) > 1:
            parts.append(format_scope_comparison(summaries, ks))
        print("\n\n".join(parts))
    return 0
