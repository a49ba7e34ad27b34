"""The two stages the Ray pipeline runs on the cluster, written over the single-machine pieces.

- :func:`parse_block`: a CPU task; parses its files with :func:`ingest.parse.parse_many` (the
  local engine's parser: one worker process, ``ingest.file_timeout_s``, a crash fails one file).
- :class:`EmbedActor`: an actor (GPU or CPU) that loads the embedder once, embeds the items of the
  files of one block together (:class:`~rag.cross_batch.CrossFileBatcher`, batches crossing files),
  builds their points (:func:`rag.indexing.make_points`, deterministic ids) and, for a Qdrant
  server, writes each file itself (``replace_file``: idempotent, so a retried block rewrites the
  same points). For an embedded index the points go back to the driver, which owns the index.

Both run in Ray worker processes: nothing here reads the environment; the settings come as JSON.
"""

from __future__ import annotations

import logging
import time
import zlib
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pyarrow as pa

from ingest.config import IngestConfig
from ingest.parse import parse_many
from ingest.records import FileFailure
from rag.backend_settings import VllmEmbedConfig
from rag.config import Settings
from rag.cross_batch import CrossFileBatcher, FileVectors
from rag.embed.base import Embedder, build_embedder
from rag.embed.cache import CachedEmbedder
from rag.engines.ray_rows import (
    empty_result,
    encode_points,
    infos_of,
    outcome_of,
    outcome_table,
    result_table,
    rows_of,
    summary_of,
)
from rag.errors import MmragError, StoreError
from rag.indexing import make_points, page_vector_rule
from rag.store.base import Store, open_store

log = logging.getLogger(__name__)


def parse_block(block: pa.Table, ingest_json: str, media_dir: str) -> pa.Table:
    """Parse the files of one block (a Ray task): one outcome row per file, in finishing order."""
    cfg = IngestConfig.model_validate_json(ingest_json).model_copy(update={"workers": 1})
    outcomes = []
    t = time.perf_counter()
    for outcome in parse_many(infos_of(block), cfg, Path(media_dir)):
        now = time.perf_counter()
        outcomes.append((outcome, round(now - t, 4)))
        t = now
    return outcome_table(outcomes)


class EmbedActor:
    """Embeds parsed files into points (one embedder per actor); writes them when the store is a
    server. Called by Ray Data with one block of parse outcomes at a time."""

    def __init__(self, settings_json: str, tenant: str, tags: list[str]) -> None:
        settings = _with_own_url(Settings.model_validate_json(settings_json))
        self.settings = settings
        self.tenant, self.tags = tenant, list(tags)
        embedder: Embedder = build_embedder(settings.embed)
        if settings.ray.embed_cache and settings.embed.cache:
            embedder = CachedEmbedder(embedder, settings.index_dir / "embed-cache.sqlite")
        self.embedder = embedder
        self.store: Store | None = None
        if settings.store.backend == "server":  # written from here; an embedded index only by the driver
            self.store = open_store(settings.store)
            _ensure(self.store, embedder)

    def __call__(self, block: pa.Table) -> pa.Table:
        results: list[dict[str, Any]] = []
        batcher = CrossFileBatcher(self.embedder, self.settings.embed.max_batch,
                                   page_vector=page_vector_rule(self.settings.embed))
        ready: list[FileVectors] = []
        parse_s: dict[str, float] = {}
        for row in rows_of(block):
            outcome = outcome_of(row)
            if isinstance(outcome, FileFailure):
                results.append({**empty_result(outcome.path), "failure": row["failure"], "parse_s": row["parse_s"]})
                continue
            parse_s[outcome.document.path] = row["parse_s"]
            ready += batcher.add(outcome)
        t = time.perf_counter()
        ready += batcher.flush()
        embed_s = time.perf_counter() - t
        n_files = max(len(ready), 1)
        for fv in ready:
            row_out = self._result(fv)
            row_out["parse_s"] = parse_s.get(fv.document.path, 0.0)
            row_out["embed_s"] = round(embed_s / n_files, 4)  # the block's embedding, shared out
            results.append(row_out)
        return result_table(results)

    def _result(self, fv: FileVectors) -> dict[str, Any]:
        doc = fv.document
        out = {**empty_result(doc.path), "summary": summary_of(fv), "dim": self.embedder.dim,
               "embedder_id": self.embedder.id}
        try:
            if fv.error is not None:
                raise fv.error
            points = make_points(fv.as_text, [v for v in fv.text_vecs if v is not None], fv.as_image,
                                 [v for v in fv.image_vecs if v is not None], tenant=self.tenant, tags=self.tags,
                                 modified=datetime.fromtimestamp(doc.mtime, UTC), created=doc.created,
                                 text_embedded_as=fv.text_embedded_as)
            t = time.perf_counter()
            if self.store is not None:
                self.store.replace_file(doc.path, points, tenant=self.tenant)
                out["written"] = True
            out["store_s"] = round(time.perf_counter() - t, 4)
        except MmragError as exc:
            log.warning("%s: %s", doc.path, exc)
            return {**out, "error": str(exc), "error_type": type(exc).__name__}
        out["points"], out["vectors"] = encode_points(points, self.embedder.dim, with_vectors=self.store is None)
        return out


def _with_own_url(settings: Settings, actor_id: str | None = None) -> Settings:
    """``settings`` with ``embed.url`` set to this actor's pick of ``ray.embed_urls`` (spread by
    actor id, so the actors of a pool share the servers out)."""
    urls = settings.ray.embed_urls
    if not urls or not isinstance(settings.embed, VllmEmbedConfig):
        return settings  # only the vLLM embedder reads a URL
    if actor_id is None:
        import ray

        actor_id = ray.get_runtime_context().get_actor_id() or ""
    url = urls[zlib.crc32(actor_id.encode()) % len(urls)]
    log.info("embedding actor %s uses %s", actor_id, url)
    return settings.model_copy(update={"embed": settings.embed.model_copy(update={"url": url})})


def _ensure(store: Store, embedder: Embedder) -> None:
    """Create or check the server collection; two actors may race to create it."""
    try:
        store.ensure(embedder.id, embedder.dim)
    except StoreError:
        time.sleep(1.0)  # the other actor's creation is under way: check what it made
        store.ensure(embedder.id, embedder.dim)
