"""``mmrag eval QA.jsonl --docs DIR``: score retrieval and answers on a QA set, with baselines.

The command checks that the baselines asked for can run (their packages), ingests the documents the
questions name (incrementally, so a second run reuses the index), then for every question and scope
runs :func:`rag.eval.harness.evaluate_question`. Scopes (``--scope``): ``doc``, ``corpus`` or
``both`` side by side.

It prints tables (overall, by evidence type, by document, latency; with ``both`` a comparison of the
scopes) or JSON, and with ``--out`` writes ``questions.jsonl``, ``summary.json`` and
``recall_by_evidence_type.png`` (the corpus scope in ``corpus/`` under it).
"""

from __future__ import annotations

import json
import logging
import shlex
import sys
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict
from tqdm.auto import tqdm

from rag.errors import MmragError
from rag.eval.baselines import BASELINES, in_worker
from rag.eval.dataset import load_qa
from rag.eval.harness import build_baselines, check_baselines, corpus_files, evaluate_question, resolve_docs
from rag.eval.machine import machine_info
from rag.eval.report import SCOPE_TITLES, format_scope_comparison, format_summary, write_outputs
from rag.eval.results import SCOPES, SYSTEM
from rag.eval.scoring import summarize

log = logging.getLogger(__name__)


class EvalOptions(BaseModel):
    """The flags of ``mmrag eval``, as text the way they were typed (parsed by the functions below)."""

    model_config = ConfigDict(extra="forbid")

    qa: Path
    """QA JSONL: ``{id, question, answer, doc, pages, evidence_type, answerable}`` per line."""
    docs: Path
    """Folder holding the documents named by ``doc``."""
    config: str = "cpu"
    """Profile name or YAML path."""
    k: str = "1,5,10"
    """Cut-offs of recall@k and nDCG@k, comma-separated."""
    out: Path | None = None
    """Folder for per-question results, the summary and the plot."""
    limit: int | None = None
    """Evaluate only the first N questions."""
    baselines: str = "bm25,llamaindex"
    """Comma list of baseline names, or ``none``."""
    scope: str = "doc"
    """``doc``, ``corpus`` or ``both``."""
    json_output: bool = False
    """Print the summary as JSON (and no progress bars)."""


def parse_ks(text: str) -> list[int]:
    """``"1,5,10"`` -> ``[1, 5, 10]`` (sorted, distinct); every k must be a positive integer."""
    try:
        ks = sorted({int(x) for x in text.split(",") if x.strip()})
    except ValueError:
        raise MmragError(f"--k expects comma-separated positive integers, got {text!r}") from None
    if not ks or ks[0] < 1:
        raise MmragError(f"--k expects comma-separated positive integers, got {text!r}")
    return ks


def parse_baselines(text: str) -> list[str]:
    """``"bm25,llamaindex"`` -> names; ``"none"`` or ``""`` -> ``[]``. Unknown names fail."""
    names = [x.strip().lower() for x in text.split(",") if x.strip()]
    if names in ([], ["none"]):
        return []
    unknown = [n for n in names if n not in BASELINES.names()]
    if unknown:
        raise MmragError(f"unknown baseline {unknown[0]!r}; known: {', '.join(BASELINES.names())}, or 'none'")
    return list(dict.fromkeys(names))


def parse_scope(text: str) -> list[str]:
    """``"doc"`` / ``"corpus"`` -> that scope; ``"both"`` -> ``["doc", "corpus"]``."""
    value = text.strip().lower()
    if value == "both":
        return list(SCOPES)
    if value not in SCOPES:
        raise MmragError(f"--scope expects doc, corpus or both, got {text!r}")
    return [value]


def run_eval_command(opts: EvalOptions, overrides: Mapping[str, Any]) -> int:
    """The ``mmrag eval`` command: prints the tables (or JSON) and writes ``opts.out``. Returns the exit code."""
    from rag.pipeline import Pipeline

    ks = parse_ks(opts.k)
    names = parse_baselines(opts.baselines)
    scopes = parse_scope(opts.scope)
    check_baselines(names)  # before loading models or ingesting anything
    items = load_qa(opts.qa, opts.limit)
    docs = resolve_docs(items, opts.docs)
    started = datetime.now(UTC).isoformat(timespec="seconds")
    log.info("eval: %d questions over %d documents, k=%s, baselines=%s, scopes=%s",
             len(items), len(docs), ks, names or "none", scopes)
    indexing: dict[str, Any] = {}
    with Pipeline.from_config(opts.config, overrides) as pipe:
        report = pipe.ingest(list(docs.values()), progress=not opts.json_output)
        rate = report.pages / report.seconds if report.pages and report.seconds else None
        indexing[SYSTEM] = {"pages": report.pages, "seconds": report.seconds, "pages_per_s": rate,
                            "files_ingested": report.files_ingested,
                            "files_unchanged": report.files_unchanged,
                            "files_failed": [f.model_dump() for f in report.files_failed], "items": report.items,
                            "stages": report.stages}
        for f in report.files_failed:
            log.warning("ingest failed for %s: %s (its questions will miss)", f.path, f.reason)
        corpus = corpus_files(pipe, docs) if "corpus" in scopes else list(docs.values())
        baselines = build_baselines(names, pipe.embedder)
        for b in baselines:
            log.info("indexing baseline %s (%d files)", b.name, len(corpus))
            indexing[b.name] = in_worker(b.index, corpus).as_json()
        results = {scope: [evaluate_question(item, docs[item.doc], pipe, baselines, ks, scope)
                           for item in tqdm(items, desc=f"eval ({scope})", unit="q",
                                            disable=True if opts.json_output else None)]
                   for scope in scopes}
        for b in baselines:
            close = getattr(b, "close", None)
            if close is not None:
                close()
        meta = {"command": shlex.join(["mmrag", *sys.argv[1:]]), "qa": str(opts.qa), "docs": str(opts.docs),
                "config": opts.config, "profile": pipe.settings.profile, "embedder": pipe.embedder.id,
                "generator": pipe.settings.generate.backend, "retrieve": pipe.settings.retrieve.model_dump(),
                "index": str(pipe.settings.index_dir), "ks": ks, "systems": [SYSTEM, *names],
                "n_questions": len(items), "n_docs": len(docs), "corpus_files": len(corpus),
                "started": started, "finished": datetime.now(UTC).isoformat(timespec="seconds"),
                "machine": machine_info()}
    summaries = {scope: summarize(rs, ks, [SYSTEM, *names], {**meta, "scope": scope}, indexing)
                 for scope, rs in results.items()}
    if opts.out:
        for scope, summary in summaries.items():
            write_outputs(results[scope], summary, ks, opts.out / ("corpus" if scope == "corpus" else ""))
    if opts.json_output:
        data: Any = (summaries[scopes[0]].model_dump(mode="json") if len(scopes) == 1 else
                     {"scopes": {k: v.model_dump(mode="json") for k, v in summaries.items()}})
        print(json.dumps(data, indent=2, ensure_ascii=False))
    else:
        parts = []
        for scope, summary in summaries.items():
            extra = f", {len(corpus)} files" if scope == "corpus" else ""
            parts.append(f"=== {SCOPE_TITLES[scope]}{extra} ===\n\n{format_summary(summary, ks)}")
        if len(summaries) > 1:
            parts.append(format_scope_comparison(summaries, ks))
        print("\n\n".join(parts))
    return 0
