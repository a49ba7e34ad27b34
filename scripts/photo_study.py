"""Study the picture rule of the document stage offline (issue 18, photo18; :mod:`rag.doc_visual`).

Replays the whole-folder fusion and the shipped document prior (doc18: discount, kinds, named pages
in the prior's first files; ``doc_stage_score.py``) on the data ``doc_stage_study.py collect``
wrote, with the picture factor on top, and prints page recall@5, MRR, the right document among the
top-5 pages / documents and in the prior's top 5: in-sample for every candidate (render threshold,
share, factor) and held out over documents (the candidate chosen on the other four fifths).

    python scripts/doc_stage_study.py collect QA.jsonl --docs DIR --index IX --out dev.pkl
    python scripts/photo_study.py dev.pkl --index IX [--folds 5]
"""

from __future__ import annotations

import argparse
import sys
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np
from doc_stage_score import DEPTH, Data, fuse, held_out, hub_prior, load, mean_of, prior_top5, shipped_now  # sibling

from rag.doc_stage import NAMED_PAGE_FILES, Profile
from rag.doc_visual import asks_what_pictures_show, picture_share
from rag.eval import metrics as m
from rag.eval.scoring import corpus_ranking

Prior = Callable[[dict[str, Any]], dict[str, float]]
Candidate = tuple[float, float, float, float]  # render bytes per pixel, file share, factor, blend weight


def renders_by_file(index: str) -> dict[str, list[tuple[str, int, int]]]:
    """Each file's page renders (image path, width, height), from the store's payloads."""
    from rag.pipeline import Pipeline

    out: dict[str, list[tuple[str, int, int]]] = defaultdict(list)
    with Pipeline.from_config("cpu", {"store.path": index}) as pipe:
        for batch in pipe.store.scroll_points():
            for p in batch:
                if p.item.kind == "page":
                    out[p.item.file].append((p.item.image_path, p.item.width, p.item.height))
    return out


def blended(data: Data, shares: Sequence[float | None], weight: float, factor: float, least: float) -> Prior:
    """:meth:`rag.doc_stage.DocumentStage.prior` with the picture rule (:func:`rag.doc_visual.picture_prior`)
    where the stage applies it: the mix (discounted, script rule), the picture blend and factor,
    the kind factor, then files too short for a named page at 0."""
    from rag.doc_kind import question_kinds
    from rag.doc_stage import DISCOUNT_FLOOR, HUB_DISCOUNT, KIND_FACTOR, too_short
    from rag.doc_visual import picture_prior
    from rag.retrieve import referenced_pages

    mixed = hub_prior(data, HUB_DISCOUNT, 1.0, float(DISCOUNT_FLOOR))  # no kind factor yet
    pages = [Profile(f, "", Counter(), pages=int(n)) for f, n in zip(data.files, data.page_items, strict=True)]

    def fn(it: dict[str, Any]) -> dict[str, float]:
        prior = mixed(it)
        q = it["question"]
        v = np.array([prior[f] for f in data.files])
        v = picture_prior(q, v, shares, weight, factor, least)
        asked = question_kinds(q)
        if asked:
            match = np.array([bool(asked & k) for k in data.kinds])
            if match.any():
                v[~match] *= KIND_FACTOR
        v[too_short(pages, referenced_pages(q))] = 0.0
        return dict(zip(data.files, v.tolist(), strict=True))
    return fn


def per_item_named(data: Data, fn: Prior, top: int = NAMED_PAGE_FILES) -> dict[str, tuple[float, ...]]:
    """id -> (recall@5, RR, doc in top-5 pages, doc in top-5 documents, recall@10, doc in the
    prior's top 5), the page-reference branch kept to the prior's first ``top`` files (shipped)."""
    w = {str(k): v for k, v in data.cfg["branch_weights"].items()}
    out = {}
    for it in data.items:
        prior = fn(it)
        keep = set(sorted(prior, key=lambda f: -prior[f])[:top])
        cand = [(n, [h for h in hh[:lim] if n != "pages" or h[1] in keep]) for n, hh, lim in data.lists(it["id"])]
        pairs = fuse(cand, w, data.cfg["rrf_k"], prior, data.cfg["doc_boost"])[:DEPTH]
        doc = data.raw["doc_paths"][it["id"]]
        ranked = corpus_ranking(pairs, doc)
        out[it["id"]] = (m.recall_at_k(ranked, it["pages"], 5), m.reciprocal_rank(ranked, it["pages"]),
                         m.document_hit_at_k(pairs, doc, 5), m.document_hit_at_k(pairs, doc, 5, distinct=True),
                         m.recall_at_k(ranked, it["pages"], 10), prior_top5(data, fn, {it["id"]}))
    return out


def row(v: np.ndarray) -> str:
    return (f"r5 {v[0]:.3f} mrr {v[1]:.3f} doc@5 pages {v[2]:.3f} docs {v[3]:.3f} r10 {v[4]:.3f} "
            f"prior top-5 {v[5]:.3f}")


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("data")
    ap.add_argument("--index", required=True, help="the index the data was collected on (profiles, page renders)")
    ap.add_argument("--folds", type=int, default=5)
    args = ap.parse_args(argv)
    data = load(args.data, args.index)
    renders = renders_by_file(args.index)
    base = shipped_now(data)
    asked = [it for it in data.items if asks_what_pictures_show(it["question"])]
    print(f"{len(asked)} of {len(data.items)} questions ask what pictures show: "
          + ", ".join(it["id"] for it in asked))
    t = time.perf_counter()
    bpps = (0.4, 0.55, 0.7, 0.9)
    shares = {b: [picture_share(renders.get(f, []), b) for f in data.files] for b in bpps}
    print(f"picture shares of {len(data.files)} files at {len(bpps)} thresholds: "
          f"{time.perf_counter() - t:.2f} s (one stat per page render and threshold)")
    for b in bpps:
        top = sorted(zip(data.files, shares[b], strict=True), key=lambda x: -(x[1] or 0))[:12]
        print(f"  bpp {b}: " + ", ".join(f"{f.rsplit('/', 1)[-1][:18]} {s:.2f}" for f, s in top if s))
    cands: list[Candidate] = [(0.55, 0.05, 1.0, 0.0)] + [
        (b, s, fac, wt) for b in bpps for s in (0.05, 0.1, 0.2) for fac in (1.0, 0.5) for wt in (0.0, 0.25, 0.5, 0.75)
        if (fac, wt) != (1.0, 0.0)]
    res: dict[Candidate, dict[str, tuple[float, ...]]] = {}
    all_ids = {it["id"] for it in data.items}
    pic_ids = {it["id"] for it in asked}
    for c in cands:
        fn = blended(data, shares[c[0]], c[3], c[2], c[1]) if c[1:] != (0.05, 1.0, 0.0) else base
        res[c] = per_item_named(data, fn)
        v = mean_of(res[c], all_ids)
        p = mean_of(res[c], pic_ids) if pic_ids else v
        print(f"bpp {c[0]} share {c[1]} factor {c[2]} weight {c[3]}: {row(v)} | "
              f"picture questions doc@5 docs {p[3]:.3f}")
    objective: Callable[[np.ndarray], float] = lambda v: float(v[0] + 0.5 * v[2] + 0.5 * v[3] + 0.5 * v[5])  # noqa: E731
    a, _ = held_out(data, args.folds, res, objective)
    print(f"held out: {row(a)}")
    off = mean_of(res[cands[0]], all_ids)
    print(f"off (shipped doc18): {row(off)}")
    moved: Mapping[str, tuple[float, ...]] = res[max(cands, key=lambda c: objective(mean_of(res[c], all_ids)))]
    for i in sorted(all_ids):
        if moved[i][3] != res[cands[0]][i][3] or moved[i][2] != res[cands[0]][i][2]:
            print(f"  {i}: doc@5 pages {res[cands[0]][i][2]:.0f} -> {moved[i][2]:.0f}, "
                  f"docs {res[cands[0]][i][3]:.0f} -> {moved[i][3]:.0f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
