"""Recall with the page items' embedded text cut to a shorter window (a points-changing speed-up
of issue 14, for the lead to decide): ``mmrag eval`` (doc scope, no baselines) on the questions of
``--docs`` names, once with page items embedded from their whole text (``embed.page_vector: text``)
and once from their first ``--page-tokens`` tokens only (``window``; their stored text and keywords
stay whole), or ``--variant chunks``. Each run in a fresh index.

    PYTHONPATH=$PWD .venv/bin/python scripts/page_window_study.py --qa ../shared/eval/qa.jsonl \\
        --docs ../shared/eval/pdfs --names 2303.05039v2.pdf STEPBACK.pdf --page-tokens 256 --out /tmp/study
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--qa", type=Path, required=True)
    ap.add_argument("--docs", type=Path, required=True)
    ap.add_argument("--names", nargs="+", required=True, help="documents whose questions are evaluated")
    ap.add_argument("--page-tokens", type=int, default=256)
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--variant", choices=("base", "cut", "chunks"),
                    help="run only this one (chunks: page vectors as the mean of their chunks' vectors)")
    args = ap.parse_args(argv)
    from rag.eval.command import EvalOptions, run_eval_command

    args.out.mkdir(parents=True, exist_ok=True)
    qa = args.out / "qa.jsonl"
    wanted = set(args.names)
    qa.write_text("".join(ln for ln in args.qa.read_text().splitlines(keepends=True)
                          if ln.strip() and json.loads(ln)["doc"] in wanted))
    rules = {"base": {"embed.page_vector": "text"},
             "cut": {"embed.page_vector": "window", "embed.page_tokens": args.page_tokens},
             "chunks": {"embed.page_vector": "chunks"}}
    for variant in [args.variant] if args.variant else ["base", "cut"]:
        out = args.out / variant
        opts = EvalOptions(qa=qa, docs=args.docs, out=out, baselines="none", scope="doc", json_output=True)
        run_eval_command(opts, {"store.path": str(args.out / f"ix-{variant}"), "embed.cache": False,
                                **rules[variant]})
    return 0


if __name__ == "__main__":
    sys.exit(main())
