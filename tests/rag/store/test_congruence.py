"""Congruence: the embedded engines rank the same points the same way, a tenant filter never leaks on
either, and an embedded index copies to another backend. The Store contract itself is
:class:`rag.testing.store.StoreContract`, run by each backend's ``test_*_contract.py``."""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from qdrant_client import QdrantClient

from rag.config import StoreConfig
from rag.errors import StoreError
from rag.records import Hit, SearchFilter
from rag.store.base import Store, open_store
from rag.store.copy import copy_store
from rag.store.qdrant_local import QdrantLocalStore
from rag.testing.corpus import DIM, EMBEDDER, corpus, dense_all, hybrid, qvec


def _ranking(hits: list[Hit]) -> list[tuple[float, frozenset[str]]]:
    """Hits as (score, ids with that score) in order: ties may come in any order."""
    out: list[tuple[float, set[str]]] = []
    for h in hits:
        score = round(h.score, 4)
        if out and out[-1][0] == score:
            out[-1][1].add(h.id)
        else:
            out.append((score, {h.id}))
    return [(s, frozenset(ids)) for s, ids in out]

def test_congruence_edge_and_local(store_factory: Callable[..., Store]) -> None:
    points = corpus(120, seed=11, files=4, unique_lengths=True)
    edge = store_factory("edge")
    edge.ensure(EMBEDDER, DIM)
    edge.upsert(points)
    plans = []
    for seed in range(12):
        words = " ".join(np.random.default_rng(seed).choice(["pump", "valve", "seal", "rotor", "torque"], 2))
        flt = [SearchFilter(), SearchFilter(tenant="acme"), SearchFilter(kinds=["text", "figure"]),
               SearchFilter(files=["/docs/f1.pdf", "/docs/f3.pdf"], tags=["manual"])][seed % 4]
        weights = [(1.0, 1.0, 1.0), (1.0, 0.5, 2.0), (3.0, 1.0, 0.25)][seed % 3]
        plans += [hybrid(qvec(seed), words, limit=15, flt=flt), dense_all(qvec(seed), 15, flt),
                  hybrid(None, words, limit=15, flt=flt),
                  hybrid(qvec(seed), words, limit=15, flt=flt, weights=weights)]
    edge_results = [edge.query(p) for p in plans]
    # local mode commits each point to SQLite; ranking does not depend on it, so stay in memory
    local = QdrantLocalStore(QdrantClient(location=":memory:"), "congruence")
    local.ensure(EMBEDDER, DIM)
    local.upsert(points)
    for plan, want in zip(plans, edge_results, strict=True):
        got = local.query(plan)
        assert want, plan
        # the cut at `limit` may split a tie group differently: compare complete groups only
        complete_want, complete_got = _ranking(want)[:-1], _ranking(got)[:-1]
        assert complete_got == complete_want, plan
        assert [round(h.score, 4) for h in got] == [round(h.score, 4) for h in want]

@pytest.mark.parametrize("backend", ["edge", "local"])
def test_tenant_filter_never_leaks(store_factory: Callable[..., Store], backend: str) -> None:
    # local mode commits every point to SQLite; the property is about filtering, so keep it in memory
    store = (QdrantLocalStore(QdrantClient(location=":memory:"), "tenants") if backend == "local"
             else store_factory(backend))
    store.ensure(EMBEDDER, DIM)
    base = corpus(40, seed=5)

    @settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
    @given(tenants=st.lists(st.sampled_from(["a", "b", "c"]), min_size=40, max_size=40),
           asked=st.sampled_from(["a", "b", "c"]), seed=st.integers(0, 1000),
           words=st.sampled_from(["pump", "valve seal", "rotor torque", "the"]))
    def check(tenants: list[str], asked: str, seed: int, words: str) -> None:
        store.upsert([p.model_copy(update={"tenant": t}) for p, t in zip(base, tenants, strict=True)])
        owner = {p.id: t for p, t in zip(base, tenants, strict=True)}
        hits = store.query(hybrid(qvec(seed), words, limit=40, n=40, flt=SearchFilter(tenant=asked)))
        assert all(owner[h.id] == asked for h in hits)
        assert len(hits) == tenants.count(asked)
        assert store.count(SearchFilter(tenant=asked)) == tenants.count(asked)

    check()

@pytest.mark.parametrize("target", ["local"] + (["server"] if os.environ.get("QDRANT_URL") else []))
def test_copy_edge_index_to_another_backend(store_factory: Callable[..., Store], tmp_path: Path,
                                            target: str) -> None:
    edge = store_factory("edge")
    edge.ensure(EMBEDDER, DIM)
    points = corpus(50, seed=3, unique_lengths=True)
    edge.upsert(points)
    plans = [hybrid(qvec(2), "pump seal", limit=10), dense_all(qvec(3), 10)]
    want = [edge.query(p) for p in plans]
    cfg = StoreConfig.model_validate({"backend": target, "path": str(tmp_path / "copy"),
                                      "collection": f"copy_{uuid.uuid4().hex[:8]}",
                                      **({"url": os.environ.get("QDRANT_URL", "")} if target == "server" else {})})
    dst = open_store(cfg)
    try:
        assert copy_store(edge, dst, batch=16).points == 50
        assert copy_store(edge, dst, batch=16).points == 50  # idempotent
        assert dst.count() == 50
        assert dst.stats().embedder_id == EMBEDDER
        for plan, hits in zip(plans, want, strict=True):
            assert [h.id for h in dst.query(plan)] == [h.id for h in hits]
        with pytest.raises(StoreError, match="other:model"):
            dst.ensure("other:model", DIM)
    finally:
        if target == "server":
            dst.client.delete_collection(dst.collection)
        dst.close()
