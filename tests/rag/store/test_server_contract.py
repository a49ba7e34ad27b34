"""A Qdrant server (``store.backend: server``) passes the Store contract: run when ``QDRANT_URL``
names one (``QDRANT_API_KEY`` for its key); each test gets a collection of its own, dropped after."""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from rag.backend_settings import ServerStoreConfig
from rag.store.base import Store
from rag.testing.store import StoreContract, store_opener

URL = os.environ.get("QDRANT_URL", "")

pytestmark = pytest.mark.skipif(not URL, reason="set QDRANT_URL to run the Store contract on a Qdrant server")


class TestServerStoreContract(StoreContract):
    @pytest.fixture
    def reopen(self, tmp_path: Path) -> Iterator[Callable[[], Store]]:
        cfg = ServerStoreConfig(path=str(tmp_path / "index"), url=URL,
                                api_key=os.environ.get("QDRANT_API_KEY", ""), collection=f"t_{uuid.uuid4().hex[:8]}")
        with store_opener(cfg) as reopen:
            yield reopen
