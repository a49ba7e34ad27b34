"""The ingest bookkeeping, in one place: discovery, the manifest, media references and store writes.

:class:`Ingestor` is what :meth:`Pipeline.aingest <rag.pipeline.Pipeline.aingest>` and
:meth:`Pipeline.adelete <rag.pipeline.Pipeline.adelete>` run, and what the server's ingest jobs and
``DELETE /v1/documents`` run, so every caller gets the same rules:

- **Ownership by (tenant, path).** A document is a file *as ingested by one tenant*: the manifest
  row is keyed by ``(tenant, path)`` and point ids are scoped to the tenant
  (:func:`rag.indexing.tenant_item_id`). The same file ingested by two tenants is two documents;
  a re-ingest, a change or a delete by one tenant touches only that tenant's points and row.
- **Confinement.** Discovery takes every file by its real path, which must lie under the real
  path of the folder it was found in (and, for the server, under the tenant's ingest roots): a
  symlink leading out is skipped with a reason in the report.
- **Media.** Page renders and crops live under ``media/<doc_id>`` (doc_id: the content hash), shared
  by every row of identical content, whoever ingested it; a folder is removed when its last row goes.
- **Crash safety.** A file's points are replaced in one store step, once all its vectors are in,
  and its manifest row written last, so a crash in between leaves it "changed" and the rerun
  replaces it exactly.
- **Overlap.** Files are parsed on a thread ahead of embedding, through a queue bounded by
  ``ingest.queue_items`` parsed items not yet embedded (:mod:`rag.parse_feed`); a PDF comes in
  page ranges as its worker makes them (:func:`ingest.parse.parse_stream`), so a long document's
  first pages embed while the rest is parsed. Embedding batches cross file boundaries, sorted by
  length (:mod:`rag.cross_batch`). One file failing to embed fails alone. A file's embedded parts
  wait (vectors and payloads, not renders) until its last part is in, then it is stored whole.
- **Stages** (``IngestReport.stages``, seconds summed per stage; parsing overlaps the rest, so they
  add up to more than the run): ``discover``, ``diff``, ``delete``, ``count_pages``; on the parse
  thread ``parse`` (waiting on the parser or its workers) and ``queue_full`` (parsing paused: the
  queue held ``queue_items``); on the ingesting thread ``wait`` (the embedder idle, waiting for a
  parsed file), ``embed``, ``points`` (payloads and keyword vectors) and ``store``; ``optimize``.

One ingest or delete runs at a time (a thread lock: callers may come from any thread or event loop).
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections import Counter
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from pydantic import BaseModel, ConfigDict, Field

from ingest.discover import discover
from ingest.manifest import DEFAULT_TENANT, Manifest
from ingest.media import remove_media, sweep_partial_writes
from rag.backend_settings import EdgeStoreConfig
from rag.config import Settings
from rag.embed.base import Embedder
from rag.indexing import page_vector_rule
from rag.ingest_run import _Run, _Timer
from rag.progress import PageProgress
from rag.records import FileSkip, IngestReport, SearchFilter
from rag.store.base import Optimizable, Store

if TYPE_CHECKING:
    from rag.engines import IndexEngine


__all__ = ["DeleteResult", "Ingestor"]

log = logging.getLogger(__name__)


class DeleteResult(BaseModel):
    """What :meth:`Ingestor.delete` removed."""

    model_config = ConfigDict(extra="forbid")

    deleted: dict[str, int] = Field(default_factory=dict)
    """Path as given -> points removed."""
    not_found: list[str] = Field(default_factory=list)
    """Paths given that the tenant has not ingested."""


def _candidates(raw: str | Path) -> list[str]:
    """The path as given (made absolute) and with symlinks resolved: ingest records real paths."""
    absolute = os.path.abspath(os.path.expanduser(raw))
    resolved = os.path.realpath(absolute)
    return [absolute] if resolved == absolute else [resolved, absolute]


class Ingestor:
    """Ingest and delete documents of one tenant at a time over one embedder and store."""

    def __init__(self, settings: Settings, embedder: Embedder | None, store: Store,
                 engine: IndexEngine | None = None) -> None:
        """``engine``: what parses, embeds and writes the files to (re)index; None: the one named by
        ``ingest.engine`` (:mod:`rag.engines`). ``embedder`` may be None only for an engine that
        embeds elsewhere (Ray's actors)."""
        from rag.engines import build_engine

        self.settings = settings
        self.embedder = embedder
        self.store = store
        self.engine = engine if engine is not None else build_engine(settings)
        self._lock = threading.Lock()

    @property
    def manifest_path(self) -> Path:
        return self.settings.index_dir / "manifest.sqlite"

    def open_manifest(self) -> Manifest:
        """The index's manifest; an old path-keyed one is migrated now (see :mod:`ingest.manifest`):
        each row goes to the tenant its points carry in the store, or to ``default``."""
        return Manifest(self.manifest_path, tenant_of=self._owner_of_legacy_row)

    def _owner_of_legacy_row(self, path: str) -> str:
        tenants = self.store.file_tenants(path)
        if len(tenants) > 1:  # the old code retagged a file's points to its last ingester: rare
            log.warning("%s: points of tenants %s; its old manifest row goes to %r", path, tenants, tenants[0])
        return tenants[0] if tenants else DEFAULT_TENANT

    # ------------------------------------------------------------------------------------ ingest
    def ingest(self, paths: Sequence[str | Path], *, tenant: str = DEFAULT_TENANT, tags: Sequence[str] = (),
               progress: bool | None = None, on_progress: Callable[[int, int], None] | None = None,
               within: Sequence[Path] | None = None,
               on_pages: Callable[[PageProgress], None] | None = None) -> IngestReport:
        """Ingest files and folders for ``tenant`` incrementally (new added, changed replaced,
        deleted removed, unchanged skipped); blocking. ``within``: folders every given path must
        resolve into (the server's ingest roots for the caller). See :meth:`Pipeline.aingest`.

        ``on_progress(files_done, files_total)`` is called once the files to parse are known and
        after each file is finished; ``on_pages(PageProgress)`` then and after every embedding
        batch, with pages parsed, pages done and the total (:mod:`rag.progress`). Both are called
        from the ingesting thread. ``progress``: the terminal page bar (None: on a TTY)."""
        with self._lock:
            return self._ingest([Path(p) for p in paths], tenant, list(tags), progress, on_progress, within,
                                on_pages)

    def _ingest(self, roots: list[Path], tenant: str, tags: list[str], progress: bool | None,
                on_progress: Callable[[int, int], None] | None, within: Sequence[Path] | None,
                on_pages: Callable[[PageProgress], None] | None = None) -> IngestReport:
        cfg = self.settings
        timer, start = _Timer(), time.perf_counter()
        report = IngestReport()
        t = time.perf_counter()
        found = discover(roots, cfg.ingest, within)
        timer.add("discover", t)
        report.files_seen = len(found.files)
        report.files_skipped = [FileSkip(path=f.path, reason=f.reason) for f in found.skipped]
        report.files_failed = list(found.failed)
        if removed := sweep_partial_writes(cfg.media_dir):
            log.info("removed %d partial image files left by an interrupted run", removed)
        recipe = page_vector_rule(cfg.embed).recipe
        with self.open_manifest() as manifest:
            t = time.perf_counter()
            diff = manifest.diff(found.files, roots, tenant, embedding=recipe)
            timer.add("diff", t)
            report.files_unchanged = len(diff.unchanged)
            if diff.reembed:
                log.info("%d unchanged file(s) were embedded with another page-vector rule than %r "
                         "(embed.page_vector): embedding them again", len(diff.reembed), recipe)
            in_use = Counter(manifest.doc_id_uses())
            t = time.perf_counter()
            for path in diff.deleted:
                old = manifest.doc_id(path, tenant)
                self.store.delete_file(path, tenant=tenant)
                manifest.forget(path, tenant)
                self._release_media(in_use, old)
                report.files_deleted += 1
            timer.add("delete", t)
            todo = [*diff.new, *diff.changed, *diff.reembed]
            run = _Run(self, manifest, report, timer, tenant, tags, in_use,
                       replaced={info.path: manifest.doc_id(info.path, tenant)
                                 for info in [*diff.changed, *diff.reembed]},
                       on_progress=on_progress, on_pages=on_pages)
            self.engine.index(run, todo, disable_bar=True if progress is False else None)
            if others := {how: n for how, n in manifest.embeddings(tenant).items() if how != recipe}:
                log.warning("the index still holds files of tenant %s embedded with other page-vector rules "
                            "than %r (%s), outside the paths ingested now: ingest them again to make the "
                            "index consistent", tenant, recipe,
                            ", ".join(f"{how}: {n}" for how, n in sorted(others.items())))
        t = time.perf_counter()
        if self.optimize_due():
            self.optimize()
            timer.add("optimize", t)
        report.seconds = round(time.perf_counter() - start, 3)
        report.stages = timer.seconds
        log.info("ingest (tenant %s): %d seen, %d ingested, %d unchanged, %d deleted, %d failed, %d notices "
                 "in %.1fs", tenant, report.files_seen, report.files_ingested, report.files_unchanged,
                 report.files_deleted, len(report.files_failed), len(report.notices), report.seconds)
        return report

    def _release_media(self, in_use: Counter[str], doc_id: str | None) -> None:
        if doc_id is None:
            return
        in_use[doc_id] -= 1
        if in_use[doc_id] <= 0:
            remove_media(self.settings.media_dir, doc_id)

    # ------------------------------------------------------------------------------------ delete
    def delete(self, paths: Sequence[str | Path], *, tenant: str | None) -> DeleteResult:
        """Remove ``tenant``'s documents at ``paths`` (every tenant's when None): their points,
        manifest rows (so a later ingest indexes them again) and, once no row uses them, their page
        renders and crops. Another tenant's copy of the same file stays. Blocking."""
        out = DeleteResult()
        with self._lock, self.open_manifest() as manifest:
            in_use = Counter(manifest.doc_id_uses())
            for raw in paths:
                removed: int | None = None
                for path in _candidates(raw):
                    owners = self._owners(manifest, path, tenant)
                    if not owners:
                        continue
                    removed = 0
                    for owner in owners:
                        doc_id = manifest.doc_id(path, owner)
                        removed += self.store.delete_file(path, tenant=owner)
                        manifest.forget(path, owner)
                        self._release_media(in_use, doc_id)
                        log.info("deleted %s of tenant %s", path, owner)
                    break
                if removed is None:
                    out.not_found.append(str(raw))
                else:
                    out.deleted[str(raw)] = removed
        return out

    def _owners(self, manifest: Manifest, path: str, tenant: str | None) -> list[str]:
        """Tenants (``tenant`` alone, or all when None) holding ``path``: a manifest row or points."""
        held = set(manifest.tenants(path))
        if tenant is not None:
            if tenant in held or self.store.count(SearchFilter(tenant=tenant, files=[path])):
                return [tenant]
            return []
        return sorted(held | set(self.store.file_tenants(path)))

    # ---------------------------------------------------------------------------------- optimize
    def optimize_due(self) -> bool:
        """Whether the ingest policy (``store.optimize_after``) asks for an index build now."""
        store = self.settings.store
        after = store.optimize_after if isinstance(store, EdgeStoreConfig) else None
        return (after is not None and isinstance(self.store, Optimizable)
                and self.store.unindexed() >= after)

    def optimize(self) -> bool:
        """Build the store's search index now; False when the store has nothing to build."""
        if not isinstance(self.store, Optimizable):
            return False
        return self.store.optimize()
