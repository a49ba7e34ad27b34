"""What each ``mmrag`` command does (``cmd_*``, one per subcommand of :func:`rag.cli.build_parser`)
and the helpers they share: settings and pipeline from the flags, the index check, output.
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

from rag.cli_format import format_hits, format_ingest_report, format_stats, shown
from rag.cli_options import _overrides
from rag.cli_progress import ProgressLine
from rag.errors import MmragError
from rag.records import Answer, DateRange, Evidence, IngestReport, SearchFilter

if TYPE_CHECKING:
    from rag.config import Settings
    from rag.ingestion import Ingestor
    from rag.pipeline import Pipeline
    from rag.store.base import Store

log = logging.getLogger("mmrag")


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
    from rag.backend_settings import ServerStoreConfig

    store = settings.store
    return store.url if isinstance(store, ServerStoreConfig) else str(settings.index_dir)


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
        "support_issue": ans.support_issue,
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
    from rag.backend_settings import ServerStoreConfig
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
    where = target.url if isinstance(target, ServerStoreConfig) else f"{target.backend} index {shown(target.path)}"
    _emit(args, {**report.model_dump(), "to": where, "collection": target.collection},
          f"copied {report.points:,} points ({report.pages} pages) to {where}, collection {target.collection!r}; "
          f"embedder {report.embedder_id} (dim {report.dim}). The manifest and page renders stay in "
          f"{shown(str(settings.index_dir))}: keep store.path pointing there")
    return 0


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
