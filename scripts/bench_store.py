"""Benchmark the embedded stores through the Store API: upsert rate and hybrid query latency.

Every backend gets the same points (random structured vectors: low rank plus noise, like real
embeddings; short keyword texts; 8 files, 2 tenants, all four kinds) and the same queries: the
retriever's hybrid plan (dense text-like, dense image-like and keyword branches, 40 candidates
each, fused by RRF), once without and once with a filter (tenant + kinds). Edge is measured as
written (exact search) and again after ``optimize()`` (HNSW), whose duration is reported.

    .venv/bin/python scripts/bench_store.py                       # 10k and 100k, edge and local
    .venv/bin/python scripts/bench_store.py --sizes 10000 --backends edge local
    .venv/bin/python scripts/bench_store.py --with-1m              # adds 1,000,000 (slow)

Prints a markdown table; figures are medians over ``--repeats`` rounds of ``--queries`` queries.
"""

from __future__ import annotations

import argparse
import logging
import shutil
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ingest.records import Figure, Item, ItemKind, PageImage, Table, TextChunk
from rag.config import RetrieveConfig, StoreConfig
from rag.records import Point, QueryPlan, SearchFilter
from rag.retrieve import build_plan
from rag.store.base import Store, open_store
from rag.store.edge import EdgeStore
from rag.store.sparse import encode_sparse

log = logging.getLogger("bench_store")

VOCAB = [f"w{i}" for i in range(2000)] + ["pump", "valve", "seal", "gasket", "XK-4471-B"]
KINDS: list[ItemKind] = ["text", "text", "text", "table", "figure", "page"]
EMBEDDER_ID = "bench:random"


@dataclass
class Row:
    """One line of the result table."""

    backend: str
    points: int
    upsert_per_s: float
    p50: float
    p95: float
    p50_filtered: float
    p95_filtered: float
    reopen_s: float
    optimize_s: float | None = None


class Corpus:
    """Deterministic points, generated batch by batch (100k Python-float vectors would not fit)."""

    def __init__(self, dim: int, seed: int = 0, rank: int = 32) -> None:
        rng = np.random.default_rng(seed)
        self.dim = dim
        self.basis = rng.normal(size=(rank, dim)).astype(np.float32)  # (rank, dim)
        self.seed = seed

    def vectors(self, rng: np.random.Generator, n: int) -> np.ndarray:
        x = rng.normal(size=(n, self.basis.shape[0])).astype(np.float32) @ self.basis  # (n, dim)
        x += 0.5 * rng.normal(size=(n, self.dim)).astype(np.float32)
        return x / np.linalg.norm(x, axis=1, keepdims=True)

    def batches(self, n: int, batch: int) -> Iterator[list[Point]]:
        rng = np.random.default_rng(self.seed + 1)
        for start in range(0, n, batch):
            size = min(batch, n - start)
            vecs = self.vectors(rng, size)
            words = rng.integers(0, len(VOCAB), size=(size, 12))
            out = []
            for j in range(size):
                i = start + j
                text = " ".join(VOCAB[w] for w in words[j])
                item = _item(KINDS[i % len(KINDS)], f"/bench/file{i % 8}.pdf", 1 + i // 8 % 500, i, text)
                out.append(Point(id=item.id, vector=vecs[j].tolist(), sparse=encode_sparse(text), item=item,
                                 embedded_as="image" if item.kind in ("figure", "page") else "text",
                                 tenant="acme" if i % 2 else "globex"))
            yield out


def _item(kind: ItemKind, file: str, page: int, i: int, text: str) -> Item:
    common = {"id": str(uuid.UUID(int=i + 1)), "doc_id": "bench", "file": file, "page": page, "text": text}
    if kind == "text":
        return TextChunk(**common)
    if kind == "table":
        return Table(**common)
    if kind == "figure":
        return Figure(**common, image_path="/bench/fig.png")
    return PageImage(**common, image_path="/bench/page.png", width=100, height=140)


def _latencies(run: Callable[[QueryPlan], object], plans: list[QueryPlan]) -> list[float]:
    out = []
    for plan in plans:
        t0 = time.perf_counter()
        run(plan)
        out.append((time.perf_counter() - t0) * 1000)
    return out


def _percentiles(store: Store, plans: list[QueryPlan], repeats: int) -> tuple[float, float]:
    store.query(plans[0])  # warm caches
    p50s, p95s = [], []
    for _ in range(repeats):
        lat = _latencies(store.query, plans)
        p50s.append(float(np.percentile(lat, 50)))
        p95s.append(float(np.percentile(lat, 95)))
    return statistics.median(p50s), statistics.median(p95s)


def _plans(corpus: Corpus, n: int, filtered: bool) -> list[QueryPlan]:
    rng = np.random.default_rng(1234)
    vecs = corpus.vectors(rng, n)
    cfg = RetrieveConfig(k=6, candidates=40)
    flt = SearchFilter(tenant="acme", kinds=["text", "table"]) if filtered else None
    return [build_plan(cfg, 6, vecs[i].tolist(), " ".join(rng.choice(VOCAB, 3)), flt) for i in range(n)]


def bench(backend: str, n: int, args: argparse.Namespace, corpus: Corpus) -> list[Row]:
    """Fill a fresh store of ``backend`` with ``n`` points and measure it."""
    root = Path(tempfile.mkdtemp(prefix=f"bench-{backend}-{n}-", dir=args.workdir))
    cfg = StoreConfig.model_validate({"backend": backend, "path": str(root), "collection": "bench"})
    try:
        store = open_store(cfg)
        if isinstance(store, EdgeStore):
            store.auto_optimize_at = None  # optimize() is measured on its own below
        store.ensure(EMBEDDER_ID, args.dim)
        spent, done = 0.0, 0
        for points in corpus.batches(n, args.batch):
            t0 = time.perf_counter()
            store.upsert(points)
            spent += time.perf_counter() - t0
            done += len(points)
            if done % 20_000 < len(points):
                log.info("%s: %d/%d points, %.0f/s", backend, done, n, done / spent)
        rate = n / spent
        queries = args.queries if backend == "edge" else min(args.queries, args.local_queries)
        plain, filtered = _plans(corpus, queries, False), _plans(corpus, queries, True)
        p50, p95 = _percentiles(store, plain, args.repeats)
        fp50, fp95 = _percentiles(store, filtered, args.repeats)
        store.close()
        t0 = time.perf_counter()
        store = open_store(cfg)
        store.count()
        reopen = time.perf_counter() - t0
        rows = [Row(backend, n, rate, p50, p95, fp50, fp95, reopen)]
        log.info("%s", rows[-1])
        if isinstance(store, EdgeStore) and args.optimize:
            t0 = time.perf_counter()
            store.optimize()
            spent_opt = time.perf_counter() - t0
            p50, p95 = _percentiles(store, plain, args.repeats)
            fp50, fp95 = _percentiles(store, filtered, args.repeats)
            rows.append(Row("edge + HNSW", n, rate, p50, p95, fp50, fp95, reopen, spent_opt))
            log.info("%s", rows[-1])
        store.close()
        return rows
    finally:
        shutil.rmtree(root, ignore_errors=True)


def table(rows: list[Row], dim: int) -> str:
    """The rows as a markdown table."""
    head = (f"| backend | points (dim {dim}) | upsert/s | query p50 ms | p95 ms | filtered p50 ms | p95 ms "
            "| reopen s | optimize s |\n|---|---|---|---|---|---|---|---|---|")
    lines = [head]
    for r in rows:
        opt = f"{r.optimize_s:.1f}" if r.optimize_s is not None else "—"
        lines.append(f"| {r.backend} | {r.points:,} | {r.upsert_per_s:,.0f} | {r.p50:.2f} | {r.p95:.2f} | "
                     f"{r.p50_filtered:.2f} | {r.p95_filtered:.2f} | {r.reopen_s:.2f} | {opt} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000])
    parser.add_argument("--with-1m", action="store_true", help="also 1,000,000 points (slow)")
    parser.add_argument("--backends", nargs="+", default=["edge", "local"], choices=["edge", "local"])
    parser.add_argument("--dim", type=int, default=384)
    parser.add_argument("--queries", type=int, default=50)
    parser.add_argument("--local-queries", type=int, default=10,
                        help="queries per round on local mode (seconds each: filters run in Python)")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--batch", type=int, default=1000, help="points per upsert call")
    parser.add_argument("--no-optimize", dest="optimize", action="store_false",
                        help="skip the Edge HNSW build and the measurements after it")
    parser.add_argument("--max-local", type=int, default=100_000,
                        help="skip local mode above this many points (it is exact search)")
    parser.add_argument("--workdir", default=None, help="where the temporary indexes go")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s", stream=sys.stderr)
    sizes = sorted(set(args.sizes + ([1_000_000] if args.with_1m else [])))
    corpus = Corpus(args.dim)
    rows: list[Row] = []
    for n in sizes:
        for backend in args.backends:
            if backend == "local" and n > args.max_local:
                log.info("skipping local at %d points (--max-local %d)", n, args.max_local)
                continue
            rows += bench(backend, n, args, corpus)
    print(table(rows, args.dim))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
