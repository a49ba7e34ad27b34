"""Bench bookkeeping: medians, query building, the table; the baselines' timing on a small PDF."""

from __future__ import annotations

from pathlib import Path

import pytest

from rag.errors import MmragError
from rag.eval.baselines import BM25Baseline
from rag.eval.bench import BenchResult, bench_baseline, format_bench, make_queries, pdf_files
from tests.pdfs import write_pages


def test_medians_and_table() -> None:
    res = BenchResult(meta={"pages": 5, "files": 2, "repeats": 3, "queries": 4, "embedder": "x"})
    for v in (1.0, 3.0, 2.0):
        res.add("mmrag", "ingest", "pages/s", v)
    res.add("mmrag", "ingest", "pages/s", None)  # skipped
    res.add("bm25", "ingest", "pages/s", 4.0)
    res.add("mmrag", "search p50", "ms", 10.0)
    assert res.median("mmrag", "ingest") == 2.0
    assert res.median("bm25", "search p50") is None
    table = format_bench(res)
    assert "5 pages in 2 files, 3 repeats" in table
    row = next(line for line in table.splitlines() if line.startswith("ingest"))
    assert row.split() == ["ingest", "pages/s", "2.0", "4.0", "0.5x"]
    row = next(line for line in table.splitlines() if line.startswith("search p50"))
    assert row.split()[-2:] == ["-", "-"]


def test_queries_come_from_page_text(tmp_path: Path) -> None:
    words = " ".join(f"w{i}" for i in range(30))
    f = write_pages(tmp_path / "a.pdf", [words, "too short"]).resolve()
    assert pdf_files(tmp_path) == [f]
    qs = make_queries([f], 5, seed=1)
    assert len(qs) == 5 and all(file == f and len(q.split()) == 10 and q in words for q, file in qs)
    assert make_queries([f], 5, seed=1) == qs  # deterministic
    (tmp_path / "empty").mkdir()
    with pytest.raises(MmragError, match="no PDF files found"):
        pdf_files(tmp_path / "empty")
    short = write_pages(tmp_path / "s.pdf", ["tiny"]).resolve()
    with pytest.raises(MmragError, match="no page with a text layer"):
        make_queries([short], 2)


def test_bench_baseline_records_rate_and_latency(tmp_path: Path) -> None:
    f = write_pages(tmp_path / "a.pdf", ["revenue grew in Europe", "costs fell"]).resolve()
    res = BenchResult(meta={})
    bench_baseline(BM25Baseline, [f], [("revenue Europe", f), ("costs", f)], 3, res)
    assert res.median("bm25", "ingest") is not None
    assert res.measures["bm25"]["search p50"].unit == "ms"
