"""The Store protocol: one small surface that the embedded engines and a Qdrant server share."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Protocol, runtime_checkable

from rag.backend_settings import EdgeStoreConfig, ServerStoreConfig
from rag.config import StoreConfig
from rag.records import Hit, Point, QueryPlan, SearchFilter, StoreStats
from rag.registry import Registry
from rag.store.common import PointRef, StoreMeta

DENSE = "dense"
SPARSE = "sparse"


@runtime_checkable
class Store(Protocol):
    """A Qdrant collection with a named dense vector ``dense`` (cosine) and a named sparse vector
    ``sparse`` (IDF modifier), payload indexes on file, doc_id, page, kind, tenant and tags."""

    def ensure(self, embedder_id: str, dim: int) -> None:
        """Create the collection for this embedder, or verify that the existing one was made by the
        same embedder id and dimension; raise StoreError naming both when it was not."""
        ...

    def upsert(self, points: Sequence[Point]) -> None:
        """Write points durably (idempotent: same ids overwrite)."""
        ...

    def delete_file(self, file: str, tenant: str | None = None) -> int:
        """Remove every point of one source file (of ``tenant`` only, when given); returns how many
        were removed."""
        ...

    def replace_file(self, file: str, points: Sequence[Point], tenant: str | None = None) -> int:
        """Make ``points`` the whole content of ``file`` (write them, then remove its other points;
        with ``tenant``, only that tenant's: another tenant's copy of the file stays); returns how
        many old points were removed. Readers of this store never see the file missing or
        half-replaced (see each backend for what other processes can see)."""
        ...

    def chunks_at(self, file: str, orders: Sequence[int], tenant: str | None = None) -> list[Hit]:
        """Text chunks of ``file`` at these reading-order positions (``Item.order``), in order."""
        ...

    def query(self, plan: QueryPlan) -> list[Hit]:
        """Run a whole plan (prefetch branches fused by RRF, weighted by each branch's ``weight``)
        in one engine call; ``plan.filter.file_globs`` are resolved against :meth:`files` first."""
        ...

    def count(self, flt: SearchFilter | None = None) -> int: ...

    def file_ids(self, file: str, tenant: str | None = None) -> list[str]:
        """Ids of the points of one file (of ``tenant`` only, when given)."""
        ...

    def file_tenants(self, file: str) -> list[str]:
        """The tenants holding points of ``file``, sorted."""
        ...

    def files(self) -> list[str]:
        """Every distinct source file held (absolute paths, sorted); resolves ``file_globs``."""
        ...

    def scroll_points(self, batch: int = 512) -> Iterator[list[Point]]:
        """Every stored point with its dense and sparse vectors and payload, ``batch`` at a time
        (one page of the engine's scroll each); StoreError when the index was never created. How an
        index is copied elsewhere (:mod:`rag.store.copy`)."""
        ...

    @property
    def embedder(self) -> StoreMeta | None:
        """The stored identity of the index (embedder id, dim, keyword tokenizer), None before
        :meth:`ensure` created it."""
        ...

    def stats(self) -> StoreStats: ...

    def close(self) -> None: ...


@runtime_checkable
class Optimizable(Protocol):
    """A store that builds its search index on request (Qdrant Edge) rather than by itself."""

    def unindexed(self) -> int:
        """Points written since the last index build."""
        ...

    def optimize(self) -> bool:
        """Build the index now (blocking); True if anything changed."""
        ...


@runtime_checkable
class RefQueries(Protocol):
    """A store that also runs plans returning only where each hit is (no items), and reads
    points by id: the ``features`` reranker's pool lookups (:mod:`rag.rerank`). Every
    backend here implements it; a store without it is searched through :meth:`Store.query`."""

    def query_refs(self, plans: Sequence[QueryPlan]) -> list[list[PointRef]]:
        """For each plan, what :meth:`Store.query` returns for it (same points, order and scores)
        as :class:`~rag.store.common.PointRef` s."""
        ...

    def hits_by_id(self, ids: Sequence[str]) -> list[Hit]:
        """The points with these ids as hits of score 0, in the order given; ids not held are
        left out. No tenant filter: pass only ids a tenant-filtered :meth:`query_refs` returned."""
        ...


STORES: Registry[Store] = Registry("store")
STORES.register("edge", "rag.store.edge:EdgeStore.from_config", config=EdgeStoreConfig)
STORES.register("local", "rag.store.qdrant_local:QdrantLocalStore.from_config")
STORES.register("server", "rag.store.qdrant_server:QdrantServerStore.from_config", config=ServerStoreConfig)


def open_store(cfg: StoreConfig) -> Store:
    """Open the configured store once, at start-up."""
    return STORES.factory(cfg.backend)(cfg)
