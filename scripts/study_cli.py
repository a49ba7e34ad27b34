"""The command line both study scripts share (``fusion_study.py``, ``abstention_study.py``):
``collect QA --docs --index [--config] [--limit] --out`` gathers per-question data from an index,
then a scoring subcommand replays it offline."""

from __future__ import annotations

import argparse


def study_parser(description: str | None) -> tuple[argparse.ArgumentParser, argparse._SubParsersAction]:
    """The parser with its ``collect`` subcommand; the caller adds its own scoring subcommands."""
    ap = argparse.ArgumentParser(description=description, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)
    c = sub.add_parser("collect")
    c.add_argument("qa")
    c.add_argument("--docs", required=True)
    c.add_argument("--index", required=True)
    c.add_argument("--config", default="cpu")
    c.add_argument("--limit", type=int, default=None)
    c.add_argument("--out", required=True)
    return ap, sub
