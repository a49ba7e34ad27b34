"""The `mmrag` command end to end on the CPU profile, JSON output."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from rag.cli import main
from tests.pdfs import write_corrupt, write_report


def _run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_ingest_ask_search_stats_json(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    docs = tmp_path / "docs"
    write_report(docs / "ops.pdf")
    write_corrupt(docs / "bad.pdf")
    common = ["--config", "cpu", "--index", str(tmp_path / "ix"), "--set", "ingest.ocr=none", "--json"]

    code, out, _ = _run(capsys, "ingest", str(docs), *common)
    assert code == 3  # bad.pdf failed: EXIT_FILES_FAILED
    report = json.loads(out)
    assert {"files_seen", "files_ingested", "files_unchanged", "files_deleted", "files_failed", "items",
            "seconds"} <= set(report)
    assert report["files_ingested"] == 1
    assert [Path(f["path"]).name for f in report["files_failed"]] == ["bad.pdf"]
    assert set(report["items"]) == {"text", "table", "figure", "page"}

    code, out, _ = _run(capsys, "ingest", str(docs), *common)
    assert json.loads(out)["files_unchanged"] == 1

    code, out, _ = _run(capsys, "ask", "Which part number replaces the cooling pump?", *common)
    ans = json.loads(out)
    assert {"answer", "abstained", "citations", "evidence"} <= set(ans)
    assert ans["citations"], ans
    assert {"id", "file", "page", "kind"} <= set(ans["citations"][0])
    assert any(c["page"] == 3 for c in ans["citations"])
    assert {"id", "file", "page", "kind", "score"} <= set(ans["evidence"][0])

    code, out, _ = _run(capsys, "search", "cooling pump part", "--k", "2", *common)
    hits = json.loads(out)
    assert len(hits) <= 2 and hits[0]["page"] == 3

    code, out, _ = _run(capsys, "stats", *common)
    st = json.loads(out)
    assert st["files"] == 1 and st["points"] > 0 and st["dim"] == 384
    assert st["embedder_id"].endswith("all-MiniLM-L6-v2")

    # filters: a file glob, a kind, and file-modified dates (the file was written just now)
    code, out, _ = _run(capsys, "search", "cooling pump part", "--file", "*/ops.pdf", "--kind", "text", *common)
    assert json.loads(out) and all(h["kind"] == "text" for h in json.loads(out))
    code, out, _ = _run(capsys, "search", "cooling pump part", "--modified-until", "2001-01-01", *common)
    assert json.loads(out) == []
    code, out, _ = _run(capsys, "ask", "Which part number replaces the cooling pump?",
                        "--modified-since", "2001-01-01", *common)
    assert json.loads(out)["citations"]
    with pytest.raises(SystemExit):
        _run(capsys, "search", "pump", "--modified-since", "last tuesday", *common)
    assert "not an ISO date" in capsys.readouterr().err

    code, out, _ = _run(capsys, "optimize", *common)
    assert code == 0 and {"changed", "seconds", "points"} <= set(json.loads(out))


def test_bad_config_is_one_line_not_a_traceback(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = _run(capsys, "stats", "--index", str(tmp_path), "--set", "retrieve.k=-1")
    assert code == 2
    assert err.startswith("mmrag: error:") and "retrieve.k=-1" in err
    assert "Traceback" not in err


def test_demo_answers_from_the_table_with_a_page_citation(tmp_path: Path,
                                                         capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = _run(capsys, "demo", "--folder", str(tmp_path / "sample"), "--index", str(tmp_path / "ix"),
                        "--set", "ingest.ocr=none", "--json")
    assert code == 0
    data = json.loads(out)
    assert data["ingest"]["files_failed"] == []
    assert data["answer"].splitlines()[0] == "Europe, 2025: 146.2 [2]"  # Europe's 2025 revenue, from Table 1
    first = data["citations"][0]
    assert (Path(first["file"]).name, first["page"]) == ("acme_annual_report_2025.pdf", 2)
