"""Deleting ingested files by path, limited to the caller's tenant.

A file is deleted only when every one of its points belongs to the tenant; its manifest row goes
too, so a later ingest of the same file indexes it again, and so do its page renders and crops once
no other ingested file shares them (the bookkeeping :meth:`Pipeline.aingest` does for deleted files).
"""

from __future__ import annotations

import logging
import os
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from rag.records import SearchFilter

if TYPE_CHECKING:
    from rag.pipeline import Pipeline

log = logging.getLogger(__name__)


def _candidates(raw: str) -> list[str]:
    """The path as given (made absolute) and with symlinks resolved: the store holds resolved paths."""
    absolute = os.path.abspath(os.path.expanduser(raw))
    resolved = str(Path(absolute).resolve())
    return [absolute] if resolved == absolute else [resolved, absolute]


def delete_documents(pipeline: Pipeline, paths: Sequence[str],
                     tenant: str | None) -> tuple[dict[str, int], list[str]]:
    """Remove the points and manifest rows of ``paths``; ``tenant=None`` may delete any file.

    Returns ``(deleted path -> points removed, paths not found for this tenant)``. Run it where
    ingests cannot interleave (the server's ingest worker).
    """
    from ingest.manifest import Manifest
    from ingest.media import remove_media

    store = pipeline.store
    deleted: dict[str, int] = {}
    missing: list[str] = []
    with Manifest(pipeline.settings.index_dir / "manifest.sqlite") as manifest:
        in_use = Counter(d for d in (manifest.doc_id(f) for f in manifest.files()) if d)
        for raw in paths:
            target = None
            for path in _candidates(raw):
                total = store.count(SearchFilter(files=[path]))
                owned = total if tenant is None else store.count(SearchFilter(tenant=tenant, files=[path]))
                if total and owned == total:
                    target = path
                    break
            if target is None:
                missing.append(raw)
                continue
            doc_id = manifest.doc_id(target)
            deleted[raw] = store.delete_file(target)
            manifest.forget(target)
            if doc_id is not None:
                in_use[doc_id] -= 1
                if in_use[doc_id] <= 0:
                    remove_media(pipeline.settings.media_dir, doc_id)
            log.info("deleted %s (%d points) for tenant %s", target, deleted[raw], tenant or "*")
    return deleted, missing
