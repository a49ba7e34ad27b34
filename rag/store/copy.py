"""Copy an index to another store: an embedded index to a Qdrant server or cluster, or to another
embedded folder (``mmrag copy``).

The copy scrolls the source (:meth:`Store.scroll_points`) a page at a time and upserts each page
into the destination, so memory holds one page, whatever the index size. Point ids, dense and
sparse vectors and payloads are copied as they are; the destination is created for the source's
embedder (:class:`~rag.store.common.StoreMeta`: id, dim, keyword tokenizer) or must already hold
the same one. Re-running is idempotent (same ids overwrite), so an interrupted copy is resumed by
running it again.

Only points move: the manifest and the page renders stay under ``store.path``, which the
destination's configuration keeps pointing at (see docs/deploy.md).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path

from pydantic import BaseModel, ConfigDict, ValidationError

from rag.backend_settings import ServerStoreConfig
from rag.config import StoreConfig
from rag.errors import StoreError
from rag.store.base import Store

log = logging.getLogger(__name__)

COPY_PAGE = 512
"""Points per scroll page (and per destination upsert)."""


class CopyReport(BaseModel):
    """What :func:`copy_store` did."""

    model_config = ConfigDict(extra="forbid")

    points: int
    """Points copied."""
    pages: int
    """Scroll pages read."""
    embedder_id: str
    dim: int
    tokenizer: str


def target_config(source: StoreConfig, to: str, *, collection: str | None = None,
                  shard_number: int | None = None, replication_factor: int | None = None) -> StoreConfig:
    """The destination of ``mmrag copy --to``: an ``http(s)://`` URL is a Qdrant server or cluster
    (created with ``shard_number`` and ``replication_factor``); anything else is a folder holding
    an embedded index, prefixed ``local:`` for qdrant-client's local mode, else Qdrant Edge
    (``edge:`` optional). The collection is the source's unless given."""
    try:
        return _target(source, to, collection or source.collection, shard_number, replication_factor)
    except ValidationError as exc:
        raise StoreError(f"--to {to!r}: {exc.errors()[0]['loc']}: {exc.errors()[0]['msg']}") from None


def _target(source: StoreConfig, to: str, name: str, shard_number: int | None,
            replication_factor: int | None) -> StoreConfig:
    if to.startswith(("http://", "https://")):
        # A server source lends its key and layout; an embedded one has none (the defaults).
        own = source if isinstance(source, ServerStoreConfig) else ServerStoreConfig(url=to)
        return ServerStoreConfig(url=to, api_key=own.api_key, collection=name, path=source.path,
                                 shard_number=own.shard_number if shard_number is None else shard_number,
                                 replication_factor=(own.replication_factor if replication_factor is None
                                                     else replication_factor),
                                 write_consistency_factor=own.write_consistency_factor)
    if shard_number not in (None, 1) or replication_factor not in (None, 1):
        raise StoreError(f"--shards and --replication-factor apply to a Qdrant server URL, not to the "
                         f"embedded index at {to!r}")
    backend, sep, path = to.partition(":")
    if not sep or backend not in ("edge", "local") or not path:
        backend, path = "edge", to
    return StoreConfig.model_validate({"backend": backend, "path": str(Path(path).expanduser()), "collection": name})


def same_store(a: StoreConfig, b: StoreConfig) -> bool:
    """Whether two configurations name the same index."""
    if isinstance(a, ServerStoreConfig) or isinstance(b, ServerStoreConfig):
        return (isinstance(a, ServerStoreConfig) and isinstance(b, ServerStoreConfig)
                and a.url.rstrip("/") == b.url.rstrip("/") and a.collection == b.collection)
    return (a.backend == b.backend and a.collection == b.collection
            and Path(a.path).expanduser().resolve() == Path(b.path).expanduser().resolve())


def copy_store(src: Store, dst: Store, batch: int = COPY_PAGE,
               on_progress: Callable[[int, int], None] | None = None) -> CopyReport:
    """Copy every point of ``src`` into ``dst`` and say how many. ``dst`` is created for ``src``'s
    embedder, or must already hold the same one (StoreError naming both otherwise); an index whose
    keyword vectors were cut by another tokenizer than this version's is refused (they would be
    stamped with this one). ``on_progress(points_copied, points_total)`` after every page."""
    if batch < 1:
        raise StoreError(f"batch must be >= 1, got {batch}")
    meta = src.embedder
    if meta is None:
        raise StoreError("the source index was never created; nothing to copy")
    meta.check_tokenizer("source index")
    total = src.count()
    dst.ensure(meta.embedder_id, meta.dim)
    copied = pages = 0
    if on_progress:
        on_progress(0, total)
    for points in src.scroll_points(batch):
        if not points:
            continue
        dst.upsert(points)
        copied += len(points)
        pages += 1
        log.debug("copied %d/%d points", copied, total)
        if on_progress:
            on_progress(copied, total)
    got = dst.embedder
    if got is None or (got.embedder_id, got.dim, got.tokenizer) != (meta.embedder_id, meta.dim, meta.tokenizer):
        raise StoreError(f"the destination holds {got!r} after the copy, the source {meta!r}")
    log.info("copied %d points in %d pages", copied, pages)
    return CopyReport(points=copied, pages=pages, embedder_id=meta.embedder_id, dim=meta.dim,
                      tokenizer=meta.tokenizer)
