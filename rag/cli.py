"""The ``mmrag`` command: ingest, ask, search, stats, copy, demo, build-tiny.

Every command takes ``--config`` (a profile name or YAML path), ``--set section.field=value``
overrides, ``--index DIR`` (shortcut for ``--set store.path=DIR``) and ``--json`` for machines.
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence
from datetime import datetime

from ingest.records import ITEM_KINDS
from rag.cli_commands import (
    EXIT_FILES_FAILED,
    cmd_ask,
    cmd_bench,
    cmd_build_tiny,
    cmd_copy,
    cmd_demo,
    cmd_eval,
    cmd_ingest,
    cmd_optimize,
    cmd_search,
    cmd_serve,
    cmd_stats,
)
from rag.errors import MmragError

__all__ = ["DEMO_QUESTION", "EXIT_FILES_FAILED", "build_parser", "main"]
"""The names tests and scripts import from ``rag.cli`` (the settings flags, ``--set`` parsing
included, live in :mod:`rag.cli_options`)."""

DEMO_QUESTION = "What was ACME's revenue in Europe in 2025?"


def _date(text: str) -> datetime:
    """An ISO date or date-time for the date flags (``2024-03-01``, ``2024-03-01T12:00+02:00``)."""
    try:
        return datetime.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an ISO date: {text!r} (use YYYY-MM-DD)") from None


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of ``mmrag``."""
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--config", "-c", default="cpu", help="profile name (cpu, cpu-en, default, test) or YAML path")
    common.add_argument("--set", action="append", metavar="SECTION.FIELD=VALUE", help="override a setting")
    common.add_argument("--index", help="index folder (same as --set store.path=DIR)")
    common.add_argument("--json", action="store_true", help="machine-readable output")
    common.add_argument("--verbose", "-v", action="store_true")

    parser = argparse.ArgumentParser(prog="mmrag", description="Multimodal RAG over document folders.")
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("ingest", parents=[common], help="ingest files and folders (incremental)",
                       epilog=f"exit status: 0 every file ingested (or unchanged, skipped); {EXIT_FILES_FAILED} "
                       "finished, but some files failed (listed in the report); 2 an error stopped the run")
    p.add_argument("paths", nargs="+")
    p.add_argument("--tenant", default="default")
    p.add_argument("--tag", action="append")
    p.add_argument("--engine", choices=["local", "ray"], default=None,
                   help="parse and embed here (local) or on a Ray cluster (ray); default: ingest.engine")
    p.add_argument("--ray-address", default=None, metavar="ADDR",
                   help="Ray cluster of --engine ray: HOST:PORT, ray://HOST:10001 or auto (default: ray.address; "
                   "empty: a Ray instance in this process)")
    p.set_defaults(func=cmd_ingest)

    p = sub.add_parser("copy", parents=[common], help="copy the index to a Qdrant server or cluster (or a folder)")
    p.add_argument("--to", required=True, metavar="URL|PATH",
                   help="http(s):// URL of a Qdrant server or cluster, or a folder (edge:PATH, local:PATH)")
    p.add_argument("--collection", default=None, help="destination collection (default: the source's)")
    p.add_argument("--shards", type=int, default=None, help="shards of a new server collection")
    p.add_argument("--replication-factor", type=int, default=None, help="replicas of each shard on a server")
    p.set_defaults(func=cmd_copy)

    filters = argparse.ArgumentParser(add_help=False)
    filters.add_argument("--file", action="append", metavar="GLOB", help="only files matching (repeatable)")
    filters.add_argument("--kind", action="append", choices=list(ITEM_KINDS), help="only these item kinds")
    filters.add_argument("--tag", action="append", help="only items carrying one of these tags")
    filters.add_argument("--tenant", default=None, help="only this tenant's documents")
    for which, what in (("modified", "file modified"), ("created", "document created (PDF metadata)")):
        filters.add_argument(f"--{which}-since", type=_date, metavar="DATE", help=f"{what} on or after (ISO date)")
        filters.add_argument(f"--{which}-until", type=_date, metavar="DATE", help=f"{what} before (ISO date)")

    p = sub.add_parser("ask", parents=[common, filters], help="answer a question with citations")
    p.add_argument("question")
    p.set_defaults(func=cmd_ask)

    p = sub.add_parser("search", parents=[common, filters], help="retrieve evidence")
    p.add_argument("query")
    p.add_argument("--k", type=int, default=None)
    p.set_defaults(func=cmd_search)

    p = sub.add_parser("stats", parents=[common], help="what the index holds")
    p.set_defaults(func=cmd_stats)

    p = sub.add_parser("optimize", parents=[common],
                       help="build the search index now (Qdrant Edge HNSW; blocks while it runs)")
    p.set_defaults(func=cmd_optimize)

    p = sub.add_parser("demo", parents=[common], help="build a sample folder, ingest it, answer a question")
    p.add_argument("--folder", default="demo/sample")
    p.add_argument("--question", default=DEMO_QUESTION)
    p.set_defaults(func=cmd_demo)

    p = sub.add_parser("serve", parents=[common], help="HTTP server with an OpenAI-compatible chat endpoint")
    p.add_argument("--host", default=None)
    p.add_argument("--port", type=int, default=None)
    p.set_defaults(func=cmd_serve)

    p = sub.add_parser("eval", parents=[common], help="evaluate retrieval and answers on a QA JSONL set")
    p.add_argument("qa", help="QA JSONL: {id, question, answer, doc, pages, evidence_type, answerable}")
    p.add_argument("--docs", required=True, help="folder holding the documents named by `doc`")
    p.add_argument("--k", default="1,5,10", help="cut-offs for recall@k and nDCG@k")
    p.add_argument("--out", default=None, help="folder for per-question results and plots")
    p.add_argument("--limit", type=int, default=None, help="evaluate only the first N questions")
    p.add_argument("--baselines", default="bm25,llamaindex", help="comma list, or 'none'")
    p.add_argument("--scope", default="doc", choices=["doc", "corpus", "both"],
                   help="doc: search within each question's document; corpus: over the whole index; both")
    p.set_defaults(func=cmd_eval)

    p = sub.add_parser("bench", parents=[common], help="ingest, embedding and query throughput")
    p.add_argument("--docs", default=None, help="folder of PDFs (default: the generated sample folder)")
    p.add_argument("--repeats", type=int, default=5)
    p.set_defaults(func=cmd_bench)

    p = sub.add_parser("build-tiny", parents=[common], help="build tiny random models for tests")
    p.add_argument("dest", nargs="?", default=".cache/tiny")
    p.set_defaults(func=cmd_build_tiny)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``mmrag`` command."""
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING,
                        format="%(levelname)s %(name)s: %(message)s", stream=sys.stderr)
    try:
        return int(args.func(args))
    except MmragError as exc:
        print(f"mmrag: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
