"""The manifest: which files were ingested, with what content, into which item ids.

SQLite in WAL mode in the index folder. Each ``record`` is one committed transaction, so a
crash mid-folder keeps every file recorded before it and a rerun resumes from there.
"""

from __future__ import annotations

import json
import sqlite3
import threading
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from types import TracebackType

from pydantic import BaseModel, ConfigDict, Field

from ingest.records import Document, FileInfo

_SCHEMA = """
CREATE TABLE IF NOT EXISTS files (
    path TEXT PRIMARY KEY,
    size INTEGER NOT NULL,
    mtime REAL NOT NULL,
    sha256 TEXT NOT NULL,
    doc_id TEXT NOT NULL,
    item_ids TEXT NOT NULL,
    ingested_at TEXT NOT NULL
)
"""


class ManifestDiff(BaseModel):
    """Discovered files compared with the manifest."""

    model_config = ConfigDict(extra="forbid")

    new: list[FileInfo] = Field(default_factory=list)
    changed: list[FileInfo] = Field(default_factory=list)
    """In the manifest with different content (SHA-256)."""
    unchanged: list[FileInfo] = Field(default_factory=list)
    deleted: list[str] = Field(default_factory=list)
    """Recorded paths under the given roots that were not discovered this time."""


def _under(path: str, roots: Sequence[Path]) -> bool:
    p = Path(path)
    return any(p == r or p.is_relative_to(r) for r in roots)


class Manifest:
    """Ingested files and their item ids, stored in SQLite at ``path``."""

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        # One connection shared across threads (the async pipeline), serialised by a lock.
        self._conn = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        self._lock = threading.Lock()
        with self._lock:
            self._conn.execute("PRAGMA journal_mode=WAL")
            self._conn.execute("PRAGMA synchronous=NORMAL")
            self._conn.execute(_SCHEMA)

    def diff(self, files: Sequence[FileInfo], roots: Sequence[Path]) -> ManifestDiff:
        """Sort ``files`` into new / changed / unchanged, and list recorded files under
        ``roots`` that are gone. Files recorded under other roots are left alone."""
        with self._lock:
            known = {p: sha for p, sha in self._conn.execute("SELECT path, sha256 FROM files")}
        out = ManifestDiff()
        for f in files:
            sha = known.get(f.path)
            if sha is None:
                out.new.append(f)
            elif sha != f.sha256:
                out.changed.append(f)
            else:
                out.unchanged.append(f)
        present = {f.path for f in files}
        resolved = [Path(r).resolve() for r in roots]
        out.deleted = sorted(p for p in known if p not in present and _under(p, resolved))
        return out

    def record(self, doc: Document, item_ids: list[str]) -> None:
        """Record (or replace) one ingested file: one committed transaction."""
        now = datetime.now(UTC).isoformat(timespec="seconds")
        with self._lock:
            self._conn.execute("BEGIN IMMEDIATE")
            try:
                self._conn.execute(
                    "INSERT OR REPLACE INTO files VALUES (?, ?, ?, ?, ?, ?, ?)",
                    (doc.path, doc.size, doc.mtime, doc.sha256, doc.doc_id, json.dumps(item_ids), now),
                )
            except BaseException:
                self._conn.execute("ROLLBACK")
                raise
            self._conn.execute("COMMIT")

    def forget(self, path: str) -> None:
        """Remove a file's row (after its points were deleted)."""
        with self._lock:
            self._conn.execute("DELETE FROM files WHERE path = ?", (path,))

    def item_ids(self, path: str) -> list[str]:
        """Item ids recorded for ``path`` (empty if unknown)."""
        with self._lock:
            row = self._conn.execute("SELECT item_ids FROM files WHERE path = ?", (path,)).fetchone()
        return list(json.loads(row[0])) if row else []

    def doc_id(self, path: str) -> str | None:
        """The doc_id recorded for ``path`` (to remove its media folder), or None."""
        with self._lock:
            row = self._conn.execute("SELECT doc_id FROM files WHERE path = ?", (path,)).fetchone()
        return str(row[0]) if row else None

    def files(self) -> list[str]:
        """Every recorded path, sorted."""
        with self._lock:
            return [r[0] for r in self._conn.execute("SELECT path FROM files ORDER BY path")]

    def close(self) -> None:
        """Close the database connection."""
        with self._lock:
            self._conn.close()

    def __enter__(self) -> Manifest:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()
