"""The harness without the pipeline: parsing flags, per-question scoring, aggregation, tables, files,
and the BM25 baseline on a PDF built here."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

from ingest.text.tokens import plain_words
from rag.errors import MmragError
from rag.eval.baselines import BM25, BM25Baseline
from rag.eval.command import parse_baselines, parse_ks
from rag.eval.dataset import QAItem
from rag.eval.harness import evaluate_question
from rag.eval.report import format_summary, write_outputs
from rag.eval.results import SYSTEM, QuestionResult, SystemRun
from rag.eval.scoring import retrieval_metrics, score_answer, summarize
from rag.records import Answer, Citation, Evidence, SearchFilter
from tests.pdfs import write_pages

KS = [1, 5]


def test_parse_ks_and_baselines() -> None:
    assert parse_ks("10,1,5,5") == [1, 5, 10]
    for bad in ("", "0,5", "a"):
        with pytest.raises(MmragError, match="--k expects"):
            parse_ks(bad)
    assert parse_baselines("none") == []
    assert parse_baselines("BM25, llamaindex,bm25") == ["bm25", "llamaindex"]
    with pytest.raises(MmragError, match="unknown baseline 'colbert'"):
        parse_baselines("bm25,colbert")


def _result(qid: str, *, answerable: bool = True, types: list[str] | None = None,
            pages: list[int] | None = None, mine: list[int] | None = None, bm25: list[int] | None = None,
            answer: str = "", gold: str = "3", abstained: bool = False, doc: str = "a.pdf") -> QuestionResult:
    r = QuestionResult(id=qid, doc=doc, question="q?", gold=gold, answerable=answerable,
                       evidence_type=types or [], pages=pages or [], answer=answer, abstained=abstained,
                       seconds={"retrieve": 0.1, "generate": 0.2})
    r.retrieval = {SYSTEM: SystemRun(pages=mine or [], seconds=0.01),
                   "bm25": SystemRun(pages=bm25 or [], seconds=0.002)}
    if r.has_evidence:
        for run in r.retrieval.values():
            run.metrics = retrieval_metrics(run.pages, r.pages, KS)
    if answer:
        r.cited = [(doc, p) for p in (mine or [])[:1]]
    score_answer(r)
    return r


def _results() -> list[QuestionResult]:
    return [
        _result("q1", types=["text"], pages=[2], mine=[2, 1], bm25=[1, 2], answer="It is 3.", gold="3"),
        _result("q2", types=["chart", "text"], pages=[4, 5], mine=[9, 4], bm25=[], answer="7", gold="7"),
        _result("q3", answerable=False, gold="Not answerable", abstained=True),
        _result("q4", types=[], pages=[1], mine=[], bm25=[1], answer="nope", gold="12", doc="b.pdf"),
    ]


def test_summarize_hand_computed() -> None:
    s = summarize(_results(), KS, [SYSTEM, "bm25"])
    o = s.overall
    assert (o.n, o.n_retrieval) == (4, 3)
    # mmrag recall@1: q1 1, q2 0, q4 0; recall@5: q1 1, q2 1/2, q4 0
    assert o.retrieval[SYSTEM]["recall@1"] == pytest.approx(1 / 3)
    assert o.retrieval[SYSTEM]["recall@5"] == pytest.approx(0.5)
    assert o.retrieval[SYSTEM]["mrr"] == pytest.approx((1 + 0.5 + 0) / 3)
    # bm25 recall@5: q1 1, q2 0, q4 1
    assert o.retrieval["bm25"]["recall@5"] == pytest.approx(2 / 3)
    assert o.retrieval["bm25"]["ndcg@5"] == pytest.approx((1 / math.log2(3) + 0 + 1) / 3)
    # answers over the 3 answerable: EM q1 0, q2 1, q4 0; contains q1 1, q2 1, q4 0
    assert o.answers.n == 3
    assert o.answers.exact_match == pytest.approx(1 / 3)
    assert o.answers.contains == pytest.approx(2 / 3)
    assert o.abstention.precision == 1.0 and o.abstention.recall == 1.0
    # citations: q1 cites (a,2) ok; q2 cites (a,9) wrong; q4 cites nothing -> precision None
    assert o.citation_precision == pytest.approx(0.5)
    assert set(s.by_evidence_type) == {"text", "chart", "untyped", "unanswerable"}
    assert s.by_evidence_type["text"].n_retrieval == 2
    assert s.by_evidence_type["chart"].retrieval[SYSTEM]["recall@5"] == pytest.approx(0.5)
    assert set(s.by_doc) == {"a.pdf", "b.pdf"}
    assert s.latency[f"{SYSTEM}.search"].n == 4
    assert s.latency[f"{SYSTEM}.ask.generate"].p50 == pytest.approx(0.2)
    # q4: mmrag retrieved nothing of page 1, bm25 did
    assert [(x.id, x.found_by) for x in s.misses] == [("q4", ["bm25"])]


def test_format_and_write(tmp_path: Path) -> None:
    results = _results()
    s = summarize(results, KS, [SYSTEM, "bm25"], meta={"command": "mmrag eval x"},
                  indexing={"bm25": {"pages": 3, "seconds": 0.5, "pages_per_s": 6.0}})
    text = format_summary(s, KS)
    assert "recall@5" in text and "mmrag/bm25" in text and "0.75x" in text  # 0.5 / (2/3)
    assert "untyped" in text and "b.pdf" in text and "abstention recall" in text
    assert "Misses: no evidence page in mmrag's top 5 (1 questions)" in text
    write_outputs(results, s, KS, tmp_path / "out")
    lines = (tmp_path / "out" / "questions.jsonl").read_text(encoding="utf-8").splitlines()
    assert [json.loads(x)["id"] for x in lines] == ["q1", "q2", "q3", "q4"]
    assert json.loads((tmp_path / "out" / "summary.json").read_text())["overall"]["n"] == 4
    pytest.importorskip("matplotlib")
    assert (tmp_path / "out" / "recall_by_evidence_type.png").stat().st_size > 1000


# ------------------------------------------------------------------------------------------ BM25


def test_bm25_hand_computed() -> None:
    docs = [["cat", "sat"], ["dog", "dog", "ran"], ["cat", "dog"]]
    bm = BM25(docs, k1=1.5, b=0.75)
    # "cat" is in 2 of 3 docs: idf = ln(1 + (3 - 2 + .5) / (2 + .5)) = ln(1.6); avgdl = 7/3
    idf = math.log(1.6)
    norm0 = 1.5 * (1 - 0.75 + 0.75 * 2 / (7 / 3))
    assert bm.scores(["cat"])[0] == pytest.approx(idf * 2.5 / (1 + norm0))
    assert bm.scores(["cat"])[1] == 0.0
    assert bm.top(["dog"], 5) == [1, 2]  # tf 2 beats tf 1; doc 0 has no "dog" and is left out
    assert bm.top(["unknown"], 5) == []
    assert plain_words("Revenue, 2018: $1.2bn") == ["revenue", "2018", "1", "2bn"]


def test_bm25_baseline_ranks_pages(tmp_path: Path) -> None:
    f = write_pages(tmp_path / "r.pdf", ["Introduction to the report", "Revenue in Europe grew strongly",
                                  "", "Europe revenue table: revenue 12 revenue"]).resolve()
    b = BM25Baseline()
    timing = b.index([f])
    assert timing.pages == 4 and timing.pages_per_s > 0
    assert b.retrieve("Europe revenue?", f, 5) == [4, 2]  # tf 3 beats tf 1
    with pytest.raises(MmragError, match="was not indexed"):
        b.retrieve("x", tmp_path / "other.pdf", 5)


# --------------------------------------------------------------------------- one question, end to end


class _StubPipeline:
    """Stands in for the Pipeline's search/ask (the real one is exercised by the eval run itself)."""

    def __init__(self, doc: Path) -> None:
        self.doc = doc
        self.filters: list[SearchFilter | None] = []

    def _ev(self, page: int) -> Evidence:
        return Evidence(id=f"e{page}", file=str(self.doc), page=page, kind="text", score=1.0 / page)

    def search(self, query: str, k: int | None = None, flt: SearchFilter | None = None) -> list[Evidence]:
        self.filters.append(flt)
        return [self._ev(p) for p in (3, 3, 1, 2)][: k or 6]

    def ask(self, question: str, *, flt: SearchFilter | None = None) -> Answer:
        self.filters.append(flt)
        ev = self._ev(3)
        return Answer(question=question, text="Revenue was $1,200,000 [1].", abstained=False, evidence=[ev],
                      citations=[Citation(n=1, id=ev.id, file=ev.file, page=3, kind="text")],
                      seconds={"retrieve": 0.01, "generate": 0.02})


def test_evaluate_question_filters_by_document_and_scores(tmp_path: Path) -> None:
    doc = write_pages(tmp_path / "r.pdf", ["one", "two", "revenue three"]).resolve()
    pipe = _StubPipeline(doc)
    bm25 = BM25Baseline()
    bm25.index([doc])
    item = QAItem(id="q", question="What was revenue?", answer="1.2 million", doc="r.pdf", pages=[3],
                  evidence_type=["table"])
    r = evaluate_question(item, doc, pipe, [bm25], [1, 5])
    assert all(f is not None and f.files == [str(doc)] for f in pipe.filters)
    assert r.retrieval[SYSTEM].pages == [3, 1, 2]
    assert r.retrieval[SYSTEM].metrics["recall@1"] == 1.0
    assert r.retrieval["bm25"].pages == [3]
    assert r.cited == [("r.pdf", 3)]
    assert (r.exact_match, r.contains, r.citation_precision, r.citation_recall) == (0.0, 1.0, 1.0, 1.0)
    assert r.seconds["generate"] == 0.02 and "total" in r.seconds


def test_in_worker_runs_off_the_main_thread() -> None:
    import threading

    from rag.eval.baselines import in_worker

    assert in_worker(lambda a, b: (a + b, threading.current_thread() is threading.main_thread()), 1, 2) == (3, False)
