"""The ``mmrag`` command: ingest, ask, search, stats, copy, demo, build-tiny.

Every command takes ``--config`` (a profile name or YAML path), ``--set section.field=value``
overrides, ``--index DIR`` (shortcut for ``--set store.path=DIR``) and ``--json`` for machines.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

from ingest.records import ITEM_KINDS
from rag.cli_format import format_hits, format_ingest_report, format_stats, shown
from rag.cli_progress import ProgressLine
from rag.errors import MmragError
from rag.records import Answer, DateRange, Evidence, IngestReport, SearchFilter

if TYPE_CHECKING:
    from rag.config import Settings
    from rag.ingestion import Ingestor
    from rag.pipeline import Pipeline
    from rag.store.base import Store

log = logging.getLogger("mmrag")

DEMO_QUESTION = "What was ACME's revenue in Europe in 2025?"


def parse_sets(pairs: Sequence[str]) -> dict[str, Any]:
    """``section.field=value`` pairs (``--set``) as profile overrides, values read as YAML."""
    out: dict[str, Any] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise MmragError(f"--set expects section.field=value, got {pair!r}")
        out[key.strip()] = yaml.safe_load(value) if value else value
    return out


def _overrides(args: argparse.Namespace) -> dict[str, Any]:
    out = parse_sets(args.set or [])
    if args.index:
        out["store.path"] = args.index
    if getattr(args, "engine", None):
        out["ingest.engine"] = args.engine
    if getattr(args, "ray_address", None) is not None:
        out["ray.address"] = args.ray_address
    return out


def _pipeline(args: argparse.Namespace) -> Any:
    from rag.pipeline import Pipeline

    with quiet_model_loading(args.verbose):
        return Pipeline.from_config(args.config, _overrides(args))


@contextmanager
def quiet_model_loading(verbose: bool) -> Iterator[None]:
    """Hide the model-loading progress bars (transformers' "Loading weights", Hugging Face Hub
    downloads) unless ``--verbose``; the previous setting comes back afterwards."""
    restore: list[Callable[[], None]] = []
    if not verbose:
        try:
            from transformers.utils import logging as tf_logging
        except ImportError:
            pass
        else:
            if tf_logging.is_progress_bar_enabled():
                tf_logging.disable_progress_bar()
                restore.append(tf_logging.enable_progress_bar)
        try:
            from huggingface_hub.utils import are_progress_bars_disabled, disable_progress_bars, enable_progress_bars
        except ImportError:
            pass
        else:
            if not are_progress_bars_disabled():
                disable_progress_bars()
                restore.append(enable_progress_bars)
    try:
        yield
    finally:
        for undo in restore:
            undo()


def _settings(args: argparse.Namespace) -> Settings:
    from rag.config import load_settings

    return load_settings(args.config, _overrides(args))


def _where(settings: Settings) -> str:
    return settings.store.url if settings.store.backend == "server" else str(settings.index_dir)


def _open_existing_store(settings: Settings) -> Store | None:
    """The configured store without loading any model, or None when an embedded index was never
    written (nothing is created on disk to find that out)."""
    from rag.store.base import open_store

    backend = settings.store.backend
    if backend in ("edge", "local") and not (settings.index_dir / backend).is_dir():
        return None
    return open_store(settings.store)


def require_index(settings: Settings) -> None:
    """Fail with a sentence saying what to do when the index is missing or holds nothing."""
    where = _where(settings)
    hint = f"ingest a folder first: mmrag ingest FOLDER --index {shown(where)}"
    store = _open_existing_store(settings)
    if store is None:
        raise MmragError(f"no index at {shown(where)}; {hint}")
    try:
        points = store.stats().points
    finally:
        store.close()
    if points == 0:
        raise MmragError(f"the index at {shown(where)} is empty; {hint}")


def _emit(args: argparse.Namespace, data: Any, human: str) -> None:
    if args.json:
        print(json.dumps(data, indent=2, ensure_ascii=False))
    else:
        print(human)


def _evidence_json(ev: Evidence) -> dict[str, Any]:
    return {"id": ev.id, "file": ev.file, "page": ev.page, "kind": ev.kind, "score": round(ev.score, 6),
            "text": ev.text[:500], "image_path": ev.image_path}


def _answer_json(ans: Answer) -> dict[str, Any]:
    return {
        "answer": ans.text,
        "abstained": ans.abstained,
        "citations": [{"n": c.n, "id": c.id, "file": c.file, "page": c.page, "kind": c.kind,
                       "bbox": c.bbox.model_dump() if c.bbox else None, "image_path": c.image_path,
                       "where": c.where}
                      for c in ans.citations],
        "evidence": [_evidence_json(e) for e in ans.evidence],
        "dropped_citations": ans.dropped_citations,
        "seconds": ans.seconds,
    }


def format_answer(ans: Answer) -> str:
    """Human-readable answer with its sources."""
    lines = [ans.text.strip(), ""]
    if ans.citations:
        lines.append("Sources:")
        lines += [f"  [{c.n}] {shown(c.file)}, {c.where} ({c.kind})" for c in ans.citations]
    elif ans.abstained:
        lines.append("(no supporting evidence found)")
    return "\n".join(lines)


EXIT_FILES_FAILED = 3
"""``mmrag ingest`` exit status when the run finished but at least one file failed (the report
lists them); 0 when none failed (skipped files and notices do not count), 2 on an error that
stopped the run."""


def ingest_with_progress(pipe: Pipeline | Ingestor, paths: Sequence[str | Path], args: argparse.Namespace,
                         tenant: str = "default", tags: Sequence[str] = ()) -> IngestReport:
    """Run an ingest with a progress line in pages on stderr (none with ``--json``)."""
    if args.json:
        return pipe.ingest(paths, tenant=tenant, tags=list(tags), progress=False)
    line = ProgressLine(sys.stderr, unit="pages")
    try:
        return pipe.ingest(paths, tenant=tenant, tags=list(tags), progress=False,
                           on_pages=lambda p: line(p.pages_done, p.pages_total))
    finally:
        line.close()


def cmd_ingest(args: argparse.Namespace) -> int:
    settings = _settings(args)
    if settings.ingest.engine == "ray":  # the embedder is loaded by the Ray actors, not here
        from rag.engines.driver import driver_ingestor

        with driver_ingestor(settings) as ingestor:
            report = ingest_with_progress(ingestor, args.paths, args, tenant=args.tenant, tags=args.tag or [])
    else:
        with _pipeline(args) as pipe:
            report = ingest_with_progress(pipe, args.paths, args, tenant=args.tenant, tags=args.tag or [])
    _emit(args, report.model_dump(), format_ingest_report(report))
    return EXIT_FILES_FAILED if report.files_failed else 0


def cmd_copy(args: argparse.Namespace) -> int:
    """Copy the configured index to ``--to`` (a server URL or an embedded folder); loads no model."""
    from rag.store.base import open_store
    from rag.store.copy import copy_store, same_store, target_config

    settings = _settings(args)
    source = _open_existing_store(settings)
    if source is None:
        raise MmragError(f"no index at {shown(_where(settings))} to copy")
    try:
        target = target_config(settings.store, args.to, collection=args.collection,
                               shard_number=args.shards, replication_factor=args.replication_factor)
        if same_store(settings.store, target):
            raise MmragError(f"--to {args.to} names the source index itself")
        dest = open_store(target)
        line = None if args.json else ProgressLine(sys.stderr, unit="points", label="copy")
        try:
            report = copy_store(source, dest, on_progress=line)
        finally:
            if line is not None:
                line.close()
            dest.close()
    finally:
        source.close()
    where = target.url if target.backend == "server" else f"{target.backend} index {shown(target.path)}"
    _emit(args, {**report.model_dump(), "to": where, "collection": target.collection},
          f"copied {report.points:,} points ({report.pages} pages) to {where}, collection {target.collection!r}; "
          f"embedder {report.embedder_id} (dim {report.dim}). The manifest and page renders stay in "
          f"{shown(str(settings.index_dir))}: keep store.path pointing there")
    return 0


def _date(text: str) -> datetime:
    """An ISO date or date-time for the date flags (``2024-03-01``, ``2024-03-01T12:00+02:00``)."""
    try:
        return datetime.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an ISO date: {text!r} (use YYYY-MM-DD)") from None


def _search_filter(args: argparse.Namespace) -> SearchFilter | None:
    """The filter given by ``--file``, ``--kind``, ``--tag``, ``--tenant`` and the date flags."""
    def dates(since: datetime | None, until: datetime | None) -> DateRange | None:
        return None if since is None and until is None else DateRange(since=since, until=until)

    flt = SearchFilter(file_globs=args.file or [], kinds=args.kind or [], tags=args.tag or [], tenant=args.tenant,
                       modified=dates(args.modified_since, args.modified_until),
                       created=dates(args.created_since, args.created_until))
    return None if flt == SearchFilter() else flt


def cmd_ask(args: argparse.Namespace) -> int:
    require_index(_settings(args))
    with _pipeline(args) as pipe:
        ans = pipe.ask(args.question, flt=_search_filter(args))
    _emit(args, _answer_json(ans), format_answer(ans))
    return 0


def cmd_search(args: argparse.Namespace) -> int:
    require_index(_settings(args))
    with _pipeline(args) as pipe:
        hits = pipe.search(args.query, k=args.k, flt=_search_filter(args))
    _emit(args, [_evidence_json(e) for e in hits], format_hits(hits))
    return 0


def cmd_stats(args: argparse.Namespace) -> int:
    """Reads the store only: no embedder or generator is loaded."""
    from rag.records import StoreStats

    settings = _settings(args)
    store = _open_existing_store(settings)
    if store is None:
        st = StoreStats(points=0, files=0, items={}, embedder_id="", dim=0)
    else:
        try:
            st = store.stats()
        finally:
            store.close()
    _emit(args, st.model_dump(), format_stats(st, _where(settings)))
    return 0


def cmd_optimize(args: argparse.Namespace) -> int:
    with _pipeline(args) as pipe:
        points = pipe.stats().points
        t0 = time.perf_counter()
        changed = pipe.optimize()
        seconds = round(time.perf_counter() - t0, 2)
    _emit(args, {"changed": changed, "seconds": seconds, "points": points},
          f"index {'rebuilt' if changed else 'already optimal'} in {seconds} s ({points} points)")
    return 0


def cmd_demo(args: argparse.Namespace) -> int:
    from ingest.samples import write_sample_folder

    folder = Path(args.folder)
    files = write_sample_folder(folder)
    log.info("sample folder %s: %s", folder, ", ".join(p.name for p in files))
    with _pipeline(args) as pipe:
        t = time.perf_counter()
        report = ingest_with_progress(pipe, [folder], args)
        ans = pipe.ask(args.question)
        seconds = round(time.perf_counter() - t, 2)
    if args.json:
        print(json.dumps({"ingest": report.model_dump(), "question": args.question, **_answer_json(ans)},
                         indent=2, ensure_ascii=False))
    else:
        print(f"Sample folder {shown(str(folder))}\n{format_ingest_report(report)}\n\n"
              f"Q: {args.question}\n\n{format_answer(ans)}\n\n({seconds}s)")
    return 0


def cmd_build_tiny(args: argparse.Namespace) -> int:
    from rag.testing.tiny import build_tiny_llava

    path = build_tiny_llava(Path(args.dest) / "llava-next")
    print(path)
    return 0


def cmd_serve(args: argparse.Namespace) -> int:
    from rag.server.run import serve

    with quiet_model_loading(args.verbose):
        return serve(args.config, _overrides(args), host=args.host, port=args.port)


def cmd_eval(args: argparse.Namespace) -> int:
    from rag.eval.command import EvalOptions, run_eval_command

    opts = EvalOptions(qa=args.qa, docs=args.docs, config=args.config, k=args.k, out=args.out, limit=args.limit,
                       baselines=args.baselines, scope=args.scope, json_output=args.json)
    with quiet_model_loading(args.verbose):
        return run_eval_command(opts, _overrides(args))


def cmd_bench(args: argparse.Namespace) -> int:
    from rag.eval.bench import run_bench_command

    with quiet_model_loading(args.verbose):
        return run_bench_command(args, _overrides(args))


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
