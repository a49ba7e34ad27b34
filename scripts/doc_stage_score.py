"""Offline scoring of document-stage variants on the data ``doc_stage_study.py collect`` wrote
(``doc_stage_study.py score DATA --index IX --what add|cv|cvw|logit|misses|k|div|lang|per|kind|kindlen|hub|
hubfloor|tail|spread``).
:func:`fuse` replays :func:`rag.retrieve.fuse_pages` and :func:`rag.retrieve.group_by_page` as
``mmrag eval`` runs them; :func:`current_prior` is :meth:`rag.doc_stage.DocumentStage.prior`."""

from __future__ import annotations

import argparse
import math
import pickle
from collections import Counter, defaultdict
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ingest.text.tokens import doc_terms, name_words
from rag.doc_stage import NAME_REPEAT, PROFILE_CHARS, PROFILE_CHUNKS, Profile, bm25_over, bm25_scores, mix
from rag.eval import metrics as m
from rag.eval.scoring import corpus_ranking

EVAL_K = 30
KIND_PAGES = 8  # page sizes sampled per file for the slide verdict (rag.doc_stage.KIND_PAGES)
CAP = 15
DEPTH = 10

Hits = list[tuple[str, str, int, str, float]]


def fuse(lists: Sequence[tuple[str, Hits]], weights: Mapping[str, float], rrf_k: float,
         prior: Mapping[str, float] | None, boost: float,
         shape: Callable[[str, int], float] | None = None) -> list[tuple[str, int]]:
    """:func:`rag.retrieve.fuse_pages` then :func:`rag.retrieve.group_by_page` (k 30, cap 15):
    the (file, page) order the Retriever returns."""
    score: dict[tuple[str, int], float] = {}
    first: dict[tuple[str, int], int] = {}
    for name, hits in lists:
        w = weights.get(name, 1.0)
        pages: dict[tuple[str, int], None] = {}
        for h in hits:
            key = (h[1], h[2])
            pages.setdefault(key, None)
            first.setdefault(key, len(first))
        for rank, key in enumerate(pages, start=1):
            score[key] = score.get(key, 0.0) + w / (rrf_k + rank)
    if prior and boost:
        for key in score:
            score[key] += boost * prior.get(key[0], 0.0)
    order = sorted(score, key=lambda key: (-score[key], first[key]))
    chosen: list[tuple[str, int]] = []
    per: dict[str, int] = {}
    for key in order:
        if len(chosen) < EVAL_K and per.get(key[0], 0) < CAP:
            chosen.append(key)
            per[key[0]] = per.get(key[0], 0) + 1
    for key in order:
        if len(chosen) >= EVAL_K:
            break
        if key not in chosen:
            chosen.append(key)
    rank = {k: i for i, k in enumerate(order)}
    return sorted(chosen, key=lambda k: rank[k])


def page_scores(lists: Sequence[tuple[str, Hits]], weights: Mapping[str, float],
                rrf_k: float) -> dict[tuple[str, int], float]:
    score: dict[tuple[str, int], float] = {}
    for name, hits in lists:
        w = weights.get(name, 1.0)
        pages = list(dict.fromkeys((h[1], h[2]) for h in hits))
        for rank, key in enumerate(pages, start=1):
            score[key] = score.get(key, 0.0) + w / (rrf_k + rank)
    return score


class Data:
    """The collected data with per-file structures for signals."""

    def __init__(self, raw: dict[str, Any], embed: Callable[[list[str]], np.ndarray] | None) -> None:
        self.raw = raw
        self.cfg = raw["cfg"]
        self.items = [it for it in raw["items"] if it["answerable"] and it["pages"]]
        self.files: list[str] = sorted({p[1] for p in raw["points"]})
        self.index = {f: i for i, f in enumerate(self.files)}
        pts = raw["points"]
        vec = raw["vectors"]
        by_file: dict[str, list[int]] = defaultdict(list)
        for i, p in enumerate(pts):
            by_file[p[1]].append(i)
        self.by_file = by_file
        # shipped profile: file name words + first PROFILE_CHUNKS chunks
        self.profiles: list[Profile] = []
        for f in self.files:
            chunks = sorted((pts[i][4], pts[i][5]) for i in by_file[f] if pts[i][3] == "text" and pts[i][4] is not None
                            and pts[i][4] < PROFILE_CHUNKS)
            body = " ".join(t for _, t in chunks)[:PROFILE_CHARS]
            name = name_words(f)
            terms = Counter(doc_terms(name) * NAME_REPEAT + doc_terms(body))
            self.profiles.append(Profile(f, f"{name}\n{body}", terms))
        self.prof_vec = embed([p.text for p in self.profiles]) if embed else None
        # whole-document text: page items where the page has one, else its chunks and tables
        self.doc_counts: list[Counter[str]] = []
        self.head_counts: list[Counter[str]] = []
        self.centroid = np.zeros((len(self.files), vec.shape[1]), dtype=np.float32)
        self.page_centroid = np.zeros_like(self.centroid)
        for fi, f in enumerate(self.files):
            idx = by_file[f]
            page_items = {pts[i][2]: pts[i][5] for i in idx if pts[i][3] == "page" and pts[i][5].strip()}
            texts = list(page_items.values())
            texts += [pts[i][5] for i in idx if pts[i][3] in ("text", "table") and pts[i][2] not in page_items]
            c: Counter[str] = Counter()
            for t in texts:
                c.update(doc_terms(t))
            self.doc_counts.append(c)
            heads = list(dict.fromkeys(h for i in idx for h in pts[i][6]))
            hc = Counter(doc_terms(" ".join(heads)))
            hc.update(doc_terms(name_words(f)) * NAME_REPEAT)
            self.head_counts.append(hc)
            tv = vec[[i for i in idx if pts[i][3] in ("text", "table")] or idx].mean(axis=0)
            self.centroid[fi] = tv / (np.linalg.norm(tv) or 1.0)
            pv_idx = [i for i in idx if pts[i][3] == "page"]
            pv = vec[pv_idx or idx].mean(axis=0)
            self.page_centroid[fi] = pv / (np.linalg.norm(pv) or 1.0)
        self.sig_cache: dict[str, dict[str, np.ndarray]] = {}
        self.n_pages = np.array([max(pts[i][2] for i in by_file[f]) for f in self.files])
        # what the shipped gate knows: page items per file, with slack for pages that have none
        self.page_items = np.array([sum(pts[i][3] == "page" for i in by_file[f]) for f in self.files])
        # document kinds (rag.doc_kind) from the name, the profile's first chunks and page sizes
        from rag.doc_kind import file_kinds

        dims = raw.get("page_dims", {})
        self.kinds = [file_kinds(name_words(f), p.text.split("\n", 1)[-1],
                                 [dims[k] for k in sorted(k for k in dims if k[0] == f)[:KIND_PAGES]])
                      for f, p in zip(self.files, self.profiles, strict=True)]

    def lists(self, qid: str) -> list[tuple[str, Hits, int]]:
        return [(n, hits, limit) for n, (limit, hits) in self.raw["hits"][qid].items()]

    def signals(self, it: dict[str, Any]) -> dict[str, np.ndarray]:
        qid = it["id"]
        if qid in self.sig_cache:
            return self.sig_cache[qid]
        q = it["question"]
        qv = self.raw["qvec"][qid]
        qt = doc_terms(q)
        n = len(self.files)
        out: dict[str, np.ndarray] = {"name": bm25_scores(qt, self.profiles), "pages": np.zeros(n)}
        if self.prof_vec is not None:
            out["dense"] = self.prof_vec @ qv
        lists = self.lists(qid)
        for name, hits, _ in lists:
            best = np.zeros(n)
            top: dict[int, list[float]] = defaultdict(list)
            for h in hits:
                i = self.index[h[1]]
                best[i] = max(best[i], h[4])
                top[i].append(h[4])
            out[name] = best
            for mm in (3, 10):
                v = np.zeros(n)
                for i, s in top.items():
                    s = sorted(s, reverse=True)[:mm]
                    v[i] = sum(s) / mm
                out[f"{name}_top{mm}"] = v
            cnt = np.zeros(n)
            for i, s in top.items():
                cnt[i] = len(s)
            out[f"{name}_count"] = cnt
        for b in (0.0, 0.3, 0.75):
            out[f"docbm25_b{b}"] = bm25_counts(qt, self.doc_counts, b=b)
        out["heads"] = bm25_counts(qt, self.head_counts, b=0.3)
        out["centroid"] = self.centroid @ qv
        out["page_centroid"] = self.page_centroid @ qv
        w = {str(k): v for k, v in self.cfg["branch_weights"].items()}
        ps = page_scores([(nm, h[:lim]) for nm, h, lim in lists], w, self.cfg["rrf_k"])
        for topn in (10, 30):
            v = np.zeros(n)
            for key, s in sorted(ps.items(), key=lambda kv: -kv[1])[:topn]:
                v[self.index[key[0]]] += s
            out[f"agree{topn}"] = v
        self.sig_cache[qid] = out
        return out


def bm25_counts(query_terms: Sequence[str], counts: Sequence[Counter[str]], k1: float = 1.2,
                b: float = 0.5) -> np.ndarray:
    """BM25 over whole documents' term counts (the stage's own BM25)."""
    return bm25_over(query_terms, counts, k1, b)


def evaluate(data: Data, prior_fn: Callable[[dict[str, Any]], dict[str, float] | None], boost: float,
             ids: set[str] | None = None, rrf_k: float | None = None) -> dict[str, float]:
    rows = []
    w = {str(k): v for k, v in data.cfg["branch_weights"].items()}
    k = data.cfg["rrf_k"] if rrf_k is None else rrf_k
    for it in data.items:
        if ids is not None and it["id"] not in ids:
            continue
        lists = data.lists(it["id"])
        prior = prior_fn(it)
        pairs = fuse([(n, h[:lim]) for n, h, lim in lists], w, k, prior, boost)[:DEPTH]
        doc = data.raw["doc_paths"][it["id"]]
        ranked = corpus_ranking(pairs, doc)
        top_prior = max(prior, key=lambda f: prior[f]) if prior else None
        rows.append((m.recall_at_k(ranked, it["pages"], 5), m.reciprocal_rank(ranked, it["pages"]),
                     m.document_hit_at_k(pairs, doc, 5), m.document_hit_at_k(pairs, doc, 5, distinct=True),
                     float(top_prior == doc), m.document_hit_at_k(pairs, doc, 1)))
    n = len(rows) or 1
    a = np.array(rows).sum(axis=0) / n
    return {"n": len(rows), "r5": a[0], "mrr": a[1], "doc5p": a[2], "doc5d": a[3], "prior1": a[4], "doc1": a[5]}


def fmt(r: Mapping[str, float]) -> str:
    return (f"n={r['n']} r5 {r['r5']:.3f} mrr {r['mrr']:.3f} doc@5 pages {r['doc5p']:.3f} docs {r['doc5d']:.3f} "
            f"doc@1 {r['doc1']:.3f} prior@1 {r['prior1']:.3f}")


def shipped_prior(data: Data, weights: Mapping[str, float]) -> Callable[[dict[str, Any]], dict[str, float]]:
    def fn(it: dict[str, Any]) -> dict[str, float]:
        sig = data.signals(it)
        return dict(zip(data.files, mix({k: sig[k] for k in ("name", "dense", "text", "image", "sparse") if k in sig},
                                        weights).tolist(), strict=True))
    return fn


def load(path: str, index: str | None) -> Data:
    raw = pickle.loads(Path(path).read_bytes())
    embed = None
    if index:
        from rag.pipeline import Pipeline

        pipe = Pipeline.from_config("cpu", {"store.path": index})
        embed = lambda texts: np.asarray(pipe.embedder.embed_texts(texts), dtype=np.float32)  # noqa: E731
    return Data(raw, embed)


def score(args: argparse.Namespace) -> None:
    data = load(args.data, args.index)
    cfg = data.cfg
    print("no prior:", fmt(evaluate(data, lambda it: None, 0.0)))
    print("before (fc01747):", fmt(evaluate(data, shipped_prior(data, cfg["doc_weights"]), cfg["doc_boost"])))
    print("folder18 (script rule, page gate):", fmt(evaluate(data, current_prior(data), cfg["doc_boost"])))
    print("now (doc18: + size discount, kinds):", fmt(evaluate(data, shipped_now(data), cfg["doc_boost"])))
    print("variant (word signals only help a file in another script):",
          fmt(evaluate(data, help_only_prior(data), cfg["doc_boost"])))
    studies: dict[str, Callable[[], None]] = {
        "add": lambda: add_one(data, args.folds),          # one more signal in the mix, in-sample
        "cv": lambda: cv_add_one(data, args.folds),        # the same, held-out over documents
        "cvw": lambda: cv_weights(data, args.folds),       # the five weights re-tuned per fold
        "logit": lambda: [study(data, args.folds, l2) for l2 in (0.01, 0.001)],  # conditional logit
        "misses": lambda: misses(data),                    # questions whose file is not in the top 5
        "k": lambda: grid_k(data),                         # rrf_k x boost
        "div": lambda: grid_div(data),                     # diversity among the first five pages
        "lang": lambda: grid_lang(data),                   # word signals dropped across scripts
        "per": lambda: per_question(data),                 # each question, prior on and off
        "kind": lambda: kind_study(data, args.folds),      # document kinds named by the question
        "kindlen": lambda: kind_length_study(data, args.folds),  # kinds and the named page's file length
        "tail": lambda: diversity_study(data, args.folds),  # places 6-10 for the prior's other files
        "hub": lambda: hub_study(data, args.folds),        # long files' best hits discounted
        "hubfloor": lambda: hub_floor_study(data, args.folds),  # ... only above a floor of items
        "spread": lambda: spread_study(data, args.folds),  # the last places for other likely files
        "prpages": lambda: prior_pages_study(data, args.folds),  # the prior's files' best deep pages as candidates
        "named": lambda: named_pages_study(data, args.folds),  # named pages in the prior's first files only
        "none": lambda: None,
    }
    studies[args.what]()


def rank_of(v: np.ndarray, i: int) -> int:
    return int((v > v[i]).sum()) + 1


def misses(data: Data) -> None:
    fn = current_prior(data)
    w = {str(k): v for k, v in data.cfg["branch_weights"].items()}
    keys = ["name", "dense", "text", "image", "sparse", "text_top3", "sparse_top3", "docbm25_b0.3", "heads",
            "centroid", "page_centroid", "agree30"]
    print("id doc | prior-rank " + " ".join(keys))
    tot = Counter()
    for it in data.items:
        doc = data.raw["doc_paths"][it["id"]]
        i = data.index[doc]
        prior = fn(it)
        pv = np.array([prior[f] for f in data.files])
        sig = data.signals(it)
        ranks = {k: rank_of(sig[k], i) for k in keys}
        for k in keys:
            tot[k] += ranks[k] <= 5
        tot["prior"] += rank_of(pv, i) <= 5
        tot["any signal"] += min(ranks.values()) <= 5
        tot["any signal first"] += min(ranks.values()) == 1
        lists = data.lists(it["id"])
        pairs = fuse([(n, h[:lim]) for n, h, lim in lists], w, data.cfg["rrf_k"], prior, data.cfg["doc_boost"])[:DEPTH]
        if not m.document_hit_at_k(pairs, doc, 5):
            print(f"{it['id'][:22]:22s} {Path(doc).name[:28]:28s} | {rank_of(pv, i):2d} "
                  + " ".join(f"{ranks[k]:2d}" for k in keys) + f" | {it['question'][:90]}")
    print("doc rank<=5 counts:", {k: round(v / len(data.items), 3) for k, v in tot.items()})


def standardize(v: np.ndarray) -> np.ndarray:
    """Per question over files: (s - mean) / std (0 where all equal)."""
    sd = float(v.std())
    return (v - v.mean()) / sd if sd > 1e-12 else np.zeros_like(v)


def feature_matrix(data: Data, it: dict[str, Any], feats: Sequence[str]) -> np.ndarray:
    sig = data.signals(it)
    return np.stack([standardize(np.asarray(sig[f], dtype=np.float64)) for f in feats], axis=1)  # (files, F)


def fit_logit(data: Data, items: Sequence[dict[str, Any]], feats: Sequence[str], l2: float = 0.1) -> np.ndarray:
    from scipy.optimize import minimize

    xs = [feature_matrix(data, it, feats) for it in items]
    gold = [data.index[data.raw["doc_paths"][it["id"]]] for it in items]

    def loss(w: np.ndarray) -> tuple[float, np.ndarray]:
        tot, grad = 0.0, np.zeros_like(w)
        for x, g in zip(xs, gold, strict=True):
            z = x @ w
            z -= z.max()
            p = np.exp(z)
            p /= p.sum()
            tot -= math.log(max(p[g], 1e-300))
            grad -= x[g] - p @ x
        n = len(xs)
        return tot / n + l2 * float(w @ w), grad / n + 2 * l2 * w

    res = minimize(loss, np.zeros(len(feats)), jac=True, method="L-BFGS-B")
    return res.x


def logit_prior(data: Data, feats: Sequence[str], w: np.ndarray, shape: str = "max"
                ) -> Callable[[dict[str, Any]], dict[str, float]]:
    def fn(it: dict[str, Any]) -> dict[str, float]:
        z = feature_matrix(data, it, feats) @ w
        z -= z.max()
        p = np.exp(z)
        if shape == "prob":
            p = p / p.sum()
        return dict(zip(data.files, p.tolist(), strict=True))
    return fn


def mean_of(res: dict[str, tuple[float, ...]], ids: set[str]) -> np.ndarray:
    """The mean of each metric over the questions ``ids`` (``res``: question id -> metrics)."""
    return np.array([res[i] for i in ids]).mean(axis=0)


def held_out(data: Data, folds: int, res: dict[Any, dict[str, tuple[float, ...]]],
             objective: Callable[[np.ndarray], float]) -> tuple[np.ndarray, list[tuple[set[str], Any]]]:
    """Each fold's questions scored by the candidate of ``res`` with the best ``objective`` on the
    other folds: the held-out mean metrics and each (fold, candidate chosen)."""
    all_ids = {it["id"] for it in data.items}
    held: list[tuple[float, ...]] = []
    chosen: list[tuple[set[str], Any]] = []
    for f in folds_by_doc(data, folds):
        best = max(res, key=lambda c: objective(mean_of(res[c], all_ids - f)))
        print(f"  fold ({len(f)} q): chose {best}")
        held.extend(res[best][i] for i in f)
        chosen.append((f, best))
    return np.array(held).mean(axis=0), chosen


def folds_by_doc(data: Data, k: int) -> list[set[str]]:
    docs = sorted({data.raw["doc_paths"][it["id"]] for it in data.items})
    rng = np.random.default_rng(18)
    rng.shuffle(docs)
    groups = [set(docs[i::k]) for i in range(k)]
    return [{it["id"] for it in data.items if data.raw["doc_paths"][it["id"]] in g} for g in groups]


def cv_logit(data: Data, feats: Sequence[str], boosts: Sequence[float], k: int, l2: float = 0.1,
             shape: str = "max") -> dict[str, float]:
    """Held-out numbers: weights fit and boost chosen on the other folds' documents."""
    folds = folds_by_doc(data, k)
    agg: list[tuple[dict[str, float], int]] = []
    for held in folds:
        train = [it for it in data.items if it["id"] not in held]
        w = fit_logit(data, train, feats, l2)
        fn = logit_prior(data, feats, w, shape)
        train_ids = {it["id"] for it in train}
        best = max(boosts, key=lambda b: objective(evaluate(data, fn, b, train_ids)))
        res = evaluate(data, fn, best, held)
        agg.append((res, res["n"]))
    n = sum(c for _, c in agg)
    out = {key: sum(r[key] * c for r, c in agg) / n for key in ("r5", "mrr", "doc5p", "doc5d", "prior1", "doc1")}
    out["n"] = n
    return out


def objective(r: Mapping[str, float]) -> float:
    return r["r5"] + 0.5 * r["doc5p"] + 0.5 * r["doc5d"]


FEATURE_SETS = {
    "shipped5": ["name", "dense", "text", "image", "sparse"],
    "+agree": ["name", "dense", "text", "image", "sparse", "agree30"],
    "+docbm25": ["name", "dense", "text", "image", "sparse", "docbm25_b0.3"],
    "+centroid": ["name", "dense", "text", "image", "sparse", "centroid", "page_centroid"],
    "+top3": ["name", "dense", "text", "image", "sparse", "text_top3", "sparse_top3", "image_top3"],
    "all": ["name", "dense", "text", "image", "sparse", "agree30", "agree10", "docbm25_b0.3", "heads",
            "centroid", "page_centroid", "text_top3", "sparse_top3", "image_top3", "text_count", "sparse_count"],
    "agree+docbm25+centroid": ["name", "dense", "text", "image", "sparse", "agree30", "docbm25_b0.3", "centroid"],
}


def study(data: Data, folds: int, l2: float = 0.001) -> None:
    boosts = [0.05, 0.1, 0.2, 0.4, 0.8, 1.5, 3.0]
    print("l2", l2)
    for name, feats in FEATURE_SETS.items():
        w = fit_logit(data, data.items, feats, l2)
        fn = logit_prior(data, feats, w)
        full = {b: evaluate(data, fn, b) for b in boosts}
        best = max(boosts, key=lambda b: objective(full[b]))
        print(f"{name:24s} in-sample boost {best}: {fmt(full[best])}")
        print(f"{'':24s} cv: {fmt(cv_logit(data, feats, boosts, folds, l2))}")
        print(f"{'':24s} w: " + " ".join(f"{f}={x:.2f}" for f, x in zip(feats, w, strict=True)))


SCALE_FREE = {"sparse", "sparse_top3", "sparse_top10", "agree10", "agree30", "docbm25_b0.0", "docbm25_b0.3",
              "docbm25_b0.75", "heads", "text_count", "sparse_count", "image_count"}


def mix_prior(data: Data, weights: Mapping[str, float], temps: Mapping[str, float], gate_pages: bool = False
              ) -> Callable[[dict[str, Any]], dict[str, float]]:
    """The shipped shape (weighted mean of exp((s - max) / t)), any signals; scale-free signals are
    divided by their best file's first."""
    from rag.retrieve import referenced_pages

    def fn(it: dict[str, Any]) -> dict[str, float]:
        sig = data.signals(it)
        out = np.zeros(len(data.files))
        tot = 0.0
        for k, w in weights.items():
            if w <= 0 or k not in sig:
                continue
            v = np.asarray(sig[k], dtype=np.float64)
            if k in SCALE_FREE:
                v = v / (v.max() or 1.0)
            if v.size and np.any(v):
                out += w * np.exp((v - v.max()) / temps[k])
            tot += w
        out = out / tot if tot else out
        if gate_pages:
            refs = referenced_pages(it["question"])
            if refs:
                out = out * (data.n_pages >= max(refs))
        return dict(zip(data.files, out.tolist(), strict=True))
    return fn


def gated(data: Data, fn: Callable[[dict[str, Any]], dict[str, float]], factor: float, slack: int
          ) -> Callable[[dict[str, Any]], dict[str, float]]:
    """The shipped page gate: a file with page items whose count * factor + slack is below the
    highest page the question names gets prior 0."""
    from rag.retrieve import referenced_pages

    def g(it: dict[str, Any]) -> dict[str, float]:
        out = fn(it)
        refs = referenced_pages(it["question"])
        if not refs:
            return out
        top = max(refs)
        return {f: (0.0 if n > 0 and n * factor + slack < top else v)
                for (f, v), n in zip(out.items(), data.page_items, strict=True)}
    return g


SHIPPED_T = {"name": 2.0, "dense": 0.02, "text": 0.02, "image": 0.02, "sparse": 0.15}


def add_one(data: Data, folds: int) -> None:
    base_w = dict(data.cfg["doc_weights"])
    base = mix_prior(data, base_w, SHIPPED_T)
    print("shipped (mix_prior):", fmt(evaluate(data, base, 0.4)))
    print("shipped + page gate:", fmt(evaluate(data, mix_prior(data, base_w, SHIPPED_T, True), 0.4)))
    for factor, slack in ((1.0, 0), (1.0, 2), (1.25, 2), (1.5, 5)):
        res = evaluate(data, gated(data, base, factor, slack), 0.4)
        print(f"shipped + item-count gate x{factor} + {slack}:", fmt(res))
    return
    for b in (0.2, 0.3, 0.6, 0.8, 1.2):
        print(f"  shipped boost {b}:", fmt(evaluate(data, base, b)))
    cands = {"agree30": [0.05, 0.15, 0.3], "agree10": [0.05, 0.15, 0.3], "docbm25_b0.3": [0.05, 0.15, 0.3],
             "docbm25_b0.75": [0.05, 0.15, 0.3], "centroid": [0.01, 0.02, 0.04], "page_centroid": [0.01, 0.02, 0.04],
             "sparse_top3": [0.05, 0.15, 0.3], "text_top3": [0.01, 0.02, 0.04], "image_top3": [0.01, 0.02, 0.04],
             "pages": [0.01, 0.02, 0.04], "heads": [0.05, 0.15, 0.3], "sparse_count": [0.1, 0.3]}
    rows = []
    for k, ts in cands.items():
        for t in ts:
            for w in (0.5, 1.0, 2.0, 4.0):
                temps = {**SHIPPED_T, k: t}
                for boost in (0.4, 0.8):
                    r = evaluate(data, mix_prior(data, {**base_w, k: w}, temps), boost)
                    rows.append((objective(r), k, t, w, boost, r))
    rows.sort(key=lambda x: -x[0])
    for _, k, t, w, boost, r in rows[:25]:
        print(f"  +{k} t={t} w={w} boost {boost}: {fmt(r)}")


def shipped_now(data: Data) -> Callable[[dict[str, Any]], dict[str, float]]:
    """:meth:`rag.doc_stage.DocumentStage.prior` as shipped (doc18): :func:`hub_prior` with the
    stage's own discount, floor and kind factor."""
    from rag.doc_stage import DISCOUNT_FLOOR, HUB_DISCOUNT, KIND_FACTOR

    return hub_prior(data, HUB_DISCOUNT, KIND_FACTOR, float(DISCOUNT_FLOOR))


def current_prior(data: Data) -> Callable[[dict[str, Any]], dict[str, float]]:
    """:meth:`rag.doc_stage.DocumentStage.prior` before doc18 (folder18): the mix with the word signals missing
    for files in another script (``name`` only when the file name is too), files too short for a
    named page at 0 (page items counted)."""
    from ingest.text.tokens import name_words
    from rag.doc_stage import script_of, too_short
    from rag.retrieve import referenced_pages

    profiles = [Profile(p.file, p.text, p.terms, script=script_of(p.text.split("\n", 1)[-1]) or script_of(p.text),
                        name_script=script_of(name_words(p.file)) or "latin", pages=int(n))
                for p, n in zip(data.profiles, data.page_items, strict=True)]
    weights = dict(data.cfg["doc_weights"])

    def fn(it: dict[str, Any]) -> dict[str, float]:
        sig = {k: v for k, v in data.signals(it).items() if k in ("name", "dense", "text", "image", "sparse")}
        q = script_of(it["question"])
        missing = {"sparse": np.array([p.script != q for p in profiles]),
                   "name": np.array([p.script != q and p.name_script != q for p in profiles])} if q else None
        out = mix(sig, weights, missing)
        out[too_short(profiles, referenced_pages(it["question"]))] = 0.0
        return dict(zip(data.files, out.tolist(), strict=True))
    return fn


def per_question(data: Data) -> None:
    """Each question: the gold pages, the shipped ranking's first pages and the unboosted one."""
    base = current_prior(data)
    w = {str(k): v for k, v in data.cfg["branch_weights"].items()}
    for it in data.items:
        lists = data.lists(it["id"])
        doc = data.raw["doc_paths"][it["id"]]
        prior = base(it)
        on = fuse([(n, h[:lim]) for n, h, lim in lists], w, data.cfg["rrf_k"], prior, data.cfg["doc_boost"])[:DEPTH]
        off = fuse([(n, h[:lim]) for n, h, lim in lists], w, data.cfg["rrf_k"], None, 0)[:DEPTH]
        rr_on = m.reciprocal_rank(corpus_ranking(on, doc), it["pages"])
        rr_off = m.reciprocal_rank(corpus_ranking(off, doc), it["pages"])
        short = lambda ps: " ".join(f"{Path(f).name[:6]}:{p}" for f, p in ps[:5])  # noqa: E731
        top = sorted(prior, key=lambda f: -prior[f])[:3]
        print(f"{it['id'][:12]:12s} {Path(doc).name[:10]:10s} gold {it['pages']} rr on {rr_on:.2f} "
              f"off {rr_off:.2f} | on {short(on)} | off {short(off)} | prior "
              + " ".join(f"{Path(f).name[:6]}={prior[f]:.2f}" for f in top) + f" | {it['question'][:60]}")


def grid_k(data: Data) -> None:
    base_w = dict(data.cfg["doc_weights"])
    for gate in (False, True):
        fn = mix_prior(data, base_w, SHIPPED_T, gate)
        for k in (2, 5, 10, 20):
            for boost in (0.0, 0.1, 0.2, 0.4, 0.8):
                print(f"gate {gate} rrf_k {k} boost {boost}: {fmt(evaluate(data, fn, boost, rrf_k=k))}")


def cap_head(pairs: list[tuple[str, int]], head: int, cap: int) -> list[tuple[str, int]]:
    """The first ``head`` places hold at most ``cap`` pages of one file; the rest keep their order."""
    chosen: list[tuple[str, int]] = []
    per: dict[str, int] = {}
    for p in pairs:
        if len(chosen) < head and per.get(p[0], 0) < cap:
            chosen.append(p)
            per[p[0]] = per.get(p[0], 0) + 1
    return chosen + [p for p in pairs if p not in chosen]


def grid_div(data: Data) -> None:
    fn = mix_prior(data, dict(data.cfg["doc_weights"]), SHIPPED_T, True)
    w = {str(k): v for k, v in data.cfg["branch_weights"].items()}
    for cap in (5, 4, 3, 2):
        for tau in (0.0, 0.3, 0.5, 0.7, 2.0):
            rows = []
            for it in data.items:
                lists = data.lists(it["id"])
                doc = data.raw["doc_paths"][it["id"]]
                prior = fn(it)
                pairs = fuse([(n, h[:lim]) for n, h, lim in lists], w, data.cfg["rrf_k"], prior, data.cfg["doc_boost"])
                second = sorted(prior.values(), reverse=True)[1]
                if second >= tau:
                    pairs = cap_head(pairs, 5, cap)
                pairs = pairs[:DEPTH]
                ranked = corpus_ranking(pairs, doc)
                rows.append((m.recall_at_k(ranked, it["pages"], 5), m.reciprocal_rank(ranked, it["pages"]),
                             m.document_hit_at_k(pairs, doc, 5), m.document_hit_at_k(pairs, doc, 5, distinct=True)))
            a = np.array(rows).mean(axis=0)
            print(f"cap {cap} when 2nd share >= {tau}: r5 {a[0]:.3f} mrr {a[1]:.3f} "
                  f"doc5 pages {a[2]:.3f} docs {a[3]:.3f}")


def hangul_share(text: str) -> float:
    letters = [c for c in text if c.isalpha()]
    if not letters:
        return 0.0
    return sum("\uac00" <= c <= "\ud7a3" or "\u3131" <= c <= "\u318e" for c in letters) / len(letters)


def lang_prior(data: Data, weights: Mapping[str, float], temps: Mapping[str, float], drop: Sequence[str],
               gate_pages: bool = True, power: float = 1.0) -> Callable[[dict[str, Any]], dict[str, float]]:
    """Like mix_prior, and for a file whose profile is in another script than the question (Hangul
    vs not), the ``drop`` signals do not count (missing, not zero)."""
    from rag.retrieve import referenced_pages

    file_ko = np.array([hangul_share(p.text) >= 0.3 for p in data.profiles])

    def fn(it: dict[str, Any]) -> dict[str, float]:
        sig = data.signals(it)
        q_ko = hangul_share(it["question"]) >= 0.3
        cross = file_ko != q_ko
        num = np.zeros(len(data.files))
        den = np.zeros(len(data.files))
        for k, w in weights.items():
            if w <= 0 or k not in sig:
                continue
            v = np.asarray(sig[k], dtype=np.float64)
            if k in SCALE_FREE:
                v = v / (v.max() or 1.0)
            s = np.exp((v - v.max()) / temps[k]) if v.size and np.any(v) else np.zeros_like(v)
            wv = np.full(len(v), w)
            if k in drop:
                wv[cross] = 0.0
            num += wv * s
            den += wv
        out = np.where(den > 0, num / np.maximum(den, 1e-9), 0.0) ** power
        if gate_pages:
            refs = referenced_pages(it["question"])
            if refs:
                out = out * (data.n_pages >= max(refs))
        return dict(zip(data.files, out.tolist(), strict=True))
    return fn


def grid_lang(data: Data) -> None:
    base_w = dict(data.cfg["doc_weights"])
    for drop in ((), ("sparse",), ("sparse", "name")):
        for power in (1.0, 2.0):
            fn = lang_prior(data, base_w, SHIPPED_T, drop, True, power)
            for boost in (0.4, 0.8):
                print(f"drop {drop} power {power} boost {boost}: {fmt(evaluate(data, fn, boost))}")


def cv_add_one(data: Data, folds: int) -> None:
    """Held-out over documents: on each fold, the best (signal, temperature, weight, boost) of the
    add-one grid (the shipped prior included, as signal "none") chosen on the other folds' questions."""
    base_w = dict(data.cfg["doc_weights"])
    cands: list[tuple[str, float, float, float]] = [("none", 0.0, 0.0, b) for b in (0.2, 0.4, 0.8)]
    grid = {"agree30": [0.05, 0.15, 0.3], "docbm25_b0.3": [0.05, 0.15, 0.3], "docbm25_b0.75": [0.05, 0.15, 0.3],
            "centroid": [0.01, 0.02, 0.04], "page_centroid": [0.01, 0.02, 0.04], "sparse_top3": [0.05, 0.15, 0.3],
            "text_top3": [0.01, 0.02, 0.04], "heads": [0.05, 0.15, 0.3]}
    for k, ts in grid.items():
        for t in ts:
            for w in (0.5, 1.0, 2.0):
                for boost in (0.4, 0.8):
                    cands.append((k, t, w, boost))

    def prior_of(c: tuple[str, float, float, float]) -> Callable[[dict[str, Any]], dict[str, float]]:
        k, t, w, _ = c
        if k == "none":
            return mix_prior(data, base_w, SHIPPED_T)
        return mix_prior(data, {**base_w, k: w}, {**SHIPPED_T, k: t})

    fns = [prior_of(c) for c in cands]
    per_fold = folds_by_doc(data, folds)
    all_ids = {it["id"] for it in data.items}
    agg = []
    for held in per_fold:
        train = all_ids - held
        scores = [objective(evaluate(data, fn, c[3], train)) for fn, c in zip(fns, cands, strict=True)]
        best = int(np.argmax(scores))
        res = evaluate(data, fns[best], cands[best][3], held)
        ship = evaluate(data, fns[1], 0.4, held)
        print(f"  fold ({res['n']} q): chose {cands[best]} -> {fmt(res)} | shipped {fmt(ship)}")
        agg.append((res, ship))
    n = sum(r["n"] for r, _ in agg)
    for label, j in (("chosen", 0), ("shipped", 1)):
        keys = ("r5", "mrr", "doc5p", "doc5d", "doc1", "prior1")
        tot = {key: sum(a[j][key] * a[j]["n"] for a in agg) / n for key in keys}
        tot["n"] = n
        print(f"held-out {label}: {fmt(tot)}")


def help_only_prior(data: Data) -> Callable[[dict[str, Any]], dict[str, float]]:
    """Variant: for a file in another script, the word signals may raise its prior, never lower it
    (max of the mix with and without them)."""
    from ingest.text.tokens import name_words
    from rag.doc_stage import script_of, too_short
    from rag.retrieve import referenced_pages

    body = [script_of(p.text.split("\n", 1)[-1]) or script_of(p.text) for p in data.profiles]
    names = [script_of(name_words(f)) for f in data.files]
    profiles = [Profile(p.file, p.text, p.terms, script=b, pages=int(n))
                for p, b, n in zip(data.profiles, body, data.page_items, strict=True)]
    weights = dict(data.cfg["doc_weights"])

    def fn(it: dict[str, Any]) -> dict[str, float]:
        sig = {k: v for k, v in data.signals(it).items() if k in ("name", "dense", "text", "image", "sparse")}
        q = script_of(it["question"])
        with_words = mix(sig, weights)
        if q:
            miss = {"sparse": np.array([b != q for b in body]),
                    "name": np.array([b != q and nm != q for b, nm in zip(body, names, strict=True)])}
            out = np.maximum(with_words, mix(sig, weights, miss))
        else:
            out = with_words
        out[too_short(profiles, referenced_pages(it["question"]))] = 0.0
        return dict(zip(data.files, out.tolist(), strict=True))
    return fn


def per_item(data: Data, prior_fn: Callable[[dict[str, Any]], dict[str, float] | None], boost: float
             ) -> dict[str, tuple[float, ...]]:
    """id -> (recall@5, RR, doc in top-5 pages, doc in top-5 documents) of one setting."""
    w = {str(k): v for k, v in data.cfg["branch_weights"].items()}
    out = {}
    for it in data.items:
        lists = data.lists(it["id"])
        pairs = fuse([(n, h[:lim]) for n, h, lim in lists], w, data.cfg["rrf_k"], prior_fn(it), boost)[:DEPTH]
        doc = data.raw["doc_paths"][it["id"]]
        ranked = corpus_ranking(pairs, doc)
        out[it["id"]] = (m.recall_at_k(ranked, it["pages"], 5), m.reciprocal_rank(ranked, it["pages"]),
                         m.document_hit_at_k(pairs, doc, 5), m.document_hit_at_k(pairs, doc, 5, distinct=True))
    return out


def cv_weights(data: Data, folds: int) -> None:
    """Held-out over documents for the stage's own five weights and boost: on each fold the best of
    a 3^5 weight grid x 3 boosts (current rules) chosen on the other folds, scored on the fold."""
    import itertools

    from ingest.text.tokens import name_words
    from rag.doc_stage import script_of, too_short
    from rag.retrieve import referenced_pages

    profiles = [Profile(p.file, p.text, p.terms, script=script_of(p.text.split("\n", 1)[-1]) or script_of(p.text),
                        name_script=script_of(name_words(p.file)) or "latin", pages=int(n))
                for p, n in zip(data.profiles, data.page_items, strict=True)]
    keys = ("name", "dense", "text", "image", "sparse")

    def prior_for(weights: dict[str, float]) -> Callable[[dict[str, Any]], dict[str, float]]:
        def fn(it: dict[str, Any]) -> dict[str, float]:
            sig = {k: v for k, v in data.signals(it).items() if k in keys}
            q = script_of(it["question"])
            out = mix(sig, weights)
            if q:
                miss = {"sparse": np.array([p.script != q for p in profiles]),
                        "name": np.array([p.script != q and p.name_script != q for p in profiles])}
                out = np.maximum(out, mix(sig, weights, miss))
            out[too_short(profiles, referenced_pages(it["question"]))] = 0.0
            return dict(zip(data.files, out.tolist(), strict=True))
        return fn

    settings = []
    for ws in itertools.product((0.0, 1.0, 2.0), repeat=5):
        if not any(ws):
            continue
        for boost in (0.2, 0.4, 0.8):
            settings.append((dict(zip(keys, ws, strict=True)), boost))
    results = [per_item(data, prior_for(w), b) for w, b in settings]
    shipped = per_item(data, prior_for(dict(data.cfg["doc_weights"])), data.cfg["doc_boost"])
    per_fold = folds_by_doc(data, folds)

    def mean(res: dict[str, tuple[float, ...]], ids: set[str]) -> np.ndarray:
        return np.array([res[i] for i in ids]).mean(axis=0)

    def obj(v: np.ndarray) -> float:
        return float(v[0] + 0.5 * v[2] + 0.5 * v[3])

    held: list[tuple[float, ...]] = []
    all_ids = {it["id"] for it in data.items}
    for f in per_fold:
        train = all_ids - f
        best = max(range(len(settings)), key=lambda j: obj(mean(results[j], train)))
        print(f"  fold ({len(f)} q): chose {settings[best]}: held-out r5/mrr/doc5p/doc5d "
              + " ".join(f"{x:.3f}" for x in mean(results[best], f))
              + " | shipped " + " ".join(f"{x:.3f}" for x in mean(shipped, f)))
        held.extend(results[best][i] for i in f)
    a = np.array(held).mean(axis=0)
    best_all = max(range(len(settings)), key=lambda j: obj(mean(results[j], all_ids)))
    print(f"held-out (weights re-tuned per fold): r5 {a[0]:.3f} mrr {a[1]:.3f} doc5 pages {a[2]:.3f} docs {a[3]:.3f}")
    print(f"in-sample best {settings[best_all]}: " + " ".join(f"{x:.3f}" for x in mean(results[best_all], all_ids)))
    print("shipped in-sample: " + " ".join(f"{x:.3f}" for x in mean(shipped, all_ids)))


def kind_prior(data: Data, base: Callable[[dict[str, Any]], dict[str, float]], factor: float
               ) -> Callable[[dict[str, Any]], dict[str, float]]:
    """``base`` with the files of another kind than the question names scaled by ``factor``
    (nothing changes when the question names no kind or no file of the folder has it)."""
    from rag.doc_kind import question_kinds

    def fn(it: dict[str, Any]) -> dict[str, float]:
        out = base(it)
        asked = question_kinds(it["question"])
        if not asked:
            return out
        match = np.array([bool(asked & k) for k in data.kinds])
        if not match.any():
            return out
        return {f: v * (1.0 if ok else factor) for (f, v), ok in zip(out.items(), match, strict=True)}
    return fn


def prior_top5(data: Data, fn: Callable[[dict[str, Any]], dict[str, float]], ids: set[str] | None = None) -> float:
    """Share of questions whose file is among the prior's first five."""
    hits = []
    for it in data.items:
        if ids is not None and it["id"] not in ids:
            continue
        prior = fn(it)
        doc = data.raw["doc_paths"][it["id"]]
        v = np.array([prior[f] for f in data.files])
        hits.append(rank_of(v, data.index[doc]) <= 5)
    return float(np.mean(hits)) if hits else 0.0


def kind_study(data: Data, folds: int) -> None:
    """The kind factor in-sample (factor x boost) and held out over documents (both chosen on the
    other folds); what each file is and which questions name a kind."""
    from rag.doc_kind import question_kinds

    for f, k in zip(data.files, data.kinds, strict=True):
        if k:
            print(f"  {Path(f).name[:50]:50s} {sorted(k)}")
    named = [it for it in data.items if question_kinds(it["question"])]
    print(f"{len(named)} of {len(data.items)} questions name a kind")
    base = current_prior(data)
    cands = [(fac, b) for fac in (1.0, 0.8, 0.6, 0.4, 0.2, 0.0) for b in (0.4, 0.8)]
    fns = {c: kind_prior(data, base, c[0]) for c in cands}
    res = {c: per_item(data, fns[c], c[1]) for c in cands}
    top5 = {c[0]: prior_top5(data, fns[c]) for c in cands}
    all_ids = {it["id"] for it in data.items}
    for c in cands:
        v = mean_of(res[c], all_ids)
        print(f"factor {c[0]} boost {c[1]}: r5 {v[0]:.3f} mrr {v[1]:.3f} doc5 pages {v[2]:.3f} docs {v[3]:.3f} "
              f"prior top-5 {top5[c[0]]:.3f}")
    a, chosen = held_out(data, folds, res, lambda v: float(v[0] + 0.5 * v[2] + 0.5 * v[3]))
    held_top = sum(prior_top5(data, fns[best], f) * len(f) for f, best in chosen)
    print(f"held-out: r5 {a[0]:.3f} mrr {a[1]:.3f} doc5 pages {a[2]:.3f} docs {a[3]:.3f} "
          f"prior top-5 {held_top / len(all_ids):.3f}")


def length_prior(data: Data, base: Callable[[dict[str, Any]], dict[str, float]], alpha: float
                 ) -> Callable[[dict[str, Any]], dict[str, float]]:
    """``base`` times ``(shortest / pages) ** alpha`` when the question names a page: a named page
    is one of a file's N pages, so a short file that holds it is likelier than a long one (files
    ruled out by the page gate and files with no page items do not count)."""
    from rag.retrieve import referenced_pages

    n = data.page_items.astype(np.float64)

    def fn(it: dict[str, Any]) -> dict[str, float]:
        out = base(it)
        if alpha <= 0 or not referenced_pages(it["question"]):
            return out
        v = np.array([out[f] for f in data.files])
        ok = (v > 0) & (n > 0)
        if not ok.any():
            return out
        fac = np.ones_like(v)
        fac[ok] = (n[ok].min() / n[ok]) ** alpha
        return dict(zip(data.files, (v * fac).tolist(), strict=True))
    return fn


def grid_cv(data: Data, folds: int, make: Callable[[tuple[float, ...]], Callable[[dict[str, Any]], dict[str, float]]],
            cands: Sequence[tuple[float, ...]], label: str) -> None:
    """In-sample rows of each candidate (its last element the boost) and held-out over documents
    (the candidate chosen on the other folds)."""
    fns = {c: make(c) for c in cands}
    res = {c: per_item(data, fns[c], c[-1]) for c in cands}
    all_ids = {it["id"] for it in data.items}

    def mean(r: dict[str, tuple[float, ...]], ids: set[str]) -> np.ndarray:
        return np.array([r[i] for i in ids]).mean(axis=0)

    for c in cands:
        v = mean(res[c], all_ids)
        print(f"{label} {c}: r5 {v[0]:.3f} mrr {v[1]:.3f} doc5 pages {v[2]:.3f} docs {v[3]:.3f} "
              f"prior top-5 {prior_top5(data, fns[c]):.3f}")
    held: list[tuple[float, ...]] = []
    top = 0.0
    tops = {c: {it["id"]: prior_top5(data, fns[c], {it["id"]}) for it in data.items} for c in cands}
    for f in folds_by_doc(data, folds):
        train = all_ids - f
        best = max(cands, key=lambda c: float(mean(res[c], train)[0] + 0.5 * mean(res[c], train)[2]
                                              + 0.5 * mean(res[c], train)[3]
                                              + 0.5 * np.mean([tops[c][i] for i in train])))
        print(f"  fold ({len(f)} q): chose {best}")
        held.extend(res[best][i] for i in f)
        top += prior_top5(data, fns[best], f) * len(f)
    a = np.array(held).mean(axis=0)
    print(f"{label} held-out: r5 {a[0]:.3f} mrr {a[1]:.3f} doc5 pages {a[2]:.3f} docs {a[3]:.3f} "
          f"prior top-5 {top / len(all_ids):.3f}")


def kind_length_study(data: Data, folds: int) -> None:
    base = current_prior(data)
    cands = [(fac, alpha, b) for fac in (1.0, 0.5, 0.25) for alpha in (0.0, 0.25, 0.5, 1.0) for b in (0.4, 0.8)]
    grid_cv(data, folds, lambda c: length_prior(data, kind_prior(data, base, c[0]), c[1]), cands, "kind, length")


Reorder = Callable[[list[tuple[str, int]], Mapping[str, float]], list[tuple[str, int]]]


def per_item_order(data: Data, prior_fn: Callable[[dict[str, Any]], dict[str, float]], boost: float,
                   reorder: Reorder | None) -> dict[str, tuple[float, ...]]:
    """id -> (recall@5, RR, doc in top-5 pages, doc in top-5 documents, recall@10) with the fused
    order passed through ``reorder`` (fused order, prior) before the first ``DEPTH`` are kept."""
    w = {str(k): v for k, v in data.cfg["branch_weights"].items()}
    out = {}
    for it in data.items:
        lists = data.lists(it["id"])
        prior = prior_fn(it)
        pairs = fuse([(n, h[:lim]) for n, h, lim in lists], w, data.cfg["rrf_k"], prior, boost)
        if reorder is not None:
            deep = page_scores([(n, h) for n, h, _ in lists], w, data.cfg["rrf_k"])  # the prior's depth
            best: dict[str, tuple[str, int]] = {}
            for key in sorted(deep, key=lambda k: -deep[k]):
                best.setdefault(key[0], key)
            pairs = reorder_deep(reorder, pairs, prior, best)
        pairs = pairs[:DEPTH]
        doc = data.raw["doc_paths"][it["id"]]
        ranked = corpus_ranking(pairs, doc)
        out[it["id"]] = (m.recall_at_k(ranked, it["pages"], 5), m.reciprocal_rank(ranked, it["pages"]),
                         m.document_hit_at_k(pairs, doc, 5), m.document_hit_at_k(pairs, doc, 5, distinct=True),
                         m.recall_at_k(ranked, it["pages"], 10))
    return out


def reorder_deep(reorder: Reorder, pairs: list[tuple[str, int]], prior: Mapping[str, float],
                 best: Mapping[str, tuple[str, int]]) -> list[tuple[str, int]]:
    """``reorder`` with every file's best page of the deep lists available to it (appended after
    the fused pages, so a file no truncated branch reached can still be shown)."""
    extra = [p for f, p in best.items() if p not in set(pairs)]
    return reorder(pairs + extra, prior)


def tail_fill(start: int, files: int, tau: float) -> Reorder:
    """From place ``start`` on, the best page of each of the prior's first ``files`` files not yet
    shown (prior at least ``tau`` of the best), in prior order, then the rest in fused order."""
    def fn(pairs: list[tuple[str, int]], prior: Mapping[str, float]) -> list[tuple[str, int]]:
        head = pairs[:start]
        top = max(prior.values()) if prior else 0.0
        shown = {f for f, _ in head}
        want = [f for f in sorted(prior, key=lambda f: -prior[f])[:files]
                if f not in shown and prior[f] >= tau * top and top > 0]
        extra = []
        for f in want:
            page = next((p for p in pairs[start:] if p[0] == f), None)
            if page is not None:
                extra.append(page)
        rest = [p for p in pairs[start:] if p not in extra]
        return head + extra + rest
    return fn


def diversity_study(data: Data, folds: int) -> None:
    """Whole-folder hits showing several files: the tail (places 6-10) given to the prior's other
    first files, with the kind and length rules on."""
    base = current_prior(data)
    rows = []
    for fac, alpha in ((1.0, 0.0), (0.5, 0.0), (0.5, 0.5)):
        fn = length_prior(data, kind_prior(data, base, fac), alpha)
        for start in (5, 7):
            for files in (0, 5):
                for tau in (0.0, 0.3):
                    if files == 0 and tau:
                        continue
                    res = per_item_order(data, fn, 0.4, tail_fill(start, files, tau) if files else None)
                    a = np.array(list(res.values())).mean(axis=0)
                    rows.append(((fac, alpha, start, files, tau), a))
                    print(f"kind {fac} length {alpha} tail from {start} files {files} tau {tau}: r5 {a[0]:.3f} "
                          f"mrr {a[1]:.3f} doc5 pages {a[2]:.3f} docs {a[3]:.3f} r10 {a[4]:.3f}")


def hub_prior(data: Data, beta: Mapping[str, float], factor: float = 1.0, floor: float = 1.0
              ) -> Callable[[dict[str, Any]], dict[str, float]]:
    """:func:`current_prior` with each branch signal (a file's best hit) lowered by
    ``beta[branch] * ln(items the branch searches in the file)``: the best of many items is high
    for any question (a 468-page manual's best chunk beats a 17-page brochure's for "how many
    people are on page 5"), so a long file's best hit says less. ``sparse`` is scaled to its best
    file first (as in the mix). Then the kind rule with ``factor``."""
    from ingest.text.tokens import name_words
    from rag.doc_kind import question_kinds
    from rag.doc_stage import script_of, too_short
    from rag.retrieve import referenced_pages

    pts = data.raw["points"]
    counts = {k: np.zeros(len(data.files)) for k in ("text", "image", "sparse")}
    for p in pts:
        i = data.index[p[1]]
        counts["sparse"][i] += 1
        counts["text" if p[3] in ("text", "table") else "image"][i] += 1
    logs = {k: np.log(np.maximum(v, floor)) for k, v in counts.items()}  # below ``floor`` items: no discount
    profiles = [Profile(p.file, p.text, p.terms, script=script_of(p.text.split("\n", 1)[-1]) or script_of(p.text),
                        name_script=script_of(name_words(p.file)) or "latin", pages=int(n))
                for p, n in zip(data.profiles, data.page_items, strict=True)]
    weights = dict(data.cfg["doc_weights"])

    def fn(it: dict[str, Any]) -> dict[str, float]:
        sig = {k: np.asarray(v, dtype=np.float64).copy() for k, v in data.signals(it).items()
               if k in ("name", "dense", "text", "image", "sparse")}
        for k, b in beta.items():
            if b and k in sig and np.any(sig[k]):
                v = sig[k] / (sig[k].max() or 1.0) if k == "sparse" else sig[k]
                hit = v > 0  # a file the branch did not reach keeps 0
                v = np.where(hit, v - b * logs[k], 0.0)
                sig[k] = np.where(hit, np.maximum(v, 1e-6), 0.0)
        q = script_of(it["question"])
        missing = {"sparse": np.array([p.script != q for p in profiles]),
                   "name": np.array([p.script != q and p.name_script != q for p in profiles])} if q else None
        out = mix(sig, weights, missing)
        out[too_short(profiles, referenced_pages(it["question"]))] = 0.0
        asked = question_kinds(it["question"])
        if asked and factor != 1.0:
            match = np.array([bool(asked & k) for k in data.kinds])
            if match.any():
                out[~match] *= factor
        return dict(zip(data.files, out.tolist(), strict=True))
    return fn


def hub_floor_study(data: Data, folds: int) -> None:
    cands = [(bt, bs, floor, 0.4) for bt, bs in ((0.0, 0.0), (0.016, 0.1), (0.024, 0.1), (0.016, 0.0))
             for floor in (1.0, 30.0, 100.0, 300.0)]
    grid_cv(data, folds, lambda c: hub_prior(data, {"text": c[0], "image": c[0], "sparse": c[1]}, 0.5, c[2]), cands,
            "hub (text/image beta, sparse beta, floor, boost)")


def hub_study(data: Data, folds: int) -> None:
    cands = []
    for bt in (0.0, 0.004, 0.008, 0.012, 0.016, 0.024):
        for bs in (0.0, 0.05, 0.1):
            for fac in (1.0, 0.5):
                cands.append((bt, bs, fac, 0.4))
    grid_cv(data, folds, lambda c: hub_prior(data, {"text": c[0], "image": c[0], "sparse": c[1]}, c[2]), cands,
            "hub (text/image beta, sparse beta, kind factor, boost)")


def spread_study(data: Data, folds: int) -> None:
    """The shipped prior with the last ``slots`` of the ten places given to the prior's other
    likely files (rag.doc_spread), in-sample and held out over documents (slots and share chosen
    on the other folds)."""
    fn = hub_prior(data, {"text": 0.016, "image": 0.016, "sparse": 0.1}, 0.5, 30.0)
    cands = [(0, 0.0)] + [(s, t) for s in (1, 2, 3) for t in (0.3, 0.5, 0.7)]
    res = {c: per_item_order(data, fn, 0.4, tail_fill(DEPTH - c[0], 5, c[1]) if c[0] else None) for c in cands}
    all_ids = {it["id"] for it in data.items}
    for c in cands:
        v = mean_of(res[c], all_ids)
        print(f"slots {c[0]} share {c[1]}: r5 {v[0]:.3f} mrr {v[1]:.3f} doc5 pages {v[2]:.3f} docs {v[3]:.3f} "
              f"r10 {v[4]:.3f}")
    a, _ = held_out(data, folds, res, lambda v: float(v[0] + 0.5 * v[2] + 0.5 * v[3] + 0.5 * v[4]))
    print(f"held-out: r5 {a[0]:.3f} mrr {a[1]:.3f} doc5 pages {a[2]:.3f} docs {a[3]:.3f} r10 {a[4]:.3f}")


def with_prior_pages(lists: Sequence[tuple[str, Hits, int]], prior: Mapping[str, float], top: int,
                     per_file: int = 1, weights: Mapping[str, float] | None = None, rrf_k: float = 10.0
                     ) -> list[tuple[str, Hits]]:
    """Each branch's first ``limit`` hits, then its deeper hits on the best page (over the deep
    lists) of each of the prior's first ``top`` files that no truncated branch reached: the files
    the document stage chose can show a page even when no branch found one in its first ``limit``."""
    shown = {(h[1], h[2]) for _, hits, lim in lists for h in hits[:lim]}
    shown_files = {k[0] for k in shown}
    chosen = [f for f in sorted(prior, key=lambda f: -prior[f])[:top] if f not in shown_files and prior[f] > 0]
    if not chosen:
        return [(n, h[:lim]) for n, h, lim in lists]
    deep = page_scores([(n, h) for n, h, _ in lists], weights or {}, rrf_k)
    best: dict[str, list[tuple[str, int]]] = defaultdict(list)
    for key in sorted(deep, key=lambda k: -deep[k]):
        if len(best[key[0]]) < per_file:
            best[key[0]].append(key)
    want = {k for f in chosen for k in best.get(f, [])}
    return [(n, h[:lim] + [x for x in h[lim:] if (x[1], x[2]) in want]) for n, h, lim in lists]


def prior_pages_study(data: Data, folds: int) -> None:
    fn = shipped_now(data)
    w = {str(k): v for k, v in data.cfg["branch_weights"].items()}
    for top, per in ((0, 1), (2, 1), (3, 1), (3, 2), (5, 2), (3, 3)):
        for boost in (0.4,):
            rows = []
            for it in data.items:
                lists = data.lists(it["id"])
                prior = fn(it)
                cand = (with_prior_pages(lists, prior, top, per, w, data.cfg["rrf_k"]) if top
                        else [(n, h[:lim]) for n, h, lim in lists])
                pairs = fuse(cand, w, data.cfg["rrf_k"], prior, boost)[:DEPTH]
                doc = data.raw["doc_paths"][it["id"]]
                ranked = corpus_ranking(pairs, doc)
                rows.append((m.recall_at_k(ranked, it["pages"], 5), m.reciprocal_rank(ranked, it["pages"]),
                             m.document_hit_at_k(pairs, doc, 5), m.document_hit_at_k(pairs, doc, 5, distinct=True),
                             m.recall_at_k(ranked, it["pages"], 10)))
            a = np.array(rows).mean(axis=0)
            print(f"prior's first {top} files' best {per} pages as candidates, boost {boost}: r5 {a[0]:.3f} "
                  f"mrr {a[1]:.3f} doc5 pages {a[2]:.3f} docs {a[3]:.3f} r10 {a[4]:.3f}")


def named_pages_study(data: Data, folds: int) -> None:
    """Whole folder: the page-reference branch kept to the prior's first ``m`` files (0: all, as
    before doc18), in-sample and held out over documents (m chosen on the other folds)."""
    fn = shipped_now(data)
    w = {str(k): v for k, v in data.cfg["branch_weights"].items()}
    cands = (0, 1, 3, 5, 10)
    res: dict[int, dict[str, tuple[float, ...]]] = {}
    for top in cands:
        out = {}
        for it in data.items:
            lists = data.lists(it["id"])
            prior = fn(it)
            keep = set(sorted(prior, key=lambda f: -prior[f])[:top]) if top else None
            cand = [(n, [h for h in hh[:lim] if keep is None or n != "pages" or h[1] in keep]) for n, hh, lim in lists]
            pairs = fuse(cand, w, data.cfg["rrf_k"], prior, data.cfg["doc_boost"])[:DEPTH]
            doc = data.raw["doc_paths"][it["id"]]
            ranked = corpus_ranking(pairs, doc)
            out[it["id"]] = (m.recall_at_k(ranked, it["pages"], 5), m.reciprocal_rank(ranked, it["pages"]),
                             m.document_hit_at_k(pairs, doc, 5), m.document_hit_at_k(pairs, doc, 5, distinct=True),
                             m.recall_at_k(ranked, it["pages"], 10))
        res[top] = out
    all_ids = {it["id"] for it in data.items}
    for top in cands:
        v = mean_of(res[top], all_ids)
        print(f"named pages in the prior's first {top or 'all'} files: r5 {v[0]:.3f} mrr {v[1]:.3f} "
              f"doc5 pages {v[2]:.3f} docs {v[3]:.3f} r10 {v[4]:.3f}")
    a, _ = held_out(data, folds, res, lambda v: float(v[0] + 0.5 * v[2] + 0.5 * v[3]))
    print(f"held-out: r5 {a[0]:.3f} mrr {a[1]:.3f} doc5 pages {a[2]:.3f} docs {a[3]:.3f} r10 {a[4]:.3f}")
