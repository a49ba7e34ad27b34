"""Scores of one question and their aggregation: overall, by evidence type, by document, latency."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from rag.eval import metrics as m
from rag.eval.dataset import EVIDENCE_TYPES
from rag.eval.results import (
    SYSTEM,
    UNANSWERABLE,
    UNTYPED,
    AnswerSummary,
    EvalSummary,
    GroupSummary,
    Latency,
    Miss,
    QuestionResult,
)


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
