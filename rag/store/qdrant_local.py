"""``store.backend: local``: qdrant-client's local mode, on disk under the index folder."""

from __future__ import annotations

from pathlib import Path

from qdrant_client import QdrantClient

from rag.config import StoreConfig
from rag.errors import StoreError
from rag.store.qdrant import QdrantStore


class QdrantLocalStore(QdrantStore):
    """``store.backend: local``: qdrant-client's local mode at ``<store.path>/local`` (exact numpy
    search, one process at a time)."""

    @classmethod
    def from_config(cls, cfg: StoreConfig) -> QdrantLocalStore:
        """Registry factory: ``QdrantClient(path=<store.path>/local)``."""
        path = Path(cfg.path).expanduser() / "local"
        path.mkdir(parents=True, exist_ok=True)
        try:
            client = QdrantClient(path=str(path))
        except RuntimeError as exc:  # "already accessed by another instance"
            raise StoreError(f"local index {path} cannot be opened: {exc}") from exc
        return cls(client, cfg.collection, where=f"local index {path} ({cfg.collection})")
