"""Qdrant Edge (``store.backend: edge``, the default) passes the Store contract."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from rag.config import StoreConfig
from rag.store.base import Store
from rag.testing.store import StoreContract, store_opener


class TestEdgeStoreContract(StoreContract):
    @pytest.fixture
    def reopen(self, tmp_path: Path) -> Iterator[Callable[[], Store]]:
        with store_opener(StoreConfig(backend="edge", path=str(tmp_path / "index"))) as reopen:
            yield reopen
