"""The embedded default: Qdrant Edge, Qdrant's engine in-process.

Why Edge and not qdrant-client's local mode (measured on this machine, notes/qdrant.md): local mode
is exact numpy search with filters evaluated in Python, loads everything into RAM on open, and at
100k points of dim 384 answers in ~170 ms (1 s filtered) and takes 16 s to reopen. Edge runs the
server's segment engine (HNSW, real payload indexes, WAL + mmap): ~1-2 ms per query, 0.2 ms
filtered, 0.2 s reopen, 25k upserts/s. Its query API takes the same prefetch + RRF plan as a server,
so retrieval behaves the same embedded and on a cluster.

Layout under ``<store.path>/edge/<collection>/``: ``shard/`` (the Edge shard: WAL, segments,
its own config) and ``store.json`` (the embedder id and dimension the index was built with,
written atomically once the shard and its payload indexes exist).

HNSW: Edge builds the graph only in :meth:`EdgeStore.optimize`, which blocks: 3.5 s at 10k points
and 84 s at 100k (dim 384) on an idle 2-core machine, 14 s and 620 s on a loaded one. Until then
new points are searched exactly, which stays usable up to ~100k points (a hybrid query: 3 ms at
10k, 90 ms at 100k loaded; 15-20 ms idle). The build holds the GIL: nothing else in the process
runs meanwhile (a probe's search thread got no turn during a 150 s build of 30k points). So the
policy is: an ingest run calls :meth:`EdgeStore.optimize` once at its end when
``store.optimize_after`` points (default 20,000) wait (:meth:`unindexed`, counted across runs);
:meth:`upsert` optimises by itself only as a safety net for callers that never do, once
``auto_optimize_at`` points (default 100,000) arrived since the last optimisation.
"""

from __future__ import annotations

import logging
import os
import shutil
import time
import uuid
from collections.abc import Iterator, Sequence
from pathlib import Path
from types import TracebackType
from typing import Any

import qdrant_edge as qe

from ingest.records import Item
from rag.backend_settings import EdgeStoreConfig
from rag.errors import StoreError
from rag.records import Hit, Point, QueryPlan, SearchFilter, StoreStats
from rag.store.base import DENSE, SPARSE
from rag.store.common import (
    INDEX_FIELDS,
    RRF_K,
    TENANT_FIELD,
    PointRef,
    StoreMeta,
    active_branches,
    check_one_file,
    check_points,
    chunk_terms,
    file_terms,
    filter_terms,
    fusion_weights,
    hit_from_payload,
    read_meta,
    resolve_file_globs,
    write_meta,
)
from rag.store.edge_convert import _edge_filter, _edge_point, _edge_prefetch, _index_schema, _point_from_record
from rag.store.rwlock import ReadWriteLock

log = logging.getLogger(__name__)

UPSERT_BATCH = 512
"""Points per Edge update operation (one WAL record each)."""
Found = tuple[str, float, Item, str]
"""A hit before it is a :class:`Hit`: id, score, item, embedded_as."""
ITEM_CACHE = 20_000
"""Items kept between writes (:meth:`EdgeStore._lookup`): ~72 MB at the 3.6 KB an item measured on
the dev index (docs/benchmarks.md, lat14); emptied when full."""
SCROLL_PAGE = 1024


class EdgeStore:
    """A :class:`~rag.store.base.Store` on a Qdrant Edge shard in this process.

    One process at a time may open an index (Edge locks its WAL); a second gets a StoreError.
    Writes are durable when :meth:`upsert` returns (write-ahead log). Reads share a
    readers-writer lock and writes hold it alone, so :meth:`replace_file` is atomic for every
    reader (an Edge index has no reader outside this object).
    """

    def __init__(self, root: str | Path, *, auto_optimize_at: int | None = 100_000) -> None:
        """Open (or prepare) the index at ``root``; the shard is created by :meth:`ensure`.

        ``auto_optimize_at``: build HNSW inside :meth:`upsert` once this many points arrived
        since the last optimisation; None never does.
        """
        if auto_optimize_at is not None and auto_optimize_at < 1:
            raise StoreError(f"auto_optimize_at must be >= 1 or None, got {auto_optimize_at}")
        self.root = Path(root).expanduser()
        self.shard_dir = self.root / "shard"
        self.meta_path = self.root / "store.json"
        self.auto_optimize_at = auto_optimize_at
        self._lock = ReadWriteLock()
        self._shard: qe.EdgeShard | None = None
        self._items: dict[str, tuple[Item, str]] = {}
        """Point id -> (item, embedded_as) of points read since the last write: see :meth:`_lookup`."""
        self.pending_path = self.root / "unindexed"
        self._meta = read_meta(self.meta_path)
        self._pending = self._read_pending()
        if self._meta is not None:
            self._shard = self._open(None)
            self._sweep_optimizer_leftovers()

    def _sweep_optimizer_leftovers(self) -> None:
        """Remove ``temp_segments/segment_builder_*`` left by an optimisation that was killed
        (~90 MB each). Only once the shard is open: its lock proves no other process is
        optimising it, and this one optimises only inside :meth:`optimize`."""
        for builder in [*self.shard_dir.glob("temp_segments/segment_builder_*"),
                        *self.shard_dir.glob("*/temp_segments/segment_builder_*")]:
            log.info("removing %s, left by an interrupted optimisation", builder)
            if builder.is_dir():
                shutil.rmtree(builder, ignore_errors=True)
            else:
                builder.unlink(missing_ok=True)

    @classmethod
    def from_config(cls, cfg: EdgeStoreConfig) -> EdgeStore:
        """The index of ``cfg.collection`` under ``cfg.path/edge/``."""
        return cls(Path(cfg.path).expanduser() / "edge" / cfg.collection)

    # -- lifecycle ---------------------------------------------------------------------------

    def _config(self, dim: int) -> qe.EdgeConfig:
        return qe.EdgeConfig(
            vectors={DENSE: qe.EdgeVectorParams(size=dim, distance=qe.Distance.Cosine)},
            sparse_vectors={SPARSE: qe.EdgeSparseVectorParams(modifier=qe.Modifier.Idf)},
            # every hit's payload (the item) is read on the query path: keep it in the page cache
            payload_memory=qe.Memory.Cached,
        )

    def _open(self, config: qe.EdgeConfig | None) -> qe.EdgeShard:
        if not (self.shard_dir / "edge_config.json").exists() and not (self.shard_dir / "segments").exists():
            raise StoreError(f"{self.meta_path} exists but the shard {self.shard_dir} is missing; "
                             "delete the folder and re-ingest")
        try:
            return qe.EdgeShard.load(str(self.shard_dir), config)
        except Exception as exc:  # the bindings raise plain Exception
            if "WouldBlock" in str(exc):
                raise StoreError(f"index {self.shard_dir} is already open (in this or another process; "
                                 "Qdrant Edge allows one at a time); close it, or use a server") from exc
            raise StoreError(f"cannot open index {self.shard_dir}: {exc}") from exc

    def ensure(self, embedder_id: str, dim: int) -> None:
        """Create the shard for this embedder, or verify the stored embedder id and dim."""
        if dim < 1:
            raise StoreError(f"dim must be >= 1, got {dim}")
        with self._lock.write():
            if self._meta is not None:
                self._meta.check(embedder_id, dim, f"index {self.root}")
                return
            config = self._config(dim)
            if self.shard_dir.exists() and any(self.shard_dir.iterdir()):
                # A creation interrupted before store.json was written: reuse it only if empty.
                shard = self._open(config)
                held = shard.count(qe.CountRequest(exact=True))
                if held:
                    shard.close()
                    raise StoreError(
                        f"index {self.shard_dir} holds {held} points but no {self.meta_path.name}; its "
                        "embedder is unknown, so it cannot be verified: delete it and re-ingest")
            else:
                self.root.mkdir(parents=True, exist_ok=True)
                try:
                    shard = qe.EdgeShard.create(str(self.shard_dir), config)
                except Exception as exc:
                    raise StoreError(f"cannot create index {self.shard_dir}: {exc}") from exc
            for field, kind in INDEX_FIELDS.items():
                shard.update(qe.UpdateOperation.create_field_index(field, _index_schema(field, kind)))
            shard.flush()
            meta = StoreMeta.new(embedder_id, dim)
            write_meta(self.meta_path, meta)
            self._shard, self._meta = shard, meta
            log.info("created index %s for embedder %s (dim %d)", self.root, embedder_id, dim)

    def close(self) -> None:
        """Flush and release the shard (and its WAL lock). Safe to call twice."""
        with self._lock.write():
            self._items.clear()
            if self._shard is not None:
                self._shard.flush()
                self._shard.close()
                self._shard = None

    def __enter__(self) -> EdgeStore:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()

    def _require(self) -> qe.EdgeShard:
        if self._shard is None:
            if self._meta is not None:
                raise StoreError(f"index {self.root} is closed")
            raise StoreError(f"index {self.root} does not exist yet: call ensure(embedder_id, dim) first")
        return self._shard

    # -- writes ------------------------------------------------------------------------------

    def upsert(self, points: Sequence[Point]) -> None:
        """Write points (same ids overwrite); durable on return. May run :meth:`optimize`."""
        if not points:
            return
        shard = self._require()
        assert self._meta is not None
        check_points(points, self._meta.dim)
        with self._lock.write():
            self._items.clear()
            for start in range(0, len(points), UPSERT_BATCH):
                batch = [_edge_point(p) for p in points[start:start + UPSERT_BATCH]]
                shard.update(qe.UpdateOperation.upsert_points(batch))
            self._set_pending(self._pending + len(points))
            if self.auto_optimize_at is not None and self._pending >= self.auto_optimize_at:
                self.optimize()

    def delete_file(self, file: str, tenant: str | None = None) -> int:
        """Remove every point of ``file`` (exact path; of ``tenant`` only, when given); returns how
        many were removed."""
        if self._shard is None:
            return 0
        flt = _edge_filter(file_terms(file, tenant))
        with self._lock.write():
            self._items.clear()
            n = self._shard.count(qe.CountRequest(exact=True, filter=flt))
            if n:
                self._shard.update(qe.UpdateOperation.delete_points_by_filter(flt))  # type: ignore[arg-type]
        return n

    def replace_file(self, file: str, points: Sequence[Point], tenant: str | None = None) -> int:
        """Make ``points`` the whole of ``file`` in one step for readers: the new points are
        written, then the file's other points removed, under the write lock. Returns how many old
        points were removed. A crash in between leaves both versions; the caller's manifest still
        names the old one, so the rerun replaces it again."""
        shard = self._require()
        keep = {p.id for p in points}
        check_one_file(file, points, tenant)
        with self._lock.write():
            self.upsert(points)
            stale: list[int | uuid.UUID | str] = [i for i in self.file_ids(file, tenant) if i not in keep]
            for start in range(0, len(stale), UPSERT_BATCH):
                shard.update(qe.UpdateOperation.delete_points(stale[start:start + UPSERT_BATCH]))
            self._items.clear()
        return len(stale)

    def optimize(self) -> bool:
        """Build HNSW and merge segments now (blocking). True if anything was optimised."""
        shard = self._require()
        with self._lock.write():
            log.info("optimising index %s (%d points written since the last time): building HNSW, "
                     "this blocks", self.root, self._pending)
            t0 = time.perf_counter()
            changed = shard.optimize()
            self._set_pending(0)
        log.info("optimised index %s in %.1f s (changed: %s)", self.root, time.perf_counter() - t0, changed)
        return changed

    # -- reads -------------------------------------------------------------------------------

    def query(self, plan: QueryPlan) -> list[Hit]:
        """Run the plan in one engine call: each prefetch with the common filter and its own
        kinds, fused by RRF (a single branch is queried directly and keeps its raw scores)."""
        return [Hit(id=i, score=score, item=item, embedded_as=how) for i, score, item, how in self._query(plan)]

    def query_refs(self, plans: Sequence[QueryPlan]) -> list[list[PointRef]]:
        """Each plan as :meth:`query` runs it, one engine call each. Not ``query_batch``: it
        saved nothing measurable on two pool queries (1.74 vs 1.77 ms) and orders tied RRF
        scores differently from ``query``, so its hits would not be :meth:`query`'s."""
        return [[PointRef(i, score, item.file, item.page, item.kind) for i, score, item, _ in self._query(plan)]
                for plan in plans]

    def hits_by_id(self, ids: Sequence[str]) -> list[Hit]:
        """The points with these ids (score 0), in the order given; ids not held are left out."""
        if self._shard is None or not ids:
            return []
        with self._lock.read():
            found = self._lookup([(i, 0.0) for i in ids])
        return [Hit(id=i, score=score, item=item, embedded_as=how) for i, score, item, how in found]

    def _query(self, plan: QueryPlan) -> list[Found]:
        request = self._request(plan)
        if request is None or self._shard is None:
            return []
        try:
            with self._lock.read():
                found = self._shard.query(request)
                return self._lookup([(p.id, p.score) for p in found])
        except StoreError:
            raise
        except Exception as exc:
            raise StoreError(f"query on index {self.root} failed: {exc}") from exc

    def _lookup(self, scored: Sequence[tuple[object, float]]) -> list[Found]:
        """These (id, score) pairs with their items, from :attr:`_items`, the others read in one
        ``retrieve``; ids not held are left out. Called under the read lock.

        Why (issue 14): reading a hit's payload costs the engine ~14 us a point whatever fields
        are asked for, and validating it into an ``Item`` as much again; a search reads ~400
        (its branches and the reranker's pool lookups), mostly the same points as the search
        before it. So queries run without payloads and each point's item is validated once, on
        first read, and kept until the next write: every write clears :attr:`_items` under the
        write lock, and a read fills it only under the read lock, so no item outlives the point
        it was read from (Edge allows no other writer: it locks its folder)."""
        assert self._shard is not None
        ids = [str(i) for i, _ in scored]
        # a local view: another reader may empty the shared dict (when full) in the meantime
        known = {i: self._items.get(i) for i in ids}
        missing = [i for i, v in known.items() if v is None]
        if missing:
            if len(self._items) + len(missing) > ITEM_CACHE:
                self._items.clear()
            for r in self._shard.retrieve(missing, with_payload=True, with_vector=False):  # type: ignore[arg-type]
                hit = hit_from_payload(r.id, 0.0, r.payload)
                known[hit.id] = self._items[hit.id] = (hit.item, hit.embedded_as)
        out: list[Found] = []
        for i, (_, score) in zip(ids, scored, strict=True):
            got = known.get(i)
            if got is not None:
                out.append((i, float(score), got[0], got[1]))
        return out

    def _request(self, plan: QueryPlan) -> qe.QueryRequest | None:
        """The engine request of ``plan`` (file globs resolved, dead branches dropped), without
        payloads (:meth:`_lookup`); None when it can match nothing."""
        if self._shard is None:
            return None
        assert self._meta is not None
        flt = resolve_file_globs(plan.filter, self.files)
        if flt is None:
            return None
        plan = plan.model_copy(update={"filter": flt})
        branches = active_branches(plan, self._meta.dim)
        if not branches:
            return None
        edge_branches = [_edge_prefetch(plan, b, terms) for b, terms in branches]
        if len(edge_branches) == 1:
            (only,) = edge_branches
            return qe.QueryRequest(limit=min(plan.limit, only.limit), query=only.query,
                                   filter=only.filter, params=only.params, with_payload=False)
        fusion = qe.Fusion.Rrf(k=RRF_K, weights=fusion_weights(branches))
        return qe.QueryRequest(limit=plan.limit, query=fusion,  # type: ignore[arg-type]
                               prefetches=edge_branches, with_payload=False)

    def count(self, flt: SearchFilter | None = None) -> int:
        """Points matching ``flt`` (all points without one), counted exactly."""
        if self._shard is None:
            return 0
        if flt is not None and (flt := resolve_file_globs(flt, self.files)) is None:
            return 0
        terms = filter_terms(flt) if flt is not None else None
        with self._lock.read():
            return self._shard.count(qe.CountRequest(exact=True, filter=_edge_filter(terms)))

    def files(self) -> list[str]:
        """Every distinct source file held, sorted."""
        if self._shard is None:
            return []
        with self._lock.read():
            points = self._shard.count(qe.CountRequest(exact=True))
            facet = self._shard.facet(qe.FacetRequest("file", limit=max(points, 1), exact=True))
        return sorted(str(h.value) for h in facet.hits)

    def file_ids(self, file: str, tenant: str | None = None) -> list[str]:
        """Ids of the points of one file (of ``tenant`` only, when given)."""
        with self._lock.read():
            return [str(r.id) for r in self._scroll(_edge_filter(file_terms(file, tenant)), with_payload=False)]

    def file_tenants(self, file: str) -> list[str]:
        """The tenants holding points of ``file``, sorted."""
        if self._shard is None:
            return []
        flt = _edge_filter(file_terms(file))
        with self._lock.read():
            n = self._shard.count(qe.CountRequest(exact=True, filter=flt))
            if not n:
                return []
            facet = self._shard.facet(qe.FacetRequest(TENANT_FIELD, limit=n, exact=True, filter=flt))
        return sorted(str(h.value) for h in facet.hits)

    def chunks_at(self, file: str, orders: Sequence[int], tenant: str | None = None) -> list[Hit]:
        """The text chunks of ``file`` at these reading-order positions (score 0), in order."""
        if self._shard is None or not orders:
            return []
        terms = chunk_terms(file, orders, tenant)
        with self._lock.read():
            hits = [hit_from_payload(r.id, 0.0, r.payload) for r in self._scroll(_edge_filter(terms), True)]
        return sorted(hits, key=lambda h: h.item.order or 0)

    def unindexed(self) -> int:
        """Points written since the last :meth:`optimize` (kept across opens). Edge builds HNSW
        only for segments past its indexing threshold; smaller ones stay exact (and fast)."""
        return self._pending

    def _read_pending(self) -> int:
        try:
            return max(0, int(self.pending_path.read_text(encoding="ascii")))
        except (OSError, ValueError):  # none yet (or an index older than the file): nothing known
            return 0

    def _set_pending(self, n: int) -> None:
        # Kept on disk so the policy sees the points of earlier runs; a lost update only delays a build.
        self._pending = n
        tmp = self.pending_path.with_suffix(".tmp")
        tmp.write_text(str(n), encoding="ascii")
        os.replace(tmp, self.pending_path)

    def _scroll(self, flt: qe.Filter | None, with_payload: bool | list[str]) -> Iterator[qe.Record]:
        if self._shard is None:
            return
        offset: Any = None
        while True:
            records, offset = self._shard.scroll(qe.ScrollRequest(
                offset=offset, limit=SCROLL_PAGE, filter=flt, with_payload=with_payload, with_vector=False))
            yield from records
            if offset is None:
                return

    def scroll_points(self, batch: int = SCROLL_PAGE) -> Iterator[list[Point]]:
        """Every stored point with its vectors, in batches (to copy the index elsewhere)."""
        shard = self._require()
        offset: Any = None
        while True:
            records, offset = shard.scroll(qe.ScrollRequest(
                offset=offset, limit=batch, with_payload=True, with_vector=True))
            yield [_point_from_record(r) for r in records]
            if offset is None:
                return

    def stats(self) -> StoreStats:
        """Points, distinct files, points per kind, and the embedder the index was built with."""
        if self._shard is None or self._meta is None:
            return StoreStats(points=0, files=0, items={}, embedder_id="", dim=0)
        points = self.count()
        limit = max(points, 1)
        with self._lock.read():
            files = self._shard.facet(qe.FacetRequest("file", limit=limit, exact=True))
            kinds = self._shard.facet(qe.FacetRequest("kind", limit=limit, exact=True))
        return StoreStats(points=points, files=len(files.hits),
                          items={str(h.value): h.count for h in kinds.hits},
                          embedder_id=self._meta.embedder_id, dim=self._meta.dim)

    @property
    def embedder(self) -> StoreMeta | None:
        """The stored identity of the index, None before :meth:`ensure`."""
        return self._meta
