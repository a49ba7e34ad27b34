"""Study the document stage of whole-folder searches offline (issue 18).

``collect`` runs each branch of the pipeline's query plan over the whole index as
:meth:`rag.retrieve.Retriever._query` does (``retrieve.doc_depth`` deep), keeps every branch's hits
and the question's vector, and reads every stored point once (file, page, kind, text, headings,
dense vector) so document-level signals can be computed offline. ``score`` replays the fusion and
the document prior as the Retriever runs them (:func:`rag.retrieve.fuse_pages`,
:func:`rag.retrieve.group_by_page`, k 30 as ``mmrag eval`` asks) and prints page recall@5, MRR and
how often the question's document is among the top-5 pages / documents, for the shipped prior,
variants, and cross-validated over documents (weights chosen on the other folds' documents).

    python scripts/doc_stage_study.py collect QA.jsonl --docs DIR --index IX --out study.pkl
    python scripts/doc_stage_study.py score study.pkl --index IX [--folds 5] \
        --what add|cv|cvw|logit|misses|k|div|lang|per|kind|kindlen|hub|hubfloor|tail|spread
                                                          (see doc_stage_score.py)
"""

from __future__ import annotations

import argparse
import logging
import pickle
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from study_cli import study_parser  # the sibling module: scripts run as files

from rag.eval.dataset import load_qa

log = logging.getLogger("doc_stage_study")

EVAL_K = 30  # mmrag eval: min(100, depth 10 * overfetch 3)


def collect(args: argparse.Namespace) -> None:
    import numpy as np

    from rag.pipeline import Pipeline
    from rag.retrieve import branch_name

    items = [i for i in load_qa(args.qa, args.limit)]
    docs = {i.doc: str((Path(args.docs) / i.doc).resolve()) for i in items}
    out: dict[str, Any] = {"items": [i.model_dump() for i in items], "hits": {}, "qvec": {},
                           "doc_paths": {i.id: docs[i.doc] for i in items}}
    with Pipeline.from_config(args.config, {"store.path": args.index}) as pipe:
        r = pipe.retriever
        cfg = r.cfg
        out["cfg"] = cfg.model_dump()
        points: list[tuple[str, str, int, str, int | None, str, list[str], str]] = []
        vectors = []
        dims: dict[tuple[str, int], tuple[int, int]] = {}  # page items' render size, for document kinds
        for batch in pipe.store.scroll_points():
            for p in batch:
                it = p.item
                if it.kind == "page":
                    dims[(it.file, it.page)] = (it.width, it.height)
                points.append((p.id, it.file, it.page, it.kind, it.order, it.text, list(it.section),
                               p.embedded_as))
                vectors.append(np.asarray(p.vector, dtype=np.float32))
        out["points"] = points
        out["page_dims"] = dims
        out["vectors"] = np.stack(vectors)
        log.info("%d points", len(points))
        for n, item in enumerate(items):
            plan = r.plan(item.question, EVAL_K, None)
            per: dict[str, tuple[int, list[tuple[str, str, int, str, float]]]] = {}
            for b in plan.prefetch:
                name = branch_name(b)
                depth = max(b.limit, cfg.doc_depth) if name != "pages" else b.limit
                one = plan.model_copy(update={"prefetch": [b.model_copy(update={"limit": depth})], "limit": depth})
                per[name] = (b.limit, [(h.id, h.item.file, h.item.page, h.item.kind, h.score)
                                       for h in pipe.store.query(one)])
            out["hits"][item.id] = per
            out["qvec"][item.id] = np.asarray(plan.dense, dtype=np.float32)
            if n % 20 == 0:
                log.info("%d / %d", n, len(items))
    Path(args.out).write_bytes(pickle.dumps(out))


def main(argv: Sequence[str] | None = None) -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    ap, sub = study_parser(__doc__)
    s = sub.add_parser("score")
    s.add_argument("data")
    s.add_argument("--folds", type=int, default=5)
    s.add_argument("--what", default="none", help="which study (doc_stage_score.py); none: the baselines")
    s.add_argument("--index", default=None, help="the index, for the embedder (profile vectors)")
    args = ap.parse_args(argv)
    if args.cmd == "collect":
        collect(args)
    else:
        from doc_stage_score import score  # the sibling module

        score(args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
