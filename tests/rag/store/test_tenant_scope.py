"""One file held by two tenants: replacing or deleting it for one tenant leaves the other's copy."""

from __future__ import annotations

import uuid

import numpy as np
import pytest

from rag.errors import StoreError
from rag.records import Point, SearchFilter
from rag.store.base import Store
from tests.rag.store.conftest import DIM, make_item, make_point, structured_vectors

EMBEDDER = "test:embedder"
FILE = "/shared/memo.pdf"


def _points(tenant: str, version: str, n: int = 3) -> list[Point]:
    vecs = structured_vectors(np.random.default_rng(len(version)), n)
    out = []
    for i in range(n):
        item = make_item("text", FILE, 1, i, f"chunk {i} {version}")
        item = item.model_copy(update={"id": str(uuid.uuid5(uuid.NAMESPACE_URL, f"{tenant}#{version}#{i}"))})
        out.append(make_point(item, vecs[i], tenant=tenant))
    return out


def test_replace_and_delete_per_tenant(store: Store) -> None:
    store.ensure(EMBEDDER, DIM)
    assert store.file_tenants(FILE) == []
    store.replace_file(FILE, _points("alpha", "v1"), tenant="alpha")
    store.replace_file(FILE, _points("beta", "v1", 2), tenant="beta")
    assert store.file_tenants(FILE) == ["alpha", "beta"]
    # beta's new version replaces beta's points only
    assert store.replace_file(FILE, _points("beta", "v2", 1), tenant="beta") == 2
    assert store.count(SearchFilter(tenant="alpha", files=[FILE])) == 3
    assert sorted(store.file_ids(FILE, "beta")) == sorted(p.id for p in _points("beta", "v2", 1))
    assert store.delete_file(FILE, tenant="alpha") == 3
    assert store.file_tenants(FILE) == ["beta"]
    assert store.count() == 1
    with pytest.raises(StoreError, match="tenant 'beta'"):
        store.replace_file(FILE, _points("beta", "v3"), tenant="alpha")
