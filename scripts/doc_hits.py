"""Whole-folder scope of a ``mmrag eval --scope corpus|both --out DIR`` run: how often the question's
document is among the first 5 page hits and among the first 5 distinct documents, overall and for
the FinanceBench filings. Reads ``DIR/corpus/questions.jsonl`` (or a questions.jsonl given).

    python scripts/doc_hits.py DIR [--k 5]
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from rag.eval.metrics import document_hit_at_k


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("out")
    ap.add_argument("--k", type=int, default=5)
    ap.add_argument("--system", default="mmrag")
    args = ap.parse_args()
    path = Path(args.out)
    if path.suffix != ".jsonl":  # --scope both writes the corpus scope under corpus/, --scope corpus at the top
        path = path / "corpus" / "questions.jsonl" if (path / "corpus").is_dir() else path / "questions.jsonl"
    rows = [json.loads(line) for line in path.open(encoding="utf-8")]
    groups: dict[str, list[tuple[float, float]]] = {"all": [], "10-K/10-Q/8-K filings": []}
    for r in rows:
        if not (r["answerable"] and r["pages"]):
            continue
        run = r["retrieval"].get(args.system)
        if run is None:
            continue
        hits = [(Path(f).name, p) for f, p in run["hits"]]
        pair = (document_hit_at_k(hits, r["doc"], args.k), document_hit_at_k(hits, r["doc"], args.k, distinct=True))
        groups["all"].append(pair)
        if any(t in r["doc"] for t in ("10K", "10Q", "8K", "EARNINGS")):
            groups["10-K/10-Q/8-K filings"].append(pair)
    for name, vals in groups.items():
        n = len(vals)
        if n:
            print(f"{name}: n={n}  document in top-{args.k} pages {sum(v[0] for v in vals) / n:.3f}  "
                  f"in top-{args.k} documents {sum(v[1] for v in vals) / n:.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
