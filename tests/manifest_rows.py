"""Reading a manifest another process is writing (crash and kill tests)."""

from __future__ import annotations

import sqlite3
from contextlib import closing
from pathlib import Path


def recorded_files(index: Path) -> int:
    """Files the manifest has committed (read-only: the ingest owns the database)."""
    path = index / "manifest.sqlite"
    if not path.exists():
        return 0
    try:
        with closing(sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=5)) as conn:
            return int(conn.execute("SELECT COUNT(*) FROM files").fetchone()[0])
    except sqlite3.OperationalError:  # created, but the table not yet
        return 0
