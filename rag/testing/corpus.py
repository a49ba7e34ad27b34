"""Small corpora of store points for tests: items of every kind, embedding-like vectors, query plans.

Used by the Store contract (:mod:`rag.testing.store`) and by a backend's own tests.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Sequence

import numpy as np

from ingest.records import IMAGE_KINDS, Figure, Item, ItemKind, PageImage, Table, TextChunk
from rag.records import Point, Prefetch, QueryPlan, SearchFilter
from rag.store.sparse import encode_sparse, encode_sparse_query

DIM = 16

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
                 embedded_as="image" if item.kind in IMAGE_KINDS else "text",
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

EMBEDDER = "test:embedder"

def hybrid(dense: list[float] | None, text: str | None, limit: int = 10, n: int = 20,
           flt: SearchFilter | None = None, weights: tuple[float, float, float] = (1.0, 1.0, 1.0)) -> QueryPlan:
    branches = []
    if dense is not None:
        branches += [Prefetch(using="dense", limit=n, kinds=["text", "table"], weight=weights[0]),
                     Prefetch(using="dense", limit=n, kinds=["figure", "page"], weight=weights[1])]
    if text is not None:
        branches.append(Prefetch(using="sparse", limit=n, weight=weights[2]))
    return QueryPlan(dense=dense, sparse=encode_sparse_query(text) if text is not None else None,
                     prefetch=branches, filter=flt or SearchFilter(), limit=limit)

def dense_all(dense: list[float], limit: int = 100, flt: SearchFilter | None = None) -> QueryPlan:
    return QueryPlan(dense=dense, prefetch=[Prefetch(using="dense", limit=limit)],
                     filter=flt or SearchFilter(), limit=limit)

def qvec(seed: int) -> list[float]:
    v = np.random.default_rng(seed).normal(size=DIM)
    return (v / np.linalg.norm(v)).tolist()

def chunk_points(file: str, n: int, version: str, page_of: Callable[[int], int] = lambda i: 1,
                  tenant: str = "default") -> list[Point]:
    """``n`` text chunks of ``file`` numbered in reading order, each text naming ``version``."""
    vecs = structured_vectors(np.random.default_rng(len(version)), n)
    points = []
    for i in range(n):
        item = make_item("text", file, page_of(i), i, f"chunk {i} {version}")
        points.append(make_point(item.model_copy(update={"order": i, "id": str(uuid.uuid5(
            uuid.NAMESPACE_URL, f"{file}#{version}#{i}"))}), vecs[i], tenant=tenant))
    return points

TENANT_FILE = "/shared/memo.pdf"


def tenant_points(tenant: str, version: str, n: int = 3) -> list[Point]:
    vecs = structured_vectors(np.random.default_rng(len(version)), n)
    out = []
    for i in range(n):
        item = make_item("text", TENANT_FILE, 1, i, f"chunk {i} {version}")
        item = item.model_copy(update={"id": str(uuid.uuid5(uuid.NAMESPACE_URL, f"{tenant}#{version}#{i}"))})
        out.append(make_point(item, vecs[i], tenant=tenant))
    return out
