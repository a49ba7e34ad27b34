"""``store.backend: server``: a Qdrant server or cluster at ``store.url``."""

from __future__ import annotations

from typing import Any

from qdrant_client import QdrantClient, models

from rag.backend_settings import ServerStoreConfig
from rag.store.base import DENSE
from rag.store.common import HNSW_EF, INDEX_FIELDS
from rag.store.qdrant import QdrantStore, index_schema


class QdrantServerStore(QdrantStore):
    """``store.backend: server``: a collection on a Qdrant server or cluster at ``store.url``, with
    payload indexes and the cluster settings applied at creation."""

    server = True

    def __init__(self, client: QdrantClient, collection: str, *, shard_number: int = 1,
                 replication_factor: int = 1, write_consistency_factor: int = 1, where: str = "") -> None:
        super().__init__(client, collection, where=where)
        self.shard_number = shard_number
        self.replication_factor = replication_factor
        self.write_consistency_factor = write_consistency_factor

    @classmethod
    def from_config(cls, cfg: ServerStoreConfig) -> QdrantServerStore:
        """Registry factory: ``QdrantClient(url=store.url)``."""
        client = QdrantClient(url=cfg.url, api_key=cfg.api_key or None)
        return cls(client, cfg.collection, shard_number=cfg.shard_number,
                   replication_factor=cfg.replication_factor,
                   write_consistency_factor=cfg.write_consistency_factor,
                   where=f"collection {cfg.collection!r} at {cfg.url}")

    def _create_options(self) -> dict[str, Any]:
        return {"shard_number": self.shard_number, "replication_factor": self.replication_factor,
                "write_consistency_factor": self.write_consistency_factor}

    def _after_create(self) -> None:
        for field, kind in INDEX_FIELDS.items():
            self.client.create_payload_index(self.collection, field,
                                             field_schema=index_schema(field, kind), wait=True)

    def _search_params(self, using: str, limit: int) -> models.SearchParams | None:
        return models.SearchParams(hnsw_ef=max(HNSW_EF, limit)) if using == DENSE else None
