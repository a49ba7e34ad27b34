"""Image files are written atomically, and what a killed run leaves half-written is swept."""

from __future__ import annotations

from pathlib import Path

from ingest.media import sweep_partial_writes, write_atomic


def test_sweep_removes_only_temporary_files(tmp_path: Path) -> None:
    doc = tmp_path / "media" / "abc123"
    doc.mkdir(parents=True)
    kept = write_atomic(doc / "page-0001.png", b"png")
    (doc / ".page-0002.png.x1y2.tmp").write_bytes(b"half")
    assert sweep_partial_writes(tmp_path / "media") == 1
    assert sorted(p.name for p in doc.iterdir()) == [kept.name]
    assert sweep_partial_writes(tmp_path / "missing") == 0
