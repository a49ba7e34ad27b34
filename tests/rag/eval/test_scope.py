"""``mmrag eval --scope``: the whole-corpus scope searches every document (pipeline and baselines), is
reported beside the per-document scope, and a missing baseline package fails before any ingest."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from rag.cli import main
from rag.errors import MmragError
from rag.eval.baselines import BM25Baseline
from rag.eval.command import parse_scope
from rag.eval.scoring import corpus_ranking, retrieval_metrics
from tests.pdfs import write_pages

ALPHA = ["Alpha Corp annual report 2025", "Alpha revenue in Europe was 146.2 million euros",
         "Alpha employees: 1,200 engineers in Seoul"]
BETA = ["Beta Ltd annual report 2025", "Beta revenue in Europe was 98.7 million euros",
        "Beta opened a plant in Busan"]


def _qa(tmp_path: Path) -> tuple[Path, Path]:
    docs = tmp_path / "docs"
    docs.mkdir()
    write_pages(docs / "alpha.pdf", ALPHA)
    write_pages(docs / "beta.pdf", BETA)
    qa = tmp_path / "qa.jsonl"
    rows = [
        {"id": "a1", "question": "What was Alpha's revenue in Europe?", "answer": "146.2 million euros",
         "doc": "alpha.pdf", "pages": [2], "evidence_type": ["text"]},
        {"id": "a2", "question": "How many engineers does Alpha employ in Seoul?", "answer": "1,200",
         "doc": "alpha.pdf", "pages": [3], "evidence_type": ["text"]},
        {"id": "b1", "question": "Where did Beta open a plant in 2025?", "answer": "Busan", "doc": "beta.pdf",
         "pages": [3], "evidence_type": ["text"]},
    ]
    qa.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return qa, docs


def test_parse_scope_and_corpus_ranking() -> None:
    assert parse_scope("doc") == ["doc"] and parse_scope("Corpus") == ["corpus"]
    assert parse_scope("both") == ["doc", "corpus"]
    with pytest.raises(MmragError, match="--scope expects"):
        parse_scope("folder")
    # a page of another file takes a rank (stand-ins are distinct) but never counts as evidence
    ranking = corpus_ranking([("/b.pdf", 2), ("/a.pdf", 2), ("/b.pdf", 3), ("/a.pdf", 1)], "/a.pdf")
    assert ranking == [-1, 2, -2, 1]
    scores = retrieval_metrics(ranking, [2], [1, 5])
    assert (scores["recall@1"], scores["recall@5"], scores["rr"]) == (0.0, 1.0, 0.5)


def test_bm25_corpus_ranks_pages_of_every_file(tmp_path: Path) -> None:
    a = write_pages(tmp_path / "a.pdf", ALPHA).resolve()
    b = write_pages(tmp_path / "b.pdf", BETA).resolve()
    bm = BM25Baseline()
    bm.index([a, b])
    assert bm.retrieve_corpus("plant in Busan", 3)[0] == (b, 3)
    assert {f for f, _ in bm.retrieve_corpus("revenue in Europe", 4)} == {a, b}
    assert bm.retrieve("revenue in Europe", a, 4)[0] == 2  # the per-document index is unchanged


def test_eval_scope_both_searches_the_whole_index(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    qa, docs = _qa(tmp_path)
    common = ["--index", str(tmp_path / "ix"), "--set", "ingest.ocr=none", "--baselines", "bm25,llamaindex",
              "--k", "1,5"]
    code = main(["eval", str(qa), "--docs", str(docs), "--scope", "both", "--json", "--out", str(tmp_path / "out"),
                 *common])
    out = capsys.readouterr().out
    assert code == 0
    scopes = json.loads(out)["scopes"]
    assert set(scopes) == {"doc", "corpus"}
    assert scopes["corpus"]["meta"]["scope"] == "corpus" and scopes["corpus"]["meta"]["corpus_files"] == 2
    for scope in ("doc", "corpus"):
        assert set(scopes[scope]["overall"]["retrieval"]) == {"mmrag", "bm25", "llamaindex"}
        assert scopes[scope]["overall"]["n_retrieval"] == 3
    # per question: in the corpus scope every system's hits reach the other document too (6 pages,
    # top 5); in the document scope nothing outside the question's document is ranked
    rows = [json.loads(x) for x in (tmp_path / "out" / "corpus" / "questions.jsonl").read_text().splitlines()]
    for row in rows:
        for system, run in row["retrieval"].items():
            assert {Path(f).name for f, _ in run["hits"]} == {"alpha.pdf", "beta.pdf"}, (row["id"], system)
    doc_rows = [json.loads(x) for x in (tmp_path / "out" / "questions.jsonl").read_text().splitlines()]
    assert all(run["hits"] == [] and run["pages"] for row in doc_rows for run in row["retrieval"].values())
    assert scopes["doc"]["overall"]["retrieval"]["bm25"]["hit@5"] == 1.0

    # the human report puts the scopes side by side
    code = main(["eval", str(qa), "--docs", str(docs), "--scope", "both", *common])
    text = capsys.readouterr().out
    assert code == 0
    assert "=== per-document scope" in text and "=== whole-corpus scope" in text and ", 2 files ===" in text
    assert "Scopes side by side" in text and "mmrag (doc)" in text and "bm25 (corpus)" in text


def test_missing_baseline_package_fails_before_any_ingest(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    qa, docs = _qa(tmp_path)
    monkeypatch.delitem(sys.modules, "rag.eval.li_baseline", raising=False)
    monkeypatch.setitem(sys.modules, "llama_index.core", None)  # import fails as if not installed
    code = main(["eval", str(qa), "--docs", str(docs), "--index", str(tmp_path / "ix"), "--baselines", "llamaindex"])
    err = capsys.readouterr().err
    assert code == 2 and "pip install 'mmrag[llamaindex]'" in err
    assert not (tmp_path / "ix").exists()  # nothing was loaded or ingested
