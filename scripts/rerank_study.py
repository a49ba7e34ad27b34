"""Fit the ``features`` reranker's weights on the dev split, with cross-validation over documents.

``collect`` runs the real search of every answerable question with evidence pages within its
document (``k`` 30, as ``mmrag eval`` asks) and keeps the reranker's pool: each page's
:class:`~rag.rerank_features.Candidate` (branch ranks, page item, cosine, text) in fused order.
``fit`` computes :data:`~rag.rerank_features.FEATURES`, fits a pairwise logistic model (every
gold page against every other page of its pool, L2, plain numpy gradient descent), reports
held-out page recall@5 / MRR / recall@10 over ``--folds`` folds of documents (fit on the others),
and with ``--write`` fits on every question and writes the weights file.

    python scripts/rerank_study.py collect ../shared/eval/qa.jsonl --docs ../shared/eval/pdfs \\
        --index IX --out pool.pkl
    python scripts/rerank_study.py fit pool.pkl [--folds 5] [--write rag/rerank_weights.json]

Dev split only: the other set is never read here.
"""

from __future__ import annotations

import argparse
import json
import logging
import pickle
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from study_cli import study_parser  # the sibling module: scripts run as files

from rag.eval import metrics as m
from rag.eval.dataset import load_qa
from rag.records import Evidence, SearchFilter
from rag.rerank import FeatureReranker, LinearWeights, RerankContext
from rag.rerank_features import FEATURES, QueryTerms, feature_matrix

log = logging.getLogger("rerank_study")

POOL_K = 30  # mmrag eval's search k: min(100, depth 10 * overfetch 3)


class _Recorder(FeatureReranker):
    """Keeps each pool's candidates and leaves the fused order as it is."""

    def __init__(self, embedder: Any) -> None:
        n = len(FEATURES)
        super().__init__(embedder, LinearWeights(np.zeros(n), np.zeros(n), np.ones(n)))
        self.last: list[Any] = []

    def rerank_in(self, query: str, evidence: list[Evidence], context: RerankContext) -> list[Evidence]:
        self.last = self.candidates(query, evidence, context)
        return list(evidence)


def collect(args: argparse.Namespace) -> None:
    from rag.pipeline import Pipeline

    items = [i for i in load_qa(args.qa, args.limit) if i.answerable and i.pages]
    out: dict[str, Any] = {"questions": []}
    # the profile's own reranker is not built: its weights may be for other features than these
    with Pipeline.from_config(args.config, {"store.path": args.index, "retrieve.rerank": "none"}) as pipe:
        rec = _Recorder(pipe.embedder)
        pipe.retriever.reranker = rec
        for n, item in enumerate(items):
            doc = str((Path(args.docs) / item.doc).resolve())
            for scope in args.scopes.split(","):
                pipe.retriever.retrieve(item.question, k=POOL_K,
                                        flt=SearchFilter(files=[doc]) if scope == "doc" else None)
                out["questions"].append({"id": item.id, "doc": item.doc, "path": doc, "scope": scope,
                                         "question": item.question, "pages": list(item.pages),
                                         "type": list(item.evidence_type), "candidates": rec.last})
            if n % 25 == 0:
                log.info("%d / %d", n, len(items))
    Path(args.out).write_bytes(pickle.dumps(out))


# ------------------------------------------------------------------------------------ fitting


Row = tuple[np.ndarray, np.ndarray, list[int], list[int], str, bool, str]
"""One pool: features, labels, pool pages, gold pages, document, FinanceBench?, scope."""


def _matrices(data: dict[str, Any], scopes: Sequence[str] = ("doc",)) -> list[Row]:
    """(features, labels, pool pages, gold pages, doc, FinanceBench?, scope) per question and scope."""
    rows = []
    for q in data["questions"]:
        if q.get("scope", "doc") not in scopes:
            continue
        cands = q["candidates"]
        x = feature_matrix(QueryTerms.of(q["question"]), cands)
        # a page of another file never counts (whole-folder pools): -1 - its rank, as mmrag eval ranks it
        pages = [c.page if c.file == q.get("path", c.file) else -1 - i for i, c in enumerate(cands)]
        y = np.array([p in q["pages"] for p in pages], dtype=np.float64)
        rows.append((x, y, pages, q["pages"], q["doc"], q["id"].startswith("financebench"), q.get("scope", "doc")))
    return rows


LAMBDA_ROUNDS = 0
"""Refits after the first (``--rounds``; 0: none, the dev split gained nothing from them), each
weighing a pair by how much swapping it moves recall@5 and NDCG under the previous fit
(LambdaRank's idea), so the fit spends itself on the top 5."""
_OPTS = {"rounds": LAMBDA_ROUNDS}


def fit_pairwise(rows: Sequence[Row], l2: float,
                 steps: int = 400, lr: float = 0.5, rounds: int | None = None) -> LinearWeights:
    """Pairwise logistic (gold page above each other page of the same pool), standardised
    features, L2 ``l2``; each question weighs the same; ``rounds`` lambda-weighted refits."""
    rounds = _OPTS["rounds"] if rounds is None else rounds
    allx = np.concatenate([r[0] for r in rows])
    mean = allx.mean(axis=0)
    scale = allx.std(axis=0)
    scale[scale < 1e-9] = 1.0
    pairs = []
    for x, y, *_ in rows:
        pos, neg = np.flatnonzero(y > 0), np.flatnonzero(y == 0)
        if len(pos) and len(neg):
            z = (x - mean) / scale
            pairs.append((z, pos, neg))
    w = np.zeros(allx.shape[1])
    for r in range(rounds + 1):
        diffs, qw = [], []
        for z, pos, neg in pairs:
            d = (z[pos][:, None, :] - z[neg][None, :, :]).reshape(-1, z.shape[1])  # (p*n, F)
            if r == 0:
                lam = np.ones(len(d))
            else:
                rank = np.empty(len(z))
                rank[np.argsort(-(z @ w), kind="stable")] = np.arange(1, len(z) + 1)
                gain = (rank <= 5) + 1.0 / np.log2(1.0 + rank)
                lam = np.abs(gain[pos][:, None] - gain[neg][None, :]).reshape(-1) + 1e-3
            diffs.append(d)
            qw.append(lam / lam.sum())
        d = np.concatenate(diffs)
        sw = np.concatenate(qw)
        sw /= sw.sum()
        for _ in range(steps):
            margin = d @ w
            p = 1.0 / (1.0 + np.exp(margin))  # d loss / d margin = -sigmoid(-margin)
            grad = -(d * (p * sw)[:, None]).sum(axis=0) + l2 * w
            w -= lr * grad
    return LinearWeights(w, mean, scale)


def _score_rows(rows: Sequence[Row],
                weights: LinearWeights | None) -> dict[str, float]:
    r5 = mrr = r10 = 0.0
    for x, _y, pages, gold, *_ in rows:
        if weights is None:
            order = list(range(len(pages)))
        else:
            s = weights.score(x)
            order = sorted(range(len(pages)), key=lambda i: -s[i])
        ranked = [pages[i] for i in order][:10]
        r5 += m.recall_at_k(ranked, gold, 5)
        r10 += m.recall_at_k(ranked, gold, 10)
        mrr += m.reciprocal_rank(ranked, gold)
    n = len(rows)
    return {"n": n, "r5": r5 / n, "mrr": mrr / n, "r10": r10 / n}


def cross_validate(rows: list[Row], folds: int, l2: float, only: Sequence[int] | None = None,
                   repeats: int = 1, train_scopes: Sequence[str] = ("doc",)) -> dict[str, dict[str, float]]:
    """Held-out scores per scope: documents split into ``folds`` groups (sorted names, round
    robin; each further repeat shuffles the documents with a fixed seed), a model fitted on the
    other groups' pools of ``train_scopes`` scores each held-out pool; means over repeats."""
    docs = sorted({r[4] for r in rows})
    scored: list[tuple[Row, LinearWeights]] = []
    for rep in range(repeats):
        order = docs if rep == 0 else list(np.random.default_rng(rep).permutation(docs))
        fold_of = {d: i % folds for i, d in enumerate(order)}
        for f in range(folds):
            train = [r for r in rows if fold_of[r[4]] != f and r[6] in train_scopes]
            test = [r for r in rows if fold_of[r[4]] == f]
            w = fit_pairwise(_subset(train, only), l2)
            scored += [(r, w) for r in _subset(test, only)]
    out: dict[str, dict[str, float]] = {}
    for scope in sorted({r[6] for r, _ in scored}):
        mine = [(r, w) for r, w in scored if r[6] == scope]
        res = {"r5": 0.0, "mrr": 0.0, "r10": 0.0}
        for r, w in mine:
            one = _score_rows([r], w)
            for k in res:
                res[k] += one[k] / len(mine)
        fb = [(r, w) for r, w in mine if r[5]]
        if fb:
            res["fb_r5"] = sum(_score_rows([r], w)["r5"] for r, w in fb) / len(fb)
        out[scope] = {"n": len(mine) // repeats, **res}
    return out


def _subset(rows: list[Row], only: Sequence[int] | None) -> list[Row]:
    if only is None:
        return rows
    return [(r[0][:, list(only)], *r[1:]) for r in rows]


def fit(args: argparse.Namespace) -> None:
    data = pickle.loads(Path(args.pool).read_bytes())
    rows = _matrices(data, ("doc", "corpus"))
    train_scopes = tuple(args.train_scopes.split(","))
    train = [r for r in rows if r[6] in train_scopes]
    for scope in sorted({r[6] for r in rows}):
        mine = [r for r in rows if r[6] == scope]
        print(f"{scope}: {len(mine)} questions, {len({r[4] for r in mine})} documents; pool recall@30 "
              f"{np.mean([m.recall_at_k(r[2], r[3], 30) for r in mine]):.3f}; fused order:",
              _fmt(_score_rows(mine, None)),
              f"(FinanceBench r5 {_score_rows([r for r in mine if r[5]], None)['r5']:.3f})")
    print(f"trained on {', '.join(train_scopes)} pools")
    cv: dict[str, dict[str, float]] = {}
    for l2 in args.l2:
        cv = cross_validate(rows, args.folds, l2, repeats=args.repeats, train_scopes=train_scopes)
        for scope, scores in cv.items():
            print(f"held-out {scope} ({args.folds} folds by document, {args.repeats} repeats), l2 {l2}:",
                  _fmt(scores))
    if args.ablate:
        base = cross_validate(rows, args.folds, args.l2[0], repeats=args.repeats, train_scopes=train_scopes)
        for j, name in enumerate(FEATURES):
            keep = [i for i in range(len(FEATURES)) if i != j]
            less = cross_validate(rows, args.folds, args.l2[0], keep, args.repeats, train_scopes)
            print(f"  without {name:15s} " + "  ".join(
                f"{s} r5 {less[s]['r5']:.3f} ({less[s]['r5'] - base[s]['r5']:+.3f})" for s in less))
    w = fit_pairwise(train, args.l2[0])
    for scope in sorted({r[6] for r in rows}):
        mine = [r for r in rows if r[6] == scope]
        print(f"in-sample {scope}:", _fmt(_score_rows(mine, w)),
              f"(FinanceBench r5 {_score_rows([r for r in mine if r[5]], w)['r5']:.3f})")
    for name, wj in sorted(zip(FEATURES, w.weights, strict=True), key=lambda t: -abs(t[1])):
        print(f"  {name:15s} {wj:+.3f}")
    if args.write:
        # the file model from one-file pools, the folder model from both (it learns file_share)
        models: dict[str, dict[str, list[float]]] = {}
        held: dict[str, dict[str, Any]] = {}
        for model, scopes, scope in (("file", ("doc",), "doc"), ("folder", ("doc", "corpus"), "corpus")):
            fitted = fit_pairwise([r for r in rows if r[6] in scopes], args.l2[0])
            one = cross_validate(rows, args.folds, args.l2[0], repeats=args.repeats, train_scopes=scopes)[scope]
            held[model] = {"trained_on": list(scopes), "scored_on": scope, **{k: round(v, 4) for k, v in one.items()}}
            models[model] = {key: [round(float(v), 6) for v in arr] for key, arr in
                             (("weights", fitted.weights), ("mean", fitted.mean), ("scale", fitted.scale))}
            print(f"{model} model, held-out {scope}:", _fmt(one))
        Path(args.write).write_text(json.dumps({
            "about": "features reranker (rag/rerank.py): pairwise logistic over rag/rerank_features.FEATURES, "
                     "fitted by scripts/rerank_study.py on the dev split only (../shared/eval/qa.jsonl); "
                     "file: pools of one file's pages, folder: whole-folder pools",
            "l2": args.l2[0], "questions": sum(1 for r in rows if r[6] == "doc"),
            "held_out": {"folds": args.folds, "repeats": args.repeats, **held},
            "features": list(FEATURES), "models": models,
        }, indent=1) + "\n", encoding="utf-8")
        print("wrote", args.write)


def _fmt(r: dict[str, float]) -> str:
    fb = f" (FinanceBench r5 {r['fb_r5']:.3f})" if "fb_r5" in r else ""
    return f"n={r['n']} r5 {r['r5']:.3f} mrr {r['mrr']:.3f} r10 {r['r10']:.3f}{fb}"


def main(argv: Sequence[str] | None = None) -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    ap, sub = study_parser(__doc__)
    f = sub.add_parser("fit")
    f.add_argument("pool")
    f.add_argument("--folds", type=int, default=5)
    f.add_argument("--l2", type=float, nargs="+", default=[0.01])
    f.add_argument("--repeats", type=int, default=4)
    f.add_argument("--rounds", type=int, default=LAMBDA_ROUNDS)
    f.add_argument("--ablate", action="store_true")
    f.add_argument("--write", default=None)
    f.add_argument("--train-scopes", default="doc", help="pools fitted on: doc, corpus or doc,corpus")
    sub.choices["collect"].add_argument("--scopes", default="doc,corpus")
    args = ap.parse_args(argv)
    if args.cmd == "fit":
        _OPTS["rounds"] = args.rounds
    {"collect": collect, "fit": fit}[args.cmd](args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
