"""The `mmrag` command end to end on the CPU profile, JSON output."""

from __future__ import annotations

import io
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
    assert st["embedder_id"] == "e5small-int8:intfloat/multilingual-e5-small"

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
    # The README's Korean question on the same sample folder.
    code, out, _ = _run(capsys, "ask", "2025년 아시아 지역 매출은 얼마인가요?", "--index", str(tmp_path / "ix"))
    lines = out.splitlines()
    assert code == 0 and lines[0] == "아시아, 2025년: 842 [1]"
    assert "hanbit_business_report_2025.pdf, page 1 (" in lines[lines.index("Sources:") + 1]


# ------------------------------------------------------------------------------ what a person reads
def test_ask_and_search_without_an_index_fail_and_create_nothing(tmp_path: Path,
                                                                capsys: pytest.CaptureFixture[str]) -> None:
    index = tmp_path / "never-made"
    for argv in (["ask", "What was the revenue?"], ["search", "revenue"]):
        code, out, err = _run(capsys, *argv, "--index", str(index))
        assert code == 2 and out == ""
        assert err.startswith(f"mmrag: error: no index at {index}") and "mmrag ingest" in err
    assert not index.exists()


def test_ask_on_an_empty_index_fails(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "empty").mkdir()
    common = ["--index", str(tmp_path / "ix"), "--set", "ingest.ocr=none"]
    code, out, _ = _run(capsys, "ingest", str(tmp_path / "empty"), *common)
    assert code == 0 and out.startswith("0 files seen")
    code, _, err = _run(capsys, "ask", "What was the revenue?", *common)
    assert code == 2 and f"the index at {tmp_path / 'ix'} is empty" in err


def test_stats_reads_the_store_without_loading_models(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    docs = tmp_path / "docs"
    write_report(docs / "ops.pdf")
    common = ["--index", str(tmp_path / "ix"), "--set", "ingest.ocr=none"]
    assert _run(capsys, "ingest", str(docs), *common)[0] == 0

    def no_models(*_: object) -> None:
        raise AssertionError("stats must not build a model")

    monkeypatch.setattr("rag.embed.base.build_embedder", no_models)
    monkeypatch.setattr("rag.generate.base.build_generator", no_models)
    monkeypatch.setattr("rag.pipeline.build_embedder", no_models)
    code, out, _ = _run(capsys, "stats", *common)
    assert code == 0
    assert out.splitlines()[0].startswith(f"index {tmp_path / 'ix'}: 1 file, ")
    assert "text chunks" in out and "{" not in out
    assert _run(capsys, "stats", "--index", str(tmp_path / "none"))[1].strip() == f"index {tmp_path / 'none'}: empty"
    assert not (tmp_path / "none").exists()


def test_no_model_loading_bars_unless_verbose(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    docs = tmp_path / "docs"
    write_report(docs / "ops.pdf")
    # cpu-en: its torch model prints a loading bar (the default profile's ONNX model prints none).
    common = ["--config", "cpu-en", "--index", str(tmp_path / "ix"), "--set", "ingest.ocr=none"]
    code, _, err = _run(capsys, "ingest", str(docs), *common)
    assert code == 0 and "Loading weights" not in err and "it/s" not in err
    code, _, err = _run(capsys, "search", "cooling pump", *common)
    assert code == 0 and "Loading weights" not in err
    code, _, err = _run(capsys, "search", "cooling pump", "--verbose", *common)
    assert code == 0 and "Loading weights" in err  # the bar is there to hide, and --verbose shows it


def test_ingest_summary_in_words_with_failed_and_skipped_files(tmp_path: Path,
                                                               capsys: pytest.CaptureFixture[str]) -> None:
    docs = tmp_path / "docs"
    write_report(docs / "ops.pdf")
    write_corrupt(docs / "bad\nname.pdf")
    (docs / "tool.exe").write_bytes(b"MZ")
    code, out, _ = _run(capsys, "ingest", str(docs), "--index", str(tmp_path / "ix"), "--set", "ingest.ocr=none")
    assert code == 3  # a file failed
    lines = out.splitlines()
    assert lines[0] == "2 files seen: 1 ingested, 0 unchanged, 0 deleted, 1 failed, 1 skipped"
    assert lines[1].startswith("3 pages indexed as ") and "text chunks" in lines[1] and "{" not in out
    assert "failed (1):" in lines and "skipped (1):" in lines
    failed = lines[lines.index("failed (1):") + 1]
    assert failed.startswith(f"  {docs}/bad\\nname.pdf: ")  # the newline is escaped, not printed
    skipped = lines[lines.index("skipped (1):") + 1]
    assert skipped.startswith(f"  {docs / 'tool.exe'}: ")


def test_ingest_summary_lists_files_that_yielded_nothing(tmp_path: Path,
                                                         capsys: pytest.CaptureFixture[str]) -> None:
    import pymupdf

    docs = tmp_path / "docs"
    docs.mkdir()
    blank = pymupdf.open()
    blank.new_page()
    blank.save(str(docs / "blank.pdf"))
    code, out, _ = _run(capsys, "ingest", str(docs), "--index", str(tmp_path / "ix"), "--set", "ingest.ocr=none")
    lines = out.splitlines()
    assert code == 0 and "look at (1):" in lines
    assert lines[lines.index("look at (1):") + 1].startswith(f"  {docs / 'blank.pdf'}: ")


def test_search_prints_text_not_a_repr(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    docs = tmp_path / "docs"
    write_report(docs / "ops.pdf")
    common = ["--index", str(tmp_path / "ix"), "--set", "ingest.ocr=none"]
    _run(capsys, "ingest", str(docs), *common)
    code, out, _ = _run(capsys, "search", "cooling pump part", "--k", "2", *common)
    lines = out.splitlines()
    assert code == 0 and lines[0].startswith(" 1. ") and f"{docs / 'ops.pdf'}  page 3" in lines[0]
    assert lines[1].startswith("    ") and not lines[1].strip().startswith(("'", '"'))
    assert "\\n" not in out


def test_ingest_progress_counts_pages(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    docs = tmp_path / "docs"
    write_report(docs / "ops.pdf")  # 3 pages
    code, _, err = _run(capsys, "ingest", str(docs), "--index", str(tmp_path / "ix"), "--set", "ingest.ocr=none")
    assert code == 0
    assert "ingest  0/3 pages" in err and "ingest  3/3 pages" in err


def test_progress_line_rate_and_eta() -> None:
    from rag.cli_progress import ProgressLine, clock_text

    assert (clock_text(181), clock_text(3725), clock_text(0.4)) == ("3:01", "1:02:05", "0:00")
    now = [100.0]
    out = io.StringIO()
    line = ProgressLine(out, interval=0, clock=lambda: now[0])
    line(0, 8681)
    now[0] += 30.1
    line(1234, 8681)
    line.close()
    assert out.getvalue().splitlines() == ["ingest  0/8,681 pages", "ingest  1,234/8,681 pages  41 p/s  eta 3:02"]
