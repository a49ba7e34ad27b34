"""Dump each retrieval branch's ranking per question, then score fusion variants offline.

``collect`` runs every branch of the pipeline's query plan on its own (one store call per branch,
raw scores kept) for each answerable question with evidence pages, within its document and over the
whole index, and pickles the hits. ``score`` replays fusion variants on those rankings (weighted
RRF with several constants, page-level RRF, score-normalised sums) and prints page recall@5 / MRR
as ``mmrag eval`` counts them (grouped by page, depth 10). Dev split only: the chosen setting is
then confirmed with a real ``mmrag eval`` run.

    python scripts/fusion_study.py collect QA.jsonl --docs DIR --index IX --out hits.pkl
    python scripts/fusion_study.py score hits.pkl
"""

from __future__ import annotations

import argparse
import itertools
import logging
import pickle
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from study_cli import study_parser  # the sibling module: scripts run as files

from rag.eval import metrics as m
from rag.eval.dataset import load_qa
from rag.records import SearchFilter

log = logging.getLogger("fusion_study")

BRANCHES = ("text", "image", "sparse", "pages")
DEPTH = {"doc": 120, "corpus": 300}
PAGES_K = 30  # mmrag eval: min(100, depth 10 * overfetch 3)


def _branch_name(p: Any) -> str:
    if p.pages:
        return "pages"
    if p.using == "sparse":
        return "sparse"
    return "image" if "figure" in p.kinds else "text"


def collect(args: argparse.Namespace) -> None:
    from rag.pipeline import Pipeline

    items = load_qa(args.qa, args.limit)
    docs = {i.doc: str((Path(args.docs) / i.doc).resolve()) for i in items}
    out: dict[str, Any] = {"items": [i.model_dump() for i in items], "hits": {},
                           "doc_paths": {i.id: docs[i.doc] for i in items}}
    with Pipeline.from_config(args.config, {"store.path": args.index}) as pipe:
        r = pipe.retriever
        out["files"] = pipe.store.files()
        from rag.doc_stage import DocumentStage

        stage = DocumentStage(pipe.embedder, pipe.store)
        out["doc_signals"] = {}
        for n, item in enumerate(items):
            per: dict[str, dict[str, list[tuple[str, str, int, str, float]]]] = {}
            for scope in ("doc", "corpus"):
                flt = SearchFilter(files=[docs[item.doc]]) if scope == "doc" else None
                plan = r.plan(item.question, PAGES_K, flt)
                per[scope] = {}
                for b in plan.prefetch:
                    deep = b.model_copy(update={"limit": DEPTH[scope]})
                    hits = pipe.store.query(plan.model_copy(update={"prefetch": [deep], "limit": DEPTH[scope]}))
                    per[scope][_branch_name(b)] = [(h.id, h.item.file, h.item.page, h.item.kind, h.score)
                                                   for h in hits]
            out["hits"][item.id] = per
            qv = pipe.embedder.embed_queries([item.question])[0].tolist()
            files, sig = stage.signals(item.question, qv, {})
            out["doc_signals"][item.id] = (files, {k: v.tolist() for k, v in sig.items() if k != "votes"})
            if n % 20 == 0:
                log.info("%d / %d", n, len(items))
    Path(args.out).write_bytes(pickle.dumps(out))


# ------------------------------------------------------------------------------------ scoring

Ranked = list[tuple[str, str, int, str, float]]


def rrf(branches: dict[str, Ranked], weights: dict[str, float], k: float,
        depth: dict[str, int]) -> list[tuple[str, int]]:
    """Item-level weighted RRF (as the store does), then (file, page) in fused order."""
    return [(f, p) for f, p, _ in rrf_scored(branches, weights, k, depth)]


def rrf_scored(branches: dict[str, Ranked], weights: dict[str, float], k: float,
               depth: dict[str, int]) -> list[tuple[str, int, float]]:
    """Item-level weighted RRF: (file, page, fused score) of each item, best first."""
    score: dict[str, float] = {}
    where: dict[str, tuple[str, int]] = {}
    for name, hits in branches.items():
        w = weights.get(name, 1.0)
        for rank, (pid, file, page, _kind, _s) in enumerate(hits[:depth.get(name, 40)]):
            score[pid] = score.get(pid, 0.0) + w / (k + rank + 1)
            where[pid] = (file, page)
    order = sorted(score, key=lambda p: -score[p])
    return [(*where[p], score[p]) for p in order]


def page_rrf(branches: dict[str, Ranked], weights: dict[str, float], k: float,
             depth: dict[str, int]) -> list[tuple[str, int]]:
    """Each branch first becomes a page ranking (a page at its best item's rank), then RRF over pages."""
    score: dict[tuple[str, int], float] = {}
    for name, hits in branches.items():
        w = weights.get(name, 1.0)
        seen: list[tuple[str, int]] = []
        for (_pid, file, page, _kind, _s) in hits[:depth.get(name, 40)]:
            if (file, page) not in seen:
                seen.append((file, page))
        for rank, key in enumerate(seen):
            score[key] = score.get(key, 0.0) + w / (k + rank + 1)
    return sorted(score, key=lambda p: -score[p])


def _pages(pairs: Sequence[tuple[str, int]], cap: int | None) -> list[tuple[str, int]]:
    """Distinct (file, page) in order, at most ``PAGES_K``, at most ``cap`` per file first."""
    seen = list(dict.fromkeys(pairs))
    if cap is None:
        return seen[:PAGES_K]
    chosen, per = [], {}
    for key in seen:
        if len(chosen) < PAGES_K and per.get(key[0], 0) < cap:
            chosen.append(key)
            per[key[0]] = per.get(key[0], 0) + 1
    for key in seen:
        if len(chosen) >= PAGES_K:
            break
        if key not in chosen:
            chosen.append(key)
    rank = {k: i for i, k in enumerate(seen)}
    return sorted(chosen, key=lambda k: rank[k])


def evaluate(data: dict[str, Any], scope: str, fuse: Callable[[dict[str, Ranked]], list[tuple[str, int]]],
             ids: set[str] | None = None) -> dict[str, float]:
    rows = []
    for it in data["items"]:
        if not (it["answerable"] and it["pages"]) or (ids is not None and it["id"] not in ids):
            continue
        br = data["hits"][it["id"]][scope]
        pairs = _pages(fuse(br), 15 if scope == "corpus" else None)
        doc = data["doc_paths"][it["id"]]
        ranked = [p if f == doc else -1 - i for i, (f, p) in enumerate(pairs)][:10]
        rows.append((m.recall_at_k(ranked, it["pages"], 5), m.reciprocal_rank(ranked, it["pages"]),
                     m.recall_at_k(ranked, it["pages"], 10)))
    n = len(rows)
    return {"n": n, "r5": sum(r[0] for r in rows) / n, "mrr": sum(r[1] for r in rows) / n,
            "r10": sum(r[2] for r in rows) / n}


def score(args: argparse.Namespace) -> None:
    data = pickle.loads(Path(args.hits).read_bytes())
    depth = {"text": 40, "image": 40, "sparse": 40, "pages": 40}
    for scope in ("doc", "corpus"):
        print(f"== {scope}")
        base = evaluate(data, scope, lambda b: rrf(b, {}, 2, depth))
        print("store default (RRF k=2, w=1, depth 40):", fmt(base))
        for name in ("text", "image", "sparse"):
            alone = evaluate(data, scope, lambda b, n=name: rrf({n: b.get(n, [])}, {}, 2, depth))
            print(f"  {name} alone:", fmt(alone))
        results = []
        grid = [0.5, 1.0, 1.5, 2.0]
        for k in (1, 2, 5, 10, 30, 60):
            for wt, wi, ws in itertools.product(grid, grid, grid):
                w = {"text": wt, "image": wi, "sparse": ws, "pages": 1.0}
                for kind, fn in (("item", rrf), ("page", page_rrf)):
                    res = evaluate(data, scope, lambda b, w=w, k=k, fn=fn: fn(b, w, k, depth))
                    results.append((res["r5"], res["mrr"], kind, k, wt, wi, ws))
        results.sort(reverse=True)
        for r in results[:15]:
            print(f"  {r[2]:4s} k={r[3]:<3d} w(text,image,sparse)=({r[4]},{r[5]},{r[6]}): r5 {r[0]:.3f} mrr {r[1]:.3f}")


def corpus_study(data: dict[str, Any], weights: dict[str, float], k: float) -> None:
    """Document prior variants over the whole-corpus rankings."""
    import numpy as np

    from rag.doc_stage import mix

    deep = {b: 300 for b in BRANCHES}
    items = [it for it in data["items"] if it["answerable"] and it["pages"]]

    def run(sig_w: dict[str, float], boost: float, top: int, fused_depth: int = 120) -> dict[str, float]:
        r5 = mrr = dochit = doc1 = 0.0
        for it in items:
            br = data["hits"][it["id"]]["corpus"]
            fused = rrf_scored(br, weights, k, deep)
            files, sig = data["doc_signals"][it["id"]]
            index = {f: i for i, f in enumerate(files)}
            v = np.zeros(len(files))
            for rank, (f, _p, _s) in enumerate(fused[:fused_depth], start=1):
                v[index[f]] += 1.0 / (2 + rank)
            signals = {"name": np.array(sig["name"]), "dense": np.array(sig["dense"]), "votes": v}
            prior = dict(zip(files, mix(signals, sig_w).tolist(), strict=True)) if boost or top else {}
            best = sorted(prior, key=lambda f: -prior[f])[:top] if top else []
            pool = fused if (boost or top) else fused[:fused_depth]
            rescored = sorted(((f, p, sc + boost * prior.get(f, 0.0) + (10.0 if f in best else 0.0))
                               for f, p, sc in pool), key=lambda x: -x[2])
            if not (boost or top):
                rescored = pool
            pairs = _pages([(f, p) for f, p, _ in rescored[:fused_depth]], 15)
            doc = data["doc_paths"][it["id"]]
            ranked = [p if f == doc else -1 - i for i, (f, p) in enumerate(pairs)][:10]
            r5 += m.recall_at_k(ranked, it["pages"], 5)
            mrr += m.reciprocal_rank(ranked, it["pages"])
            dochit += float(any(f == doc for f, _ in pairs[:5]))
            if prior:
                doc1 += float(max(prior, key=lambda f: prior[f]) == doc)
        n = len(items)
        return {"r5": r5 / n, "mrr": mrr / n, "doc@5": dochit / n, "doc1": doc1 / n}

    print("corpus, no document stage:", run({}, 0.0, 0))
    rows = []
    for wn, wd, wv in itertools.product([0, 1, 2], [0, 1, 2], [0, 1, 2]):
        if not (wn or wd or wv):
            continue
        sw = {"name": wn, "dense": wd, "votes": wv}
        for boost, top in [(0.1, 0), (0.3, 0), (1.0, 0), (0.0, 1), (0.0, 2), (0.0, 3), (0.3, 2)]:
            res = run(sw, boost, top)
            rows.append((res["r5"], res["doc@5"], res["doc1"], res["mrr"], wn, wd, wv, boost, top))
    rows.sort(reverse=True)
    for r in rows[:20]:
        print(f"  w(name,dense,votes)=({r[4]},{r[5]},{r[6]}) boost {r[7]} top {r[8]}: "
              f"r5 {r[0]:.3f} doc@5 {r[1]:.3f} doc@1 {r[2]:.3f} mrr {r[3]:.3f}")


def fmt(r: dict[str, float]) -> str:
    return f"n={r['n']} r5 {r['r5']:.3f} mrr {r['mrr']:.3f} r10 {r['r10']:.3f}"


def main(argv: Sequence[str] | None = None) -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    ap, sub = study_parser(__doc__)
    s = sub.add_parser("score")
    s.add_argument("hits")
    d = sub.add_parser("docs")
    d.add_argument("hits")
    d.add_argument("--k", type=float, default=2)
    d.add_argument("--w", default="1,1,1,1", help="text,image,sparse,pages")
    args = ap.parse_args(argv)
    if args.cmd == "docs":
        w = dict(zip(BRANCHES, (float(x) for x in args.w.split(",")), strict=True))
        corpus_study(pickle.loads(Path(args.hits).read_bytes()), w, args.k)
        return 0
    {"collect": collect, "score": score}[args.cmd](args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
