"""Fixtures of the Store contract: one store per backend, and a small corpus builder."""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

import numpy as np
import pytest

from ingest.records import Figure, Item, ItemKind, PageImage, Table, TextChunk
from rag.config import StoreConfig
from rag.records import Point
from rag.store.base import Store, open_store
from rag.store.qdrant import QdrantStore
from rag.store.sparse import encode_sparse

DIM = 16
BACKENDS = ["edge", "local"] + (["server"] if os.environ.get("QDRANT_URL") else [])


def make_item(kind: ItemKind, file: str, page: int, seq: int, text: str) -> Item:
    """An item of ``kind`` with a stable id."""
    iid = str(uuid.uuid5(uuid.NAMESPACE_URL, f"{file}#{kind}#{page}#{seq}"))
    common = {"id": iid, "doc_id": uuid.uuid5(uuid.NAMESPACE_URL, file).hex[:16], "file": file,
              "page": page, "text": text}
    if kind == "text":
        return TextChunk(**common)
    if kind == "table":
        return Table(**common)
    if kind == "figure":
        return Figure(**common, image_path=f"{file}.p{page}.fig{seq}.png")
    return PageImage(**common, image_path=f"{file}.p{page}.png", width=100, height=140)


def structured_vectors(rng: np.random.Generator, n: int, dim: int = DIM, rank: int = 4) -> np.ndarray:
    """Unit vectors of low rank plus noise, like real embeddings. Shape (n, dim)."""
    basis = rng.normal(size=(rank, dim))  # (rank, dim)
    x = rng.normal(size=(n, rank)) @ basis + 0.3 * rng.normal(size=(n, dim))  # (n, dim)
    return (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32)


def make_point(item: Item, vector: Sequence[float], tenant: str = "default",
               tags: Sequence[str] = ()) -> Point:
    return Point(id=item.id, vector=[float(v) for v in vector], sparse=encode_sparse(item.text), item=item,
                 embedded_as="image" if item.kind in ("figure", "page") else "text",
                 tenant=tenant, tags=list(tags))


WORDS = [
    "pump", "valve", "seal", "gasket", "pressure", "flow", "motor", "bearing", "shaft", "impeller",
    "housing", "coupling", "torque", "voltage", "sensor", "filter", "manifold", "nozzle", "rotor", "stator",
]


def corpus(n: int = 60, seed: int = 0, files: int = 3, unique_lengths: bool = False) -> list[Point]:
    """``n`` points over ``files`` files, all four kinds, two tenants, some tags. With
    ``unique_lengths`` a text holds each word at most once and has its own length (unique filler
    terms pad it), so keyword scores do not tie and engines cannot order ties differently."""
    rng = np.random.default_rng(seed)
    vecs = structured_vectors(rng, n)
    kinds: list[ItemKind] = ["text", "text", "table", "figure", "page"]
    points = []
    for i in range(n):
        kind = kinds[i % len(kinds)]
        if unique_lengths:
            words = list(rng.choice(WORDS, size=int(rng.integers(2, 10)), replace=False))
            text = " ".join(words + [f"z{i}x{j}" for j in range(10 * i)])
        else:
            text = " ".join(rng.choice(WORDS, size=int(rng.integers(3, 12))))
        item = make_item(kind, f"/docs/f{i % files}.pdf", 1 + (i // files) % 5, i, text)
        points.append(make_point(item, vecs[i], tenant="acme" if i % 2 else "globex",
                                 tags=["manual"] if i % 3 == 0 else []))
    return points


@pytest.fixture
def store_factory(tmp_path: Path) -> Iterator[Callable[..., Store]]:
    """``factory(backend)`` opens a store on ``tmp_path`` (a unique collection on a server);
    calling it again for the same backend reopens the same index after closing the last one."""
    opened: list[Store] = []
    suffix = uuid.uuid4().hex[:8]

    def factory(backend: str) -> Store:
        if opened:
            opened[-1].close()
        cfg = StoreConfig(backend=backend, path=str(tmp_path / "index"), collection=f"t_{suffix}",
                          url=os.environ.get("QDRANT_URL", "") if backend == "server" else "",
                          api_key=os.environ.get("QDRANT_API_KEY", ""))
        store = open_store(cfg)
        opened.append(store)
        return store

    yield factory
    if opened:
        last = opened[-1]
        if isinstance(last, QdrantStore) and last.server:
            last.client.delete_collection(last.collection)
        last.close()


@pytest.fixture(params=BACKENDS)
def store(request: pytest.FixtureRequest, store_factory: Callable[..., Store]) -> Store:
    """An empty store of each backend."""
    return store_factory(request.param)
