"""What parsing lost or guessed reaches the user: page warnings in the ingest report (Python API
and the CLI's summary), the file itself ingested."""

from __future__ import annotations

from pathlib import Path

import pytest

from rag.cli import main
from rag.pipeline import Pipeline
from tests.ingest.builders import needs_tesseract
from tests.ingest.test_limits import _three_pages_huge_middle


@needs_tesseract
def test_a_huge_page_is_a_page_warning_in_the_report_and_the_summary(tmp_path: Path,
                                                                     capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "docs").mkdir()
    path = _three_pages_huge_middle(tmp_path / "docs" / "three.pdf")
    with Pipeline.from_config("cpu", {"store.path": str(tmp_path / "ix")}, environ={}) as pipe:
        report = pipe.ingest([path], progress=False)
        assert report.files_ingested == 1 and report.files_failed == []
        on_page_2 = [w for w in report.warnings if w.page == 2]
        assert on_page_2 and all(w.path == str(path) for w in on_page_2)
        assert any("ingest.max_render_pixels" in w.detail for w in on_page_2)
        assert "depot 3" in pipe.search("pump inspection of depot 3", k=3)[0].text

    path.write_bytes(path.read_bytes() + b"\n% changed\n")  # the CLI ingests it again
    code = main(["ingest", str(path.parent), "--index", str(tmp_path / "ix")])
    lines = capsys.readouterr().out.splitlines()
    assert code == 0
    start = next(i for i, line in enumerate(lines) if line.startswith("page warnings ("))
    assert lines[start + 1].startswith(f"  {path}, page 2: ")
