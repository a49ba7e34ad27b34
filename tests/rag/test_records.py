"""The ingest report's records are typed end to end, and their JSON keeps the keys clients read."""

from __future__ import annotations

import json

from ingest.records import FileFailure
from rag.records import FileNotice, FileSkip, IngestReport


def test_report_entries_are_typed_and_their_json_keeps_the_keys() -> None:
    report = IngestReport(files_failed=[FileFailure(path="/d/a.pdf", reason="encrypted PDF", detail="no password")],
                          files_skipped=[FileSkip(path="/d/b.exe", reason="unsupported type")],
                          notices=[FileNotice(path="/d/c.pdf", notice="no points")])
    data = json.loads(report.model_dump_json())
    assert data["files_failed"] == [{"path": "/d/a.pdf", "reason": "encrypted PDF", "detail": "no password"}]
    assert data["files_skipped"] == [{"path": "/d/b.exe", "reason": "unsupported type"}]
    assert data["notices"] == [{"path": "/d/c.pdf", "notice": "no points"}]
    again = IngestReport.model_validate(data)  # a job's report read back by a client
    assert again == report and isinstance(again.files_failed[0], FileFailure)
