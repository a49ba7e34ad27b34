"""The manifest: which files each tenant ingested, with what content, into which item ids.

SQLite in WAL mode in the index folder. Each ``record`` is one committed transaction, so a
crash mid-folder keeps every file recorded before it and a rerun resumes from there.

Rows are keyed by ``(tenant, path)``: the same file ingested by two tenants is two documents, and
one tenant's re-ingest, change or delete never touches the other's row. A manifest of the old
schema (keyed by path alone, schema version 1) is migrated when it is opened, in one transaction:
each old row goes to the tenant ``tenant_of(path)`` names (the caller reads it from the points
the store holds for the file), or to ``default`` without one.

Each row also records how the file was embedded (``embedding``: the caller's name for the rule,
e.g. ``rag.indexing.PageVectorRule.recipe``): :meth:`Manifest.diff` lists a file whose content is
unchanged but whose rule differs from the one asked for as ``reembed``, so a changed rule
re-embeds the files instead of mixing vectors made two ways. Rows of schema 2 (before the column)
read as :data:`LEGACY_EMBEDDING`, the rule every index was built with until then.
"""

from __future__ import annotations

import json
import logging
import sqlite3
import threading
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from types import TracebackType

from pydantic import BaseModel, ConfigDict, Field

from ingest.records import Document, FileInfo

log = logging.getLogger(__name__)

SCHEMA_VERSION = 3
"""``PRAGMA user_version`` of the current layout (1: keyed by path only, no tenant column; 2: no
``embedding`` column)."""
DEFAULT_TENANT = "default"
LEGACY_EMBEDDING = "text"
"""The embedding rule of rows written before it was recorded: page items embedded from their text."""

_SCHEMA = """
CREATE TABLE IF NOT EXISTS {table} (
    tenant TEXT NOT NULL,
    path TEXT NOT NULL,
    size INTEGER NOT NULL,
    mtime REAL NOT NULL,
    sha256 TEXT NOT NULL,
    doc_id TEXT NOT NULL,
    item_ids TEXT NOT NULL,
    ingested_at TEXT NOT NULL,
    embedding TEXT NOT NULL DEFAULT '{legacy}',
    PRIMARY KEY (tenant, path)
)
"""
_COLUMNS = "tenant, path, size, mtime, sha256, doc_id, item_ids, ingested_at"


class ManifestDiff(BaseModel):
    """Discovered files compared with the manifest."""

    model_config = ConfigDict(extra="forbid")

    new: list[FileInfo] = Field(default_factory=list)
    changed: list[FileInfo] = Field(default_factory=list)
    """In the manifest with different content (SHA-256)."""
    unchanged: list[FileInfo] = Field(default_factory=list)
    reembed: list[FileInfo] = Field(default_factory=list)
    """Same content, but recorded with another embedding rule than the one asked for."""
    deleted: list[str] = Field(default_factory=list)
    """Recorded paths under the given roots that were not discovered this time."""


def _under(path: str, roots: Sequence[Path]) -> bool:
    p = Path(path)
    return any(p == r or p.is_relative_to(r) for r in roots)


class Manifest:
    """Ingested files and their item ids per tenant, stored in SQLite at ``path``.

    ``tenant_of(path)`` names the owner of a row of an old-schema manifest (see the module doc);
    it is called only while migrating."""

    def __init__(self, path: Path, tenant_of: Callable[[str], str] | None = None) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        # One connection shared across threads (the async pipeline), serialised by a lock.
        self._conn = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        self._lock = threading.Lock()
        with self._lock:
            self._conn.execute("PRAGMA journal_mode=WAL")
            self._conn.execute("PRAGMA synchronous=NORMAL")
            try:
                columns = [r[1] for r in self._conn.execute("PRAGMA table_info(files)")]
                if columns and "tenant" not in columns:
                    self._migrate(tenant_of)
                elif columns and "embedding" not in columns:  # schema 2: rows read as the legacy rule
                    self._conn.execute("ALTER TABLE files ADD COLUMN embedding TEXT NOT NULL "
                                       f"DEFAULT '{LEGACY_EMBEDDING}'")
                    self._conn.execute(f"PRAGMA user_version={SCHEMA_VERSION}")
                else:
                    self._conn.execute(_SCHEMA.format(table="files", legacy=LEGACY_EMBEDDING))
                    self._conn.execute(f"PRAGMA user_version={SCHEMA_VERSION}")
            except BaseException:
                self._conn.close()
                raise

    def _migrate(self, tenant_of: Callable[[str], str] | None) -> None:
        """Schema 1 (keyed by path) -> 2 (keyed by tenant and path), in one transaction: a crash
        leaves the old table whole, and the next open migrates again."""
        self._conn.execute("BEGIN IMMEDIATE")
        try:
            rows = self._conn.execute(
                "SELECT path, size, mtime, sha256, doc_id, item_ids, ingested_at FROM files").fetchall()
            self._conn.execute("DROP TABLE IF EXISTS files_v2")
            self._conn.execute(_SCHEMA.format(table="files_v2", legacy=LEGACY_EMBEDDING))
            for row in rows:
                tenant = (tenant_of(row[0]) if tenant_of else None) or DEFAULT_TENANT
                self._conn.execute(f"INSERT INTO files_v2 ({_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                                   (tenant, *row))
            self._conn.execute("DROP TABLE files")
            self._conn.execute("ALTER TABLE files_v2 RENAME TO files")
            self._conn.execute(f"PRAGMA user_version={SCHEMA_VERSION}")
        except BaseException:
            self._conn.execute("ROLLBACK")
            raise
        self._conn.execute("COMMIT")
        log.info("%s: migrated %d row(s) to schema %d (rows keyed by tenant and path)",
                 self.path, len(rows), SCHEMA_VERSION)

    def diff(self, files: Sequence[FileInfo], roots: Sequence[Path],
             tenant: str = DEFAULT_TENANT, embedding: str | None = None) -> ManifestDiff:
        """Sort ``files`` into new / changed / reembed / unchanged for ``tenant``, and list that
        tenant's recorded files under ``roots`` that are gone. ``embedding``: the rule the caller
        embeds with (None: any rule is current). Files recorded under other roots, and every other
        tenant's rows, are left alone."""
        with self._lock:
            known = {p: (sha, how) for p, sha, how in self._conn.execute(
                "SELECT path, sha256, embedding FROM files WHERE tenant = ?", (tenant,))}
        out = ManifestDiff()
        for f in files:
            row = known.get(f.path)
            if row is None:
                out.new.append(f)
            elif row[0] != f.sha256:
                out.changed.append(f)
            elif embedding is not None and row[1] != embedding:
                out.reembed.append(f)
            else:
                out.unchanged.append(f)
        present = {f.path for f in files}
        resolved = [Path(r).resolve() for r in roots]
        out.deleted = sorted(p for p in known if p not in present and _under(p, resolved))
        return out

    def record(self, doc: Document, item_ids: list[str], tenant: str = DEFAULT_TENANT,
               embedding: str = LEGACY_EMBEDDING) -> None:
        """Record (or replace) one file ingested by ``tenant`` and embedded by rule ``embedding``:
        one committed transaction."""
        now = datetime.now(UTC).isoformat(timespec="seconds")
        with self._lock:
            self._conn.execute("BEGIN IMMEDIATE")
            try:
                self._conn.execute(
                    f"INSERT OR REPLACE INTO files ({_COLUMNS}, embedding) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    (tenant, doc.path, doc.size, doc.mtime, doc.sha256, doc.doc_id, json.dumps(item_ids), now,
                     embedding),
                )
            except BaseException:
                self._conn.execute("ROLLBACK")
                raise
            self._conn.execute("COMMIT")

    def forget(self, path: str, tenant: str = DEFAULT_TENANT) -> None:
        """Remove ``tenant``'s row of a file (after its points were deleted)."""
        with self._lock:
            self._conn.execute("DELETE FROM files WHERE tenant = ? AND path = ?", (tenant, path))

    def item_ids(self, path: str, tenant: str = DEFAULT_TENANT) -> list[str]:
        """Item ids recorded for ``path`` by ``tenant`` (empty if unknown)."""
        with self._lock:
            row = self._conn.execute("SELECT item_ids FROM files WHERE tenant = ? AND path = ?",
                                     (tenant, path)).fetchone()
        return list(json.loads(row[0])) if row else []

    def doc_id(self, path: str, tenant: str = DEFAULT_TENANT) -> str | None:
        """The doc_id recorded for ``path`` by ``tenant`` (to remove its media folder), or None."""
        with self._lock:
            row = self._conn.execute("SELECT doc_id FROM files WHERE tenant = ? AND path = ?",
                                     (tenant, path)).fetchone()
        return str(row[0]) if row else None

    def files(self, tenant: str | None = None) -> list[str]:
        """Every path recorded by ``tenant`` (by any tenant when None, each once), sorted."""
        with self._lock:
            if tenant is None:
                return [r[0] for r in self._conn.execute("SELECT DISTINCT path FROM files ORDER BY path")]
            return [r[0] for r in self._conn.execute(
                "SELECT path FROM files WHERE tenant = ? ORDER BY path", (tenant,))]

    def tenants(self, path: str) -> list[str]:
        """The tenants that recorded ``path``, sorted."""
        with self._lock:
            return [r[0] for r in self._conn.execute(
                "SELECT tenant FROM files WHERE path = ? ORDER BY tenant", (path,))]

    def embeddings(self, tenant: str | None = None) -> dict[str, int]:
        """How many files (of ``tenant``; of every tenant when None) each embedding rule holds."""
        with self._lock:
            if tenant is None:
                rows = self._conn.execute("SELECT embedding, COUNT(*) FROM files GROUP BY embedding")
            else:
                rows = self._conn.execute("SELECT embedding, COUNT(*) FROM files WHERE tenant = ? "
                                          "GROUP BY embedding", (tenant,))
            return {str(how): int(n) for how, n in rows}

    def doc_id_uses(self) -> dict[str, int]:
        """How many rows (of every tenant) name each doc_id: page renders and crops live under
        ``media/<doc_id>`` and are shared by identical files, whoever ingested them."""
        with self._lock:
            return {str(d): int(n) for d, n in self._conn.execute(
                "SELECT doc_id, COUNT(*) FROM files GROUP BY doc_id")}

    def close(self) -> None:
        """Close the database connection."""
        with self._lock:
            self._conn.close()

    def __enter__(self) -> Manifest:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()
