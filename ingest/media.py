"""Image files written during ingestion: ``<media_dir>/<doc_id>/<name>.png``, atomically."""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path


def doc_media_dir(media_dir: Path, doc_id: str) -> Path:
    """The folder holding one document's page renders and crops (created if missing)."""
    folder = media_dir.resolve() / doc_id
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def write_atomic(path: Path, data: bytes) -> Path:
    """Write ``data`` to ``path`` through a temporary file and a rename.

    Readers (the embedder, the HTTP server) never see a half-written image, and a crash
    leaves at worst a stray ``.tmp`` file, never a truncated PNG under the final name.
    """
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def remove_media(media_dir: Path, doc_id: str) -> None:
    """Delete one document's images (for a changed or deleted file)."""
    shutil.rmtree(media_dir / doc_id, ignore_errors=True)


def sweep_partial_writes(media_dir: Path) -> int:
    """Remove the temporary files a killed run left behind; returns how many.

    Call it only while no parse runs on this media folder (at the start of an ingest run)."""
    removed = 0
    if media_dir.is_dir():
        for tmp in media_dir.glob("*/.*.tmp"):
            tmp.unlink(missing_ok=True)
            removed += 1
    return removed
