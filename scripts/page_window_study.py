"""Recall with the page items' embedded text cut to a shorter window (a points-changing speed-up
of issue 14, for the lead to decide): ``mmrag eval`` (doc scope, no baselines) on the questions of
``--docs`` names, once as the profile is and once with page items embedded from their first
``--page-tokens`` tokens only (their stored text and keywords stay whole). Each run in a fresh index.

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
    ap.add_argument("--variant", choices=("base", "cut"), help="run only this one")
    args = ap.parse_args(argv)
    from rag import cross_batch, indexing
    from rag.eval.command import EvalOptions, run_eval_command

    args.out.mkdir(parents=True, exist_ok=True)
    qa = args.out / "qa.jsonl"
    wanted = set(args.names)
    qa.write_text("".join(ln for ln in args.qa.read_text().splitlines(keepends=True)
                          if ln.strip() and json.loads(ln)["doc"] in wanted))
    original = indexing.embed_text_of

    def cut(item: object, max_tokens: int) -> str:
        kind = getattr(item, "kind", "")
        return original(item, min(max_tokens, args.page_tokens) if kind == "page" else max_tokens)  # type: ignore[arg-type]

    for variant in [args.variant] if args.variant else ["base", "cut"]:
        cross_batch.embed_text_of = original if variant == "base" else cut
        out = args.out / variant
        opts = EvalOptions(qa=qa, docs=args.docs, out=out, baselines="none", scope="doc", json_output=True)
        run_eval_command(opts, {"store.path": str(args.out / f"ix-{variant}"), "embed.cache": False})
    return 0


if __name__ == "__main__":
    sys.exit(main())
