"""Fixtures of the store tests: ``store_factory(backend)`` for tests that compare backends. The
contract every backend passes is :class:`rag.testing.store.StoreContract`."""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from rag.config import StoreConfig
from rag.store.base import Store, open_store
from rag.store.qdrant import QdrantStore


@pytest.fixture
def store_factory(tmp_path: Path) -> Iterator[Callable[..., Store]]:
    """``factory(backend)`` opens a store on ``tmp_path`` (a unique collection on a server);
    calling it again for the same backend reopens the same index after closing the last one."""
    opened: list[Store] = []
    suffix = uuid.uuid4().hex[:8]

    def factory(backend: str) -> Store:
        if opened:
            opened[-1].close()
        server = {"url": os.environ.get("QDRANT_URL", ""), "api_key": os.environ.get("QDRANT_API_KEY", "")}
        cfg = StoreConfig.model_validate({"backend": backend, "path": str(tmp_path / "index"),
                                          "collection": f"t_{suffix}", **(server if backend == "server" else {})})
        store = open_store(cfg)
        opened.append(store)
        return store

    yield factory
    if opened:
        last = opened[-1]
        if isinstance(last, QdrantStore) and last.server:
            last.client.delete_collection(last.collection)
        last.close()
