"""The manifest: diff, record, forget, persistence."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from ingest.manifest import Manifest
from ingest.records import Document, FileInfo


def _info(path: str, sha: str) -> FileInfo:
    return FileInfo(path=path, size=10, mtime=1.0, sha256=sha)


def _doc(info: FileInfo) -> Document:
    return Document(doc_id=info.sha256[:16], path=info.path, sha256=info.sha256, size=info.size,
                    mtime=info.mtime, pages=1)


def test_diff_new_changed_unchanged_deleted(tmp_path: Path) -> None:
    root, other = tmp_path / "docs", tmp_path / "elsewhere"
    a, b, c = (_info(str(root / n), n * 8) for n in ("a", "b", "c"))
    far = _info(str(other / "far.pdf"), "f" * 8)
    with Manifest(tmp_path / "index" / "manifest.db") as m:
        for info in (a, b, c, far):
            m.record(_doc(info), [f"id-{info.sha256}"])
        b2 = _info(b.path, "B" * 8)
        d = _info(str(root / "sub" / "d"), "d" * 8)
        diff = m.diff([a, b2, d], [root])
    assert diff.unchanged == [a]
    assert diff.changed == [b2]
    assert diff.new == [d]
    assert diff.deleted == [c.path]  # far.pdf is under another root: not deleted


def test_record_forget_item_ids_persist(tmp_path: Path) -> None:
    db = tmp_path / "manifest.db"
    info = _info(str(tmp_path / "x.pdf"), "1" * 64)
    with Manifest(db) as m:
        m.record(_doc(info), ["i1", "i2"])
        m.record(_doc(info), ["i3"])  # re-ingest replaces
    with Manifest(db) as m:
        assert m.files() == [info.path]
        assert m.item_ids(info.path) == ["i3"]
        assert m.doc_id(info.path) == "1" * 16
        m.forget(info.path)
        assert m.files() == [] and m.item_ids(info.path) == []


def test_wal_mode_and_committed_rows_visible_to_other_readers(tmp_path: Path) -> None:
    db = tmp_path / "manifest.db"
    m = Manifest(db)
    m.record(_doc(_info("/x/a.pdf", "a" * 64)), ["i"])
    # Another connection sees the row at once: each record is its own committed transaction.
    other = sqlite3.connect(db)
    assert other.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert other.execute("SELECT path FROM files").fetchall() == [("/x/a.pdf",)]
    other.close()
    m.close()


def test_root_given_as_file(tmp_path: Path) -> None:
    one = _info(str(tmp_path / "one.pdf"), "1" * 8)
    two = _info(str(tmp_path / "one.pdf.bak"), "2" * 8)
    with Manifest(tmp_path / "m.db") as m:
        m.record(_doc(one), [])
        m.record(_doc(two), [])
        assert m.diff([], [tmp_path / "one.pdf"]).deleted == [one.path]
