"""What the two ``qdrant-client`` stores share: its local mode (``backend: local``,
:mod:`rag.store.qdrant_local`) and a Qdrant server or cluster (``backend: server``,
:mod:`rag.store.qdrant_server`), with the same collection schema and query shape as :mod:`rag.store.edge`.

The embedder id and dimension are kept in the collection's ``metadata`` (Qdrant >= 1.16 and the
client's local mode). Local mode is exact numpy search with filters evaluated in Python (payload
indexes have no effect there, so none are created); it suits small indexes and congruence tests.
A server gets payload indexes on file, doc_id, page, kind, tags and ``tenant`` (``is_tenant``,
so each tenant's points are co-located), and shard/replica/write-consistency settings at creation.

:meth:`QdrantStore.scroll_points` lists every point for :func:`rag.store.copy.copy_store`.
"""

from __future__ import annotations

import contextlib
import functools
import logging
import threading
from collections.abc import Callable, Iterator, Sequence
from types import TracebackType
from typing import Any, Concatenate, ParamSpec, TypeVar

from qdrant_client import QdrantClient, models

from rag.errors import StoreError
from rag.records import Hit, Point, QueryPlan, SearchFilter, StoreStats
from rag.store.base import DENSE, SPARSE
from rag.store.common import (
    REF_FIELDS,
    RRF_K,
    TENANT_FIELD,
    FloatRange,
    PointRef,
    StoreMeta,
    Terms,
    active_branches,
    check_one_file,
    check_points,
    chunk_terms,
    file_terms,
    filter_terms,
    fusion_weights,
    hit_from_payload,
    point_from_stored,
    point_payload,
    ref_from_payload,
    resolve_file_globs,
)

log = logging.getLogger(__name__)

UPSERT_BATCH = 256
SCROLL_PAGE = 512
META_KEY = "mmrag"
"""Key of our entry in the collection metadata."""


P = ParamSpec("P")
R = TypeVar("R")


def _serialised(method: Callable[Concatenate[QdrantStore, P], R]) -> Callable[Concatenate[QdrantStore, P], R]:
    """Run the method under the store's lock: local mode is not safe for concurrent calls."""

    @functools.wraps(method)
    def wrapper(self: QdrantStore, /, *args: P.args, **kwargs: P.kwargs) -> R:
        with self._lock:
            return method(self, *args, **kwargs)

    return wrapper


def _filter(terms: Terms | None) -> models.Filter | None:
    if not terms:
        return None
    conditions: list[models.Condition] = []
    for key, value in terms:
        if isinstance(value, FloatRange):
            conditions.append(models.FieldCondition(key=key, range=models.Range(gte=value.gte, lt=value.lt)))
            continue
        match: models.MatchAny | models.MatchValue = (
            models.MatchAny(any=value) if isinstance(value, list) else models.MatchValue(value=value))
        conditions.append(models.FieldCondition(key=key, match=match))
    return models.Filter(must=conditions)


def index_schema(field: str, kind: str) -> models.PayloadSchemaType | models.KeywordIndexParams:
    if field == TENANT_FIELD:
        return models.KeywordIndexParams(type=models.KeywordIndexType.KEYWORD, is_tenant=True)
    return {"integer": models.PayloadSchemaType.INTEGER,
            "float": models.PayloadSchemaType.FLOAT}.get(kind, models.PayloadSchemaType.KEYWORD)


class QdrantStore:
    """A :class:`~rag.store.base.Store` on a qdrant-client collection: the part local mode
    (:class:`QdrantLocalStore`) and a server (:class:`QdrantServerStore`) share."""

    server = False
    """Whether the collection lives on a Qdrant server (payload indexes, cluster settings, HNSW ef)."""

    def __init__(self, client: QdrantClient, collection: str, *, where: str = "") -> None:
        """Wrap an open client."""
        self.client = client
        self.collection = collection
        self.where = where or f"collection {collection!r}"
        self._meta: StoreMeta | None = None
        # A server orders concurrent calls itself; local mode's numpy engine is not thread-safe.
        self._lock: contextlib.AbstractContextManager[Any] = (
            contextlib.nullcontext() if self.server else threading.RLock())

    def _create_options(self) -> dict[str, Any]:
        """Extra ``create_collection`` arguments (a server's shards and replicas)."""
        return {}

    def _after_create(self) -> None:
        """Called once the collection exists (a server builds its payload indexes here)."""

    def _search_params(self, using: str, limit: int) -> models.SearchParams | None:
        """HNSW parameters of one prefetch branch (local mode searches exactly: none)."""
        return None

    # -- lifecycle ---------------------------------------------------------------------------

    def _stored_meta(self) -> StoreMeta | None:
        if not self.client.collection_exists(self.collection):
            return None
        info = self.client.get_collection(self.collection)
        raw = (info.config.metadata or {}).get(META_KEY)
        if raw is None:
            raise StoreError(f"{self.where} exists but carries no {META_KEY!r} metadata (made by another "
                             "program, or a Qdrant server older than 1.16); use another collection")
        return StoreMeta.model_validate(raw)

    @_serialised
    def ensure(self, embedder_id: str, dim: int) -> None:
        """Create the collection for this embedder, or verify the stored embedder id and dim."""
        if dim < 1:
            raise StoreError(f"dim must be >= 1, got {dim}")
        stored = self._stored_meta()
        if stored is not None:
            stored.check(embedder_id, dim, self.where)
            self._meta = stored
            return
        meta = StoreMeta.new(embedder_id, dim)
        try:
            self.client.create_collection(
                self.collection,
                vectors_config={DENSE: models.VectorParams(size=dim, distance=models.Distance.COSINE)},
                sparse_vectors_config={SPARSE: models.SparseVectorParams(modifier=models.Modifier.IDF)},
                metadata={META_KEY: meta.model_dump()},
                **self._create_options(),
            )
        except Exception as exc:
            raise StoreError(f"cannot create {self.where}: {exc}") from exc
        self._after_create()
        self._meta = meta
        log.info("created %s for embedder %s (dim %d)", self.where, embedder_id, dim)

    def close(self) -> None:
        """Release the client (and local mode's file lock)."""
        self.client.close()

    def __enter__(self) -> QdrantStore:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()

    def _dim(self) -> int:
        if self._meta is None:
            self._meta = self._stored_meta()
        if self._meta is None:
            raise StoreError(f"{self.where} does not exist yet: call ensure(embedder_id, dim) first")
        return self._meta.dim

    def _exists(self) -> bool:
        return self._meta is not None or self.client.collection_exists(self.collection)

    # -- writes ------------------------------------------------------------------------------

    @_serialised
    def upsert(self, points: Sequence[Point]) -> None:
        """Write points (same ids overwrite), waiting for the server to apply them."""
        if not points:
            return
        check_points(points, self._dim())
        for start in range(0, len(points), UPSERT_BATCH):
            batch = [_point_struct(p) for p in points[start:start + UPSERT_BATCH]]
            self.client.upsert(self.collection, points=batch, wait=True)

    @_serialised
    def delete_file(self, file: str, tenant: str | None = None) -> int:
        """Remove every point of ``file`` (exact path; of ``tenant`` only, when given); returns how
        many were removed."""
        if not self._exists():
            return 0
        flt = _filter(file_terms(file, tenant))
        n = self.client.count(self.collection, count_filter=flt, exact=True).count
        if n:
            self.client.delete(self.collection, points_selector=models.FilterSelector(filter=flt), wait=True)
        return n

    @_serialised
    def replace_file(self, file: str, points: Sequence[Point], tenant: str | None = None) -> int:
        """Make ``points`` the whole of ``file``: write them, then remove the file's other points;
        returns how many were removed. Atomic for readers of this object in local mode (one lock
        serialises every call). On a server other clients can see both versions for the moment
        between the two calls, never neither: new points are written first."""
        check_one_file(file, points, tenant)
        self.upsert(points)
        keep = {p.id for p in points}
        stale = [i for i in self.file_ids(file, tenant) if i not in keep]
        for start in range(0, len(stale), UPSERT_BATCH):
            self.client.delete(self.collection, wait=True,
                               points_selector=models.PointIdsList(points=list(stale[start:start + UPSERT_BATCH])))
        return len(stale)

    # -- reads -------------------------------------------------------------------------------

    @_serialised
    def query(self, plan: QueryPlan) -> list[Hit]:
        """Run the plan in one ``query_points`` call: prefetch branches fused by RRF (a single
        branch is queried directly and keeps its raw scores)."""
        return [hit_from_payload(p.id, p.score, p.payload) for p in self._points(plan, True)]

    @_serialised
    def query_refs(self, plans: Sequence[QueryPlan]) -> list[list[PointRef]]:
        """Each plan as :meth:`query` runs it (one call each), reading only the flat ``file``,
        ``page`` and ``kind`` payload fields of each hit."""
        return [[ref_from_payload(p.id, p.score, p.payload) for p in self._points(plan, REF_FIELDS)]
                for plan in plans]

    @_serialised
    def hits_by_id(self, ids: Sequence[str]) -> list[Hit]:
        """The points with these ids (score 0), in the order given; ids not held are left out."""
        if not ids or not self._exists():
            return []
        by_id = {str(r.id): r for r in self.client.retrieve(self.collection, list(ids), with_payload=True)}
        return [hit_from_payload(i, 0.0, by_id[i].payload) for i in ids if i in by_id]

    def _points(self, plan: QueryPlan, with_payload: bool | list[str]) -> list[models.ScoredPoint]:
        if not self._exists():
            return []
        flt = resolve_file_globs(plan.filter, self.files)
        if flt is None:
            return []
        plan = plan.model_copy(update={"filter": flt})
        active = active_branches(plan, self._dim())
        branches = [self._prefetch(plan, b.using, b.limit, terms) for b, terms in active]
        if not branches:
            return []
        if len(branches) == 1:
            (only,) = branches
            response = self.client.query_points(
                self.collection, query=only.query, using=only.using, query_filter=only.filter,
                search_params=only.params, limit=min(plan.limit, only.limit or plan.limit),
                with_payload=with_payload)
        else:
            weights = fusion_weights(active)
            fusion: models.FusionQuery | models.RrfQuery = (
                models.FusionQuery(fusion=models.Fusion.RRF) if weights is None
                else models.RrfQuery(rrf=models.Rrf(k=RRF_K, weights=weights)))
            response = self.client.query_points(
                self.collection, prefetch=branches, query=fusion, limit=plan.limit, with_payload=with_payload)
        return response.points

    def _prefetch(self, plan: QueryPlan, using: str, limit: int, terms: Terms) -> models.Prefetch:
        params = self._search_params(using, limit)
        query: list[float] | models.SparseVector
        if using == DENSE:
            assert plan.dense is not None
            query = plan.dense
        else:
            assert plan.sparse is not None
            query = models.SparseVector(indices=plan.sparse.indices, values=plan.sparse.values)
        return models.Prefetch(query=query, using=using, filter=_filter(terms), limit=limit, params=params)

    @_serialised
    def count(self, flt: SearchFilter | None = None) -> int:
        """Points matching ``flt`` (all points without one), counted exactly."""
        if not self._exists():
            return 0
        if flt is not None and (flt := resolve_file_globs(flt, self.files)) is None:
            return 0
        terms = filter_terms(flt) if flt is not None else None
        return self.client.count(self.collection, count_filter=_filter(terms), exact=True).count

    @_serialised
    def files(self) -> list[str]:
        """Every distinct source file held, sorted."""
        if not self._exists():
            return []
        points = self.client.count(self.collection, exact=True).count
        facet = self.client.facet(self.collection, key="file", limit=max(points, 1), exact=True)
        return sorted(str(h.value) for h in facet.hits)

    @_serialised
    def file_ids(self, file: str, tenant: str | None = None) -> list[str]:
        """Ids of the points of one file (of ``tenant`` only, when given)."""
        if not self._exists():
            return []
        return [str(r.id) for r in self._scroll(_filter(file_terms(file, tenant)), full=False)]

    @_serialised
    def file_tenants(self, file: str) -> list[str]:
        """The tenants holding points of ``file``, sorted."""
        if not self._exists():
            return []
        flt = _filter(file_terms(file))
        n = self.client.count(self.collection, count_filter=flt, exact=True).count
        if not n:
            return []
        facet = self.client.facet(self.collection, key=TENANT_FIELD, facet_filter=flt, limit=n, exact=True)
        return sorted(str(h.value) for h in facet.hits)

    @_serialised
    def chunks_at(self, file: str, orders: Sequence[int], tenant: str | None = None) -> list[Hit]:
        """The text chunks of ``file`` at these reading-order positions (score 0), in order."""
        if not orders or not self._exists():
            return []
        terms = chunk_terms(file, orders, tenant)
        records = self.client.scroll(self.collection, scroll_filter=_filter(terms), limit=SCROLL_PAGE,
                                     with_payload=True, with_vectors=False)[0]
        hits = [hit_from_payload(r.id, 0.0, r.payload) for r in records]
        return sorted(hits, key=lambda h: h.item.order or 0)

    def _scroll(self, flt: models.Filter | None, full: bool,
                batch: int = SCROLL_PAGE) -> Iterator[models.Record]:
        offset: Any = None
        while True:
            records, offset = self.client.scroll(self.collection, scroll_filter=flt, limit=batch,
                                                 offset=offset, with_payload=full, with_vectors=full)
            yield from records
            if offset is None:
                return

    def scroll_points(self, batch: int = SCROLL_PAGE) -> Iterator[list[Point]]:
        """Every stored point with its vectors, in batches (to copy the index elsewhere)."""
        self._dim()
        out: list[Point] = []
        for record in self._scroll(None, full=True, batch=batch):
            out.append(_point_from_record(record))
            if len(out) >= batch:
                yield out
                out = []
        if out:
            yield out

    @_serialised
    def stats(self) -> StoreStats:
        """Points, distinct files, points per kind, and the embedder the index was built with."""
        if not self._exists():
            return StoreStats(points=0, files=0, items={}, embedder_id="", dim=0)
        self._dim()
        assert self._meta is not None
        points = self.count()
        limit = max(points, 1)
        files = self.client.facet(self.collection, key="file", limit=limit, exact=True)
        kinds = self.client.facet(self.collection, key="kind", limit=limit, exact=True)
        return StoreStats(points=points, files=len(files.hits),
                          items={str(h.value): h.count for h in kinds.hits},
                          embedder_id=self._meta.embedder_id, dim=self._meta.dim)

    @property
    def embedder(self) -> StoreMeta | None:
        """The stored identity of the collection, None before :meth:`ensure` created it."""
        if self._meta is None:
            with self._lock:
                self._meta = self._stored_meta()
        return self._meta


def _point_struct(p: Point) -> models.PointStruct:
    vector: dict[str, Any] = {DENSE: p.vector}
    if p.sparse.indices:  # as on Edge: a point without keywords is not in the IDF corpus
        vector[SPARSE] = models.SparseVector(indices=p.sparse.indices, values=p.sparse.values)
    return models.PointStruct(id=p.id, vector=vector, payload=point_payload(p))


def _point_from_record(r: models.Record) -> Point:
    vectors = r.vector if isinstance(r.vector, dict) else {}
    dense, sparse = vectors.get(DENSE), vectors.get(SPARSE)
    return point_from_stored(r.id, r.payload, dense if isinstance(dense, list) else None,  # type: ignore[arg-type]
                             (sparse.indices, sparse.values) if isinstance(sparse, models.SparseVector) else None)
