"""``Store.scroll_points`` on every backend (server when QDRANT_URL is set) and ``mmrag copy`` into a
second store chosen by URL or path: the code path that moves an embedded index to a server."""

from __future__ import annotations

import json
import os
import uuid
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from rag.backend_settings import EdgeStoreConfig
from rag.cli import main
from rag.config import StoreConfig
from rag.errors import StoreError
from rag.records import Point
from rag.store.base import Store, open_store
from rag.store.common import StoreMeta, point_payload, write_meta
from rag.store.copy import copy_store, same_store, target_config
from rag.store.edge import EdgeStore
from rag.store.qdrant import QdrantStore
from rag.testing.corpus import DIM, corpus

EMBEDDER = "test:embedder"
SERVER = os.environ.get("QDRANT_URL", "")
TARGETS = ["edge", "local"] + (["server"] if SERVER else [])


def _same_point(a: Point, b: Point) -> None:
    assert a.id == b.id
    np.testing.assert_allclose(a.vector, b.vector, rtol=1e-6, atol=1e-6)
    assert a.sparse.indices == b.sparse.indices
    np.testing.assert_allclose(a.sparse.values, b.sparse.values, rtol=1e-6)
    assert point_payload(a) == point_payload(b)


def _all(store: Store, batch: int = 512) -> dict[str, Point]:
    return {p.id: p for page in store.scroll_points(batch) for p in page}


def test_scroll_points_is_part_of_the_store_protocol() -> None:
    assert callable(getattr(Store, "scroll_points", None))
    assert isinstance(Store.__dict__.get("embedder"), property)


def _target(tmp_path: Path, kind: str) -> StoreConfig:
    source = EdgeStoreConfig(path=str(tmp_path / "src"), collection=f"c_{uuid.uuid4().hex[:8]}")
    to = {"edge": str(tmp_path / "dst"), "local": f"local:{tmp_path / 'dst'}", "server": SERVER}[kind]
    return target_config(source, to, shard_number=2 if kind == "server" else None)


@pytest.mark.parametrize("kind", TARGETS)
def test_copy_keeps_ids_vectors_payloads_and_identity(store_factory: Callable[..., Store], tmp_path: Path,
                                                      kind: str) -> None:
    src = store_factory("edge")
    src.ensure(EMBEDDER, DIM)
    points = corpus(70, seed=9)
    src.upsert(points)
    cfg = _target(tmp_path, kind)
    assert cfg.backend == kind
    dst = open_store(cfg)
    seen: list[tuple[int, int]] = []
    try:
        report = copy_store(src, dst, batch=32, on_progress=lambda d, t: seen.append((d, t)))
        assert (report.points, report.pages) == (70, 3)
        assert seen == [(0, 70), (32, 70), (64, 70), (70, 70)]
        assert copy_store(src, dst, batch=32).points == 70  # a rerun overwrites, adds nothing
        assert dst.count() == 70
        back = _all(dst)
        for p in points:
            _same_point(back[p.id], p)
        assert dst.embedder == src.embedder
        with pytest.raises(StoreError, match="other:model"):
            dst.ensure("other:model", DIM)
    finally:
        if isinstance(dst, QdrantStore) and dst.server:
            dst.client.delete_collection(dst.collection)
        dst.close()


def test_copy_refuses_a_destination_of_another_embedder(store_factory: Callable[..., Store],
                                                        tmp_path: Path) -> None:
    src = store_factory("edge")
    src.ensure(EMBEDDER, DIM)
    src.upsert(corpus(5))
    with EdgeStore(tmp_path / "other") as dst:
        dst.ensure("other:model", DIM)
        with pytest.raises(StoreError, match=r"other:model.*test:embedder"):
            copy_store(src, dst)
        assert dst.count() == 0


def test_copy_refuses_an_index_cut_by_the_legacy_tokenizer(tmp_path: Path) -> None:
    root = tmp_path / "old"
    with EdgeStore(root) as old:
        old.ensure(EMBEDDER, DIM)
        old.upsert(corpus(5))
    write_meta(root / "store.json", StoreMeta(embedder_id=EMBEDDER, dim=DIM))  # as written before tokenizers
    with EdgeStore(root) as src, EdgeStore(tmp_path / "dst") as dst, \
            pytest.raises(StoreError, match="keyword tokenizer"):
        copy_store(src, dst)


def test_target_is_chosen_by_url_or_path(tmp_path: Path) -> None:
    source = EdgeStoreConfig(path=str(tmp_path), collection="docs")
    server = target_config(source, "http://qdrant-0:6333", collection="big", shard_number=6, replication_factor=2)
    assert (server.backend, server.url, server.collection, server.shard_number, server.replication_factor) == (
        "server", "http://qdrant-0:6333", "big", 6, 2)
    assert server.path == source.path  # the manifest stays where it is
    assert target_config(source, str(tmp_path / "x")).backend == "edge"
    assert target_config(source, f"local:{tmp_path / 'x'}").backend == "local"
    assert same_store(source, target_config(source, f"edge:{tmp_path}"))
    with pytest.raises(StoreError, match="server URL"):
        target_config(source, str(tmp_path / "x"), shard_number=3)
    with pytest.raises(StoreError, match="shard_number"):
        target_config(source, "http://q:6333", shard_number=0)


def test_mmrag_copy_command(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    index = tmp_path / "index"
    with EdgeStore(index / "edge" / "mmrag") as src:
        src.ensure(EMBEDDER, DIM)
        src.upsert(corpus(20))
    dest = tmp_path / "moved"
    assert main(["copy", "--index", str(index), "--to", str(dest), "--collection", "moved", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert (out["points"], out["collection"], out["embedder_id"]) == (20, "moved", EMBEDDER)
    with EdgeStore(dest / "edge" / "moved") as dst:
        assert dst.count() == 20
    assert main(["copy", "--index", str(index), "--to", str(index), "--json"]) == 2
    assert "source index itself" in capsys.readouterr().err
    assert main(["copy", "--index", str(tmp_path / "none"), "--to", str(dest)]) == 2
    assert "no index" in capsys.readouterr().err
