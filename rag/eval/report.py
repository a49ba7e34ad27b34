"""What an evaluation run shows and writes: text tables, and the files under ``--out``."""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path

from rag.eval.plots import write_plots
from rag.eval.results import SYSTEM, EvalSummary, QuestionResult
from rag.eval.scoring import metric_names

log = logging.getLogger(__name__)

SCOPE_TITLES = {"doc": "per-document scope (every search restricted to the question's document)",
                "corpus": "whole-corpus scope (every search over the whole index)"}


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
