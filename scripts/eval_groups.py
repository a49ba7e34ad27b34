"""recall@5 and MRR of each system in a ``mmrag eval --out DIR`` run, for groups of questions: all,
the FinanceBench questions (``financebench_*`` ids), the 10-K/10-Q/8-K filings, documents over 45
pages, and one document. Reads ``DIR/questions.jsonl`` (``--scope corpus``: ``DIR/corpus``).

    python scripts/eval_groups.py DIR [--corpus] [--pdfs ../shared/eval/pdfs]
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("out")
    ap.add_argument("--corpus", action="store_true")
    ap.add_argument("--pdfs", default="../shared/eval/pdfs")
    args = ap.parse_args()
    import pymupdf

    path = Path(args.out) / ("corpus" if args.corpus else "") / "questions.jsonl"
    rows = [json.loads(line) for line in path.open(encoding="utf-8")]
    pages = {d: pymupdf.open(Path(args.pdfs) / d).page_count for d in {r["doc"] for r in rows}}
    groups = {
        "all": lambda r: True,
        "FinanceBench questions": lambda r: r["id"].startswith("financebench"),
        "10-K/10-Q/8-K filings (any source)": lambda r: any(t in r["doc"] for t in ("10K", "10Q", "8K", "EARNINGS")),
        "documents over 45 pages": lambda r: pages[r["doc"]] > 45,
        "documents of at most 45 pages": lambda r: pages[r["doc"]] <= 45,
        "2312.09390v1.pdf": lambda r: r["doc"] == "2312.09390v1.pdf",
    }
    for name, keep in groups.items():
        chosen = [r for r in rows if r["answerable"] and r["pages"] and keep(r)]
        if not chosen:
            continue
        cells = []
        for system in chosen[0]["retrieval"]:
            runs = [r["retrieval"][system]["metrics"] for r in chosen if system in r["retrieval"]]
            cells.append(f"{system} R@5 {sum(x['recall@5'] for x in runs) / len(runs):.3f} "
                         f"MRR {sum(x['rr'] for x in runs) / len(runs):.3f}")
        print(f"{name} (n={len(chosen)}): " + " | ".join(cells))
    return 0


if __name__ == "__main__":
    sys.exit(main())
