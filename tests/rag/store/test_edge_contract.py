"""Qdrant Edge (``store.backend: edge``, the default) passes the Store contract."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from rag.backend_settings import EdgeStoreConfig
from rag.store.base import Store
from rag.testing.store import StoreContract, store_opener


class TestEdgeStoreContract(StoreContract):
    @pytest.fixture
    def reopen(self, tmp_path: Path) -> Iterator[Callable[[], Store]]:
        with store_opener(EdgeStoreConfig(path=str(tmp_path / "index"))) as reopen:
            yield reopen
