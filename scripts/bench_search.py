"""Search latency on an existing index, and where a query's time goes; variants side by side.

Every dev question (``--qa``, the evaluation's ``qa.jsonl``) is searched as ``mmrag eval`` searches
it: restricted to its document (``SearchFilter(files=[doc])``), ``k`` = 30 pages. Each round runs
every question once per variant, variants interleaved question by question, so machine load hits
them alike; a question's latency is its median over ``--repeats`` rounds, and the table gives the
p50 / p95 over questions. The model load and the first (warm-up) search are excluded.

A variant is ``name`` or ``name:key=value,key=value`` (profile overrides, as ``--set``): e.g.
``base:embed.query_cache=0`` against ``new``. Then the stages of one search, timed apart on the
first variant's pipeline (medians over the questions): the query's embedding, its keyword vector
(Kiwi / the English tokenizer), the page references, the whole plan, the store query (and its
branches alone: dense, keyword; with and without payloads), grouping by page.

    PYTHONPATH=. .venv/bin/python scripts/bench_search.py --index /tmp/ix --repeats 5 \\
        --variants 'old:embed.query_cache_size=0' new

The index is opened read-only in spirit (searches only), but Qdrant Edge takes a lock on it: point
``--index`` at a copy when another process holds the original. Progress goes to stderr.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from rag.cli_options import parse_sets
from rag.pipeline import Pipeline
from rag.records import SearchFilter

log = logging.getLogger("bench_search")
SEARCH_K = 30  # rag.eval.harness: depth 10 x PAGE_OVERFETCH 3


def _ms(values: list[float]) -> str:
    return f"{1000 * statistics.median(values):.2f}" if values else "-"


def _p95(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]


def questions(qa: Path, docs: Path, limit: int | None) -> list[tuple[str, SearchFilter]]:
    """(question, its document's filter) for every question of ``qa`` whose document exists."""
    out: list[tuple[str, SearchFilter]] = []
    for line in qa.read_text(encoding="utf-8").splitlines():
        if not line.strip():
            continue
        row = json.loads(line)
        doc = (docs / row["doc"]).resolve()
        if doc.exists():
            out.append((row["question"], SearchFilter(files=[str(doc)])))
    return out[:limit] if limit else out


def forget(pipe: Pipeline, query: str) -> None:
    """Remove ``query``'s vector from the pipeline's embedding cache (if it has one)."""
    from rag.embed.cache import CachedEmbedder, _text_key

    layer: Any = pipe.embedder
    while layer is not None:
        if isinstance(layer, CachedEmbedder):
            with layer._lock, layer._db:
                layer._db.execute("DELETE FROM vectors WHERE embedder=? AND key=?",
                                  (layer.id, _text_key("query", query)))
        layer = getattr(layer, "inner", None)


def _timed(fn: Callable[[], Any]) -> float:
    t = time.perf_counter()
    fn()
    return time.perf_counter() - t


def stages(pipe: Pipeline, qs: list[tuple[str, SearchFilter]]) -> dict[str, list[float]]:
    """Seconds of each step of one search, per question (one pass, after a warm-up)."""
    from rag.retrieve import build_plan, group_by_page, referenced_pages
    from rag.store.sparse import encode_sparse_query

    retriever = pipe.retriever
    cfg = retriever.cfg
    store: Any = pipe.store
    out: dict[str, list[float]] = {}

    def add(name: str, seconds: float) -> None:
        out.setdefault(name, []).append(seconds)

    layers: list[Any] = []
    layer: Any = retriever.embedder
    while layer is not None:
        layers.append(layer)
        layer = getattr(layer, "inner", None)
    for q, flt in qs:
        add("query embedding: the model alone", _timed(lambda q=q: layers[-1].embed_queries([q])))  # type: ignore[misc]
        for lay in reversed(layers[:-1]):
            forget(pipe, q)
            add(f"query embedding: through {type(lay).__name__} (cache miss)",
                _timed(lambda lay=lay, q=q: lay.embed_queries([q])))  # type: ignore[misc]
        add("query embedding: cache hit", _timed(lambda q=q: retriever.embedder.embed_queries([q])))  # type: ignore[misc]
        add("keyword vector", _timed(lambda q=q: encode_sparse_query(q)))  # type: ignore[misc]
        add("page references", _timed(lambda q=q: referenced_pages(q)))  # type: ignore[misc]
        t = time.perf_counter()
        plan = retriever.plan(q, SEARCH_K, flt)
        add("plan (all of the above)", time.perf_counter() - t)
        t = time.perf_counter()
        hits = store.query(plan)
        add("store query (fused)", time.perf_counter() - t)
        t = time.perf_counter()
        group_by_page(hits, SEARCH_K, max_per_file=max(2, SEARCH_K // 2))
        add("group by page", time.perf_counter() - t)
        dense = plan.dense
        for name, mode in (("store: dense branches only", "dense"), ("store: keyword branch only", "sparse")):
            sub = cfg.model_copy(update={"mode": mode, "page_refs": False})
            p = build_plan(sub, SEARCH_K, dense, q, flt, [])
            add(name, _timed(lambda p=p: store.query(p)))  # type: ignore[misc]
        if hasattr(store, "_shard"):  # Qdrant Edge: the engine call alone, with and without payloads
            for with_payload in (True, False):
                add(f"store: engine call only, payloads {'on' if with_payload else 'off'}",
                    _timed(lambda plan=plan, w=with_payload: _edge_engine(store, plan, w)))  # type: ignore[misc]
    return out


def _edge_engine(store: Any, plan: Any, with_payload: bool) -> Any:
    """``EdgeStore.query``'s engine call alone (no hit conversion), optionally without payloads."""
    from qdrant_edge import Fusion, QueryRequest

    from rag.store.common import RRF_K, active_branches, fusion_weights, resolve_file_globs
    from rag.store.edge_convert import _edge_prefetch

    flt = resolve_file_globs(plan.filter, store.files)
    plan = plan.model_copy(update={"filter": flt})
    branches = active_branches(plan, store._meta.dim)
    prefetches = [_edge_prefetch(plan, b, terms) for b, terms in branches]
    request = QueryRequest(limit=plan.limit, query=Fusion.Rrf(k=RRF_K, weights=fusion_weights(branches)),
                           prefetches=prefetches, with_payload=with_payload)
    return store._shard.query(request)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--index", required=True, help="index folder (store.path) of an ingest of --docs")
    ap.add_argument("--qa", default="../shared/eval/qa.jsonl")
    ap.add_argument("--docs", default="../shared/eval/pdfs")
    ap.add_argument("--config", default="cpu")
    ap.add_argument("--variants", nargs="+", default=["cpu"], help="name[:key=value,...] per variant")
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--limit", type=int, default=None, help="first N questions only")
    ap.add_argument("--no-stages", action="store_true")
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.INFO, stream=sys.stderr, format="%(asctime)s %(message)s")
    qs = questions(Path(args.qa), Path(args.docs), args.limit)
    load = os.getloadavg()
    print(f"machine: {os.cpu_count()} CPUs; load average at the start {load[0]:.2f}, {load[1]:.2f}, {load[2]:.2f}; "
          f"{len(qs)} questions, {args.repeats} rounds")
    pipes: list[tuple[str, Pipeline]] = []
    try:
        for spec in args.variants:
            name, _, rest = spec.partition(":")
            over = {**parse_sets([p for p in rest.split(",") if p]), "store.path": args.index}
            # One store for every variant: Edge locks its folder, and the index is the same.
            pipe = Pipeline.from_config(args.config, over, environ={}) if not pipes else _sharing(
                args.config, over, pipes[0][1])
            pipe.search(qs[0][0], k=SEARCH_K, flt=qs[0][1])  # warm-up: model, Kiwi, caches of the engine
            pipes.append((name, pipe))
        per: dict[str, list[list[float]]] = {name: [[] for _ in qs] for name, _ in pipes}
        for r in range(args.repeats):
            log.info("round %d/%d", r + 1, args.repeats)
            for i, (q, flt) in enumerate(qs):
                for name, pipe in pipes:
                    forget(pipe, q)  # a new question to the embedding cache, as a user's: written, model run
                    per[name][i].append(_timed(lambda p=pipe, q=q, f=flt: p.search(q, k=SEARCH_K, flt=f)))  # type: ignore[misc]
        print("\n| variant | p50 ms | p95 ms | mean ms | vs first |\n|---|---:|---:|---:|---:|")
        first = None
        for name, _ in pipes:
            med = [statistics.median(v) for v in per[name]]
            p50 = statistics.median(med)
            first = first or p50
            print(f"| {name} | {1000 * p50:.2f} | {1000 * _p95(med):.2f} | {1000 * statistics.mean(med):.2f} | "
                  f"{first / p50:.2f}x |")
        if not args.no_stages:
            for name, pipe in pipes:
                got = stages(pipe, qs)
                print(f"\nstages of one search, {name} (median over questions, ms):\n")
                print("| step | median ms |\n|---|---:|")
                for step, values in got.items():
                    if any(v is not None for v in values):
                        print(f"| {step} | {_ms(values)} |")
        end = os.getloadavg()
        print(f"\nload average at the end {end[0]:.2f}, {end[1]:.2f}, {end[2]:.2f}")
    finally:
        for i, (_, pipe) in enumerate(pipes):
            if i:
                pipe.store = _Unclosed()  # type: ignore[assignment]  # shared: closed once, by the first
            pipe.close()
    return 0


class _Unclosed:
    def close(self) -> None:
        pass


def _sharing(config: str, over: dict[str, Any], first: Pipeline) -> Pipeline:
    """A pipeline of ``config`` + ``over`` on ``first``'s store (what ``Pipeline.from_settings``
    builds, the store excepted)."""
    from rag.config import load_settings
    from rag.embed.base import build_embedder
    from rag.embed.batching import QueryBatcher
    from rag.embed.cache import CachedEmbedder
    from rag.generate.base import build_generator

    settings = load_settings(config, over, {})
    embedder: Any = build_embedder(settings.embed)
    if settings.embed.query_batch_wait_ms > 0:
        embedder = QueryBatcher(embedder, settings.embed.max_batch, settings.embed.query_batch_wait_ms)
    if settings.embed.cache:
        embedder = CachedEmbedder(embedder, settings.index_dir / "embed-cache.sqlite")
    return Pipeline(settings, embedder, first.store, build_generator(settings.generate))


if __name__ == "__main__":
    raise SystemExit(main())
