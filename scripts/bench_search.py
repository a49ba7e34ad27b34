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

Against another checkout (``--baseline-tree``, e.g. a worktree of main): that code runs in a child
process (this script with ``--serve``, its ``rag`` imported from the tree) on its own copy of the
index (``--baseline-index``: Edge locks its folder), interleaved question by question with the
variants here, each search timed inside its own process. ``--check-same`` then compares every
variant's rankings with the first one's (pages, order, rerank scores) on every question and round;
``--cold`` empties the reranker's per-text caches (:data:`rag.rerank_features` ``lru_cache`` s)
and the Edge store's items (``EdgeStore._items``) before every search, in every variant, so no
page is known from an earlier search;
``--scope folder`` searches the whole index (no document filter)::

    PYTHONPATH=. .venv/bin/python scripts/bench_search.py --index /tmp/ix --repeats 3 \\
        --baseline-tree /tmp/main-wt --baseline-index /tmp/ix-copy --check-same --no-stages
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from functools import partial
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


def questions(qa: Path, docs: Path, limit: int | None, scope: str = "doc") -> list[tuple[str, SearchFilter | None]]:
    """(question, its document's filter) for every question of ``qa`` whose document exists; with
    ``scope`` ``folder`` no filter (the whole index)."""
    out: list[tuple[str, SearchFilter | None]] = []
    for line in qa.read_text(encoding="utf-8").splitlines():
        if not line.strip():
            continue
        row = json.loads(line)
        doc = (docs / row["doc"]).resolve()
        if doc.exists():
            out.append((row["question"], SearchFilter(files=[str(doc)]) if scope == "doc" else None))
    return out[:limit] if limit else out


Ranking = list[tuple[str, int, float | None]]
"""A search's pages as (file, page, rerank score), best first."""


def empty_page_caches() -> None:
    """Empty every ``lru_cache`` of :mod:`rag.rerank_features` (the reranker's per-text values; on
    any checkout: found by attribute, not by name)."""
    import rag.rerank_features as rf

    for value in vars(rf).values():
        clear = getattr(value, "cache_clear", None)
        if callable(clear):
            clear()


def timed_search(pipe: Pipeline, q: str, flt: SearchFilter | None, cold: bool) -> tuple[float, Ranking]:
    """One search as a new question (its cached vector deleted first; per-text caches emptied
    when ``cold``): seconds and ranking."""
    forget(pipe, q)  # a new question to the embedding cache, as a user's: written, model run
    if cold:
        empty_page_caches()
        items = getattr(pipe.store, "_items", None)  # EdgeStore's items read since the last write
        if isinstance(items, dict):
            items.clear()
    t = time.perf_counter()
    found = pipe.search(q, k=SEARCH_K, flt=flt)
    seconds = time.perf_counter() - t
    return seconds, [(e.file, e.page, e.rerank_score) for e in found]


def serve(args: argparse.Namespace) -> int:
    """``--serve``: answer search requests on stdin (one JSON per line: question, files or null,
    cold) with one JSON line each (seconds, ranking) on stdout, on this process's ``rag``."""
    import rag

    over = {**parse_sets(args.set), "store.path": args.index}
    pipe = Pipeline.from_config(args.config, over, environ={})
    out = sys.stdout
    sys.stdout = sys.stderr  # nothing else may write on the reply channel
    try:
        print(json.dumps({"ready": str(Path(rag.__file__).resolve().parent.parent)}), file=out, flush=True)
        for line in sys.stdin:
            req = json.loads(line)
            flt = SearchFilter(files=req["files"]) if req["files"] is not None else None
            seconds, ranking = timed_search(pipe, req["q"], flt, req["cold"])
            print(json.dumps({"s": seconds, "ranking": ranking}), file=out, flush=True)
    finally:
        pipe.close()
    return 0


class Child:
    """A ``--serve`` process of this script on another checkout's ``rag``."""

    def __init__(self, tree: Path, index: str, config: str, sets: list[str]) -> None:
        env = {**os.environ, "PYTHONPATH": str(tree)}
        cmd = [sys.executable, str(Path(__file__).resolve()), "--serve", "--index", index, "--config", config]
        for s in sets:
            cmd += ["--set", s]
        self.proc = subprocess.Popen(cmd, cwd=tree, env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     text=True)
        ready = json.loads(self._line())
        if Path(ready["ready"]) != tree.resolve():
            raise SystemExit(f"the baseline child imported rag from {ready['ready']}, not {tree}")

    def _line(self) -> str:
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline()
        if not line:
            raise SystemExit(f"the baseline child exited (code {self.proc.wait()})")
        return line

    def search(self, q: str, flt: SearchFilter | None, cold: bool) -> tuple[float, Ranking]:
        assert self.proc.stdin is not None
        self.proc.stdin.write(json.dumps({"q": q, "files": flt.files if flt else None, "cold": cold}) + "\n")
        self.proc.stdin.flush()
        got = json.loads(self._line())
        return got["s"], [(f, p, s) for f, p, s in got["ranking"]]

    def close(self) -> None:
        if self.proc.stdin is not None:
            self.proc.stdin.close()
        self.proc.wait(timeout=60)


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


def stages(pipe: Pipeline, qs: list[tuple[str, SearchFilter | None]]) -> dict[str, list[float]]:
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
    request = QueryRequest(limit=plan.limit, query=Fusion.Rrf(k=RRF_K, weights=fusion_weights(branches)),  # type: ignore[arg-type]
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
    ap.add_argument("--scope", choices=["doc", "folder"], default="doc",
                    help="doc: each question within its document (as mmrag eval); folder: the whole index")
    ap.add_argument("--cold", action="store_true",
                    help="empty the reranker's per-text caches and the store's items before every search")
    ap.add_argument("--baseline-tree", type=Path, help="another checkout, run as the first variant in a child")
    ap.add_argument("--baseline-index", help="the baseline's own copy of --index (Edge locks a folder)")
    ap.add_argument("--baseline-set", action="append", default=[], help="key=value for the baseline child")
    ap.add_argument("--check-same", action="store_true",
                    help="compare every variant's rankings (pages, order, rerank scores) with the first one's")
    ap.add_argument("--serve", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--set", action="append", default=[], help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.INFO, stream=sys.stderr, format="%(asctime)s %(message)s")
    if args.serve:
        return serve(args)
    if args.baseline_tree and not args.baseline_index:
        ap.error("--baseline-tree needs --baseline-index (a copy of --index)")
    qs = questions(Path(args.qa), Path(args.docs), args.limit, args.scope)
    load = os.getloadavg()
    print(f"machine: {os.cpu_count()} CPUs; load average at the start {load[0]:.2f}, {load[1]:.2f}, {load[2]:.2f}; "
          f"{len(qs)} questions, {args.repeats} rounds, scope {args.scope}{', cold page caches' if args.cold else ''}")
    pipes: list[tuple[str, Pipeline]] = []
    child: Child | None = None
    runners: list[tuple[str, Callable[[str, SearchFilter | None], tuple[float, Ranking]]]] = []
    try:
        if args.baseline_tree:
            child = Child(args.baseline_tree, str(Path(args.baseline_index).resolve()), args.config, args.baseline_set)
            child.search(qs[0][0], qs[0][1], False)  # warm-up
            runners.append((f"baseline {args.baseline_tree.name}", partial(_child_search, child, cold=args.cold)))
        for spec in args.variants:
            name, _, rest = spec.partition(":")
            over = {**parse_sets([p for p in rest.split(",") if p]), "store.path": args.index}
            # One store for every variant: Edge locks its folder, and the index is the same.
            pipe = Pipeline.from_config(args.config, over, environ={}) if not pipes else _sharing(
                args.config, over, pipes[0][1])
            pipe.search(qs[0][0], k=SEARCH_K, flt=qs[0][1])  # warm-up: model, Kiwi, caches of the engine
            pipes.append((name, pipe))
            runners.append((name, partial(timed_search, pipe, cold=args.cold)))
        per: dict[str, list[list[float]]] = {name: [[] for _ in qs] for name, _ in runners}
        rankings: dict[str, list[list[Ranking]]] = {name: [[] for _ in qs] for name, _ in runners}
        for r in range(args.repeats):
            log.info("round %d/%d", r + 1, args.repeats)
            for i, (q, flt) in enumerate(qs):
                for name, run in runners:
                    seconds, ranking = run(q, flt)
                    per[name][i].append(seconds)
                    rankings[name][i].append(ranking)
        # round 1 apart: each question's first search, before any repeat of it warmed a cache
        print("\n| variant | p50 ms | p95 ms | mean ms | vs first | round 1 p50 ms |\n|---|---:|---:|---:|---:|---:|")
        first = None
        for name, _ in runners:
            med = [statistics.median(v) for v in per[name]]
            p50 = statistics.median(med)
            first = first or p50
            print(f"| {name} | {1000 * p50:.2f} | {1000 * _p95(med):.2f} | {1000 * statistics.mean(med):.2f} | "
                  f"{first / p50:.2f}x | {1000 * statistics.median(v[0] for v in per[name]):.2f} |")
        if args.check_same:
            ref = runners[0][0]
            for name, _ in runners[1:]:
                differ = [i for i in range(len(qs)) for a, b in zip(rankings[ref][i], rankings[name][i], strict=True)
                          if a != b]
                pages = [i for i in range(len(qs)) for a, b in zip(rankings[ref][i], rankings[name][i], strict=True)
                         if [x[:2] for x in a] != [x[:2] for x in b]]
                print(f"\nsame results, {name} vs {ref}: {len(qs) * args.repeats - len(differ)} of "
                      f"{len(qs) * args.repeats} searches identical (pages, order, rerank scores); "
                      f"{len(set(pages))} questions with other pages or order, {len(set(differ))} with any difference")
                for i in sorted(set(differ))[:5]:
                    print(f"  differs: {qs[i][0][:70]!r}")
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
        if child is not None:
            child.close()
        for i, (_, pipe) in enumerate(pipes):
            if i:
                pipe.store = _Unclosed()  # type: ignore[assignment]  # shared: closed once, by the first
            pipe.close()
    return 0


def _child_search(child: Child, q: str, flt: SearchFilter | None, cold: bool) -> tuple[float, Ranking]:
    return child.search(q, flt, cold)


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
