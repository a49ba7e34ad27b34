"""The manifest: diff, record, forget, persistence."""

from __future__ import annotations

import sqlite3
from contextlib import closing
from pathlib import Path

import pytest

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


def test_rows_are_keyed_by_tenant_and_path(tmp_path: Path) -> None:
    root = tmp_path / "docs"
    a = _info(str(root / "a.pdf"), "a" * 64)
    with Manifest(tmp_path / "m.db") as m:
        m.record(_doc(a), ["alpha-1"], tenant="alpha")
        diff = m.diff([a], [root], tenant="beta")
        assert diff.new == [a] and diff.unchanged == [], "another tenant's row is not beta's"
        m.record(_doc(a), ["beta-1"], tenant="beta")
        a2 = _info(a.path, "b" * 64)
        assert m.diff([a2], [root], tenant="beta").changed == [a2]
        m.record(_doc(a2), ["beta-2"], tenant="beta")
        assert m.item_ids(a.path, tenant="alpha") == ["alpha-1"]
        assert m.diff([a], [root], tenant="alpha").unchanged == [a]
        assert m.tenants(a.path) == ["alpha", "beta"]
        assert m.doc_id_uses() == {"a" * 16: 1, "b" * 16: 1}
        assert m.diff([], [root], tenant="alpha").deleted == [a.path]
        m.forget(a.path, tenant="alpha")
        assert m.tenants(a.path) == ["beta"] and m.files("alpha") == [] and m.files() == [a.path]


_OLD_SCHEMA = """
CREATE TABLE files (
    path TEXT PRIMARY KEY,
    size INTEGER NOT NULL,
    mtime REAL NOT NULL,
    sha256 TEXT NOT NULL,
    doc_id TEXT NOT NULL,
    item_ids TEXT NOT NULL,
    ingested_at TEXT NOT NULL
)
"""


def _old_manifest(db: Path, rows: list[tuple[str, str]]) -> None:
    """A manifest as the path-keyed schema (version 1) wrote it: ``(path, sha256)`` rows."""
    with sqlite3.connect(db) as conn:
        conn.execute(_OLD_SCHEMA)
        for path, sha in rows:
            conn.execute("INSERT INTO files VALUES (?, 10, 1.0, ?, ?, ?, '2025-01-01T00:00:00+00:00')",
                         (path, sha, sha[:16], f'["id-{sha[:4]}"]'))
    conn.close()


def test_old_schema_migrates_on_open_to_the_tenant_of_its_points(tmp_path: Path) -> None:
    db = tmp_path / "manifest.sqlite"
    a, b = str(tmp_path / "a.pdf"), str(tmp_path / "b.pdf")
    _old_manifest(db, [(a, "a" * 64), (b, "b" * 64)])
    owners = {a: "alpha"}  # b's points name no tenant the store knows: it goes to "default"
    with Manifest(db, tenant_of=lambda p: owners.get(p, "")) as m:
        assert m.tenants(a) == ["alpha"] and m.tenants(b) == ["default"]
        assert m.item_ids(a, tenant="alpha") == ["id-aaaa"] and m.doc_id(b) == "b" * 16
        assert m.diff([_info(a, "a" * 64)], [tmp_path], tenant="alpha").unchanged
    with closing(sqlite3.connect(db)) as conn:
        assert conn.execute("PRAGMA user_version").fetchone()[0] == 3
        assert conn.execute("SELECT tenant, path FROM files ORDER BY path").fetchall() == [
            ("alpha", a), ("default", b)]
    with Manifest(db, tenant_of=lambda p: "never-called") as m:  # already migrated: nothing changes
        assert m.tenants(a) == ["alpha"]


def test_a_failed_migration_leaves_the_old_manifest_whole(tmp_path: Path) -> None:
    db = tmp_path / "manifest.sqlite"
    _old_manifest(db, [("/x/a.pdf", "a" * 64)])

    def broken(path: str) -> str:
        raise OSError("store unreachable")

    with pytest.raises(OSError):
        Manifest(db, tenant_of=broken)
    with closing(sqlite3.connect(db)) as conn:
        assert "tenant" not in [r[1] for r in conn.execute("PRAGMA table_info(files)")]
        assert conn.execute("SELECT path FROM files").fetchall() == [("/x/a.pdf",)]
    with Manifest(db) as m:
        assert m.tenants("/x/a.pdf") == ["default"]
