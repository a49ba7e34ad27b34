"""``mmrag bench [--docs DIR] [--repeats N]``: throughput and latency, with the baselines beside.

Measured per repeat, then the median over repeats is reported:

- ingest throughput (pages/s) into a FRESH temporary index (embedding cache off, so every repeat
  embeds), and the same for the baselines (BM25 index build; LlamaIndex ingest: text, chunking,
  embedding, Qdrant upsert);
- embedding throughput (items/s) of passages, queries, and images when the embedder has an image space;
- query latency p50/p95 of ``search`` and ``ask`` (and the baselines' retrieval), each query restricted
  to one document as in ``mmrag eval``. Queries are built from the documents themselves (a run of
  words from a page), so no QA set is needed.

The embedder is loaded once and shared by every repeat and by the LlamaIndex baseline.
"""

from __future__ import annotations

import argparse
import json
import logging
import random
import statistics
import tempfile
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from rag.config import Settings, load_settings
from rag.embed.base import Embedder
from rag.errors import MmragError
from rag.eval import metrics as m
from rag.eval.baselines import BM25Baseline, PageRetriever, in_worker, page_texts
from rag.records import SearchFilter

log = logging.getLogger(__name__)

SYSTEM = "mmrag"
QUERIES_PER_REPEAT = 12
EMBED_TEXTS = 64
EMBED_IMAGES = 8
QUERY_WORDS = 10
INGEST_STAGES = ("parse", "embed", "store")


class Measure(BaseModel):
    """One quantity: the value of every repeat and their median."""

    model_config = ConfigDict(extra="forbid")

    unit: str
    values: list[float] = Field(default_factory=list)

    @property
    def median(self) -> float | None:
        return statistics.median(self.values) if self.values else None


class BenchResult(BaseModel):
    """Every measure, keyed ``system -> quantity``."""

    model_config = ConfigDict(extra="forbid")

    meta: dict[str, Any]
    measures: dict[str, dict[str, Measure]] = Field(default_factory=dict)

    def add(self, system: str, quantity: str, unit: str, value: float | None) -> None:
        """Record one repeat's value (None is skipped)."""
        if value is None:
            return
        self.measures.setdefault(system, {}).setdefault(quantity, Measure(unit=unit)).values.append(value)

    def median(self, system: str, quantity: str) -> float | None:
        got = self.measures.get(system, {}).get(quantity)
        return got.median if got else None


def pdf_files(folder: Path) -> list[Path]:
    """PDFs under ``folder``, sorted, as absolute resolved paths."""
    files = sorted(p.resolve() for p in folder.rglob("*") if p.is_file() and p.suffix.lower() == ".pdf")
    if not files:
        raise MmragError(f"--docs {folder}: no PDF files found")
    return files


def make_queries(files: Sequence[Path], n: int, seed: int = 0) -> list[tuple[str, Path]]:
    """``n`` known-item queries: ``QUERY_WORDS`` consecutive words of a random text page of a random file."""
    rng = random.Random(seed)
    pool: list[tuple[list[str], Path]] = []
    for f in files:
        pool += [(words, f) for words in (t.split() for t in page_texts(f)) if len(words) >= QUERY_WORDS]
    if not pool:
        raise MmragError("no page with a text layer to build bench queries from")
    out = []
    for _ in range(n):
        words, f = rng.choice(pool)
        start = rng.randrange(0, len(words) - QUERY_WORDS + 1)
        out.append((" ".join(words[start:start + QUERY_WORDS]), f))
    return out


def _latencies(fn: Callable[[str, Path], object], queries: Sequence[tuple[str, Path]]) -> list[float]:
    out = []
    for q, f in queries:
        t = time.perf_counter()
        fn(q, f)
        out.append(time.perf_counter() - t)
    return out


def _add_latency(res: BenchResult, system: str, op: str, secs: list[float]) -> None:
    res.add(system, f"{op} p50", "ms", _ms(m.percentile(secs, 50)))
    res.add(system, f"{op} p95", "ms", _ms(m.percentile(secs, 95)))


def _ms(x: float | None) -> float | None:
    return None if x is None else x * 1000


def bench_embedder(embedder: Embedder, files: Sequence[Path], res: BenchResult) -> None:
    """Passages, queries and (if the space has images) page renders per second, one repeat (called in a
    worker thread, as the pipeline calls its embedder)."""
    texts = [t for f in files for t in page_texts(f) if t.strip()][:EMBED_TEXTS]
    passages = [t[:1000] for t in texts]
    if passages:
        in_worker(embedder.embed_texts, passages[:2])  # warm-up: first calls pay one-off allocation costs
        t = time.perf_counter()
        in_worker(embedder.embed_texts, passages)
        res.add(SYSTEM, "embed passages", "items/s", len(passages) / (time.perf_counter() - t))
        queries = [" ".join(p.split()[:QUERY_WORDS]) for p in passages]
        t = time.perf_counter()
        in_worker(embedder.embed_queries, queries)
        res.add(SYSTEM, "embed queries", "items/s", len(queries) / (time.perf_counter() - t))
    if embedder.embeds_images:
        images = _page_images(files, EMBED_IMAGES)
        t = time.perf_counter()
        in_worker(embedder.embed_images, images)
        res.add(SYSTEM, "embed images", "items/s", len(images) / (time.perf_counter() - t))


def _page_images(files: Sequence[Path], n: int) -> list[Any]:
    import pymupdf
    from PIL import Image

    out: list[Any] = []
    for f in files:
        with pymupdf.open(f) as doc:
            for page in doc:
                pix = page.get_pixmap(dpi=100)
                out.append(Image.frombytes("RGB", (pix.width, pix.height), pix.samples))
                if len(out) >= n:
                    return out
    return out


def _settings_for(config: str, overrides: Mapping[str, Any], index: Path) -> Settings:
    return load_settings(config, {**overrides, "store.path": str(index), "embed.cache": False})


def bench_pipeline(config: str, overrides: Mapping[str, Any], embedder: Embedder, docs: Path,
                   queries: Sequence[tuple[str, Path]], res: BenchResult, work: Path, repeat: int) -> None:
    """One repeat of the pipeline: ingest into a fresh index, then query it."""
    from rag.generate.base import build_generator
    from rag.pipeline import Pipeline
    from rag.store.base import open_store

    settings = _settings_for(config, overrides, work / f"index-{repeat}")
    settings.index_dir.mkdir(parents=True, exist_ok=True)
    with Pipeline(settings, embedder, open_store(settings.store), build_generator(settings.generate)) as pipe:
        report = pipe.ingest([docs], progress=False)
        if report.files_failed:
            log.warning("bench ingest: %d files failed: %s", len(report.files_failed),
                        [f.path for f in report.files_failed[:3]])
        res.add(SYSTEM, "ingest", "pages/s", report.pages / report.seconds if report.seconds else None)
        for stage in INGEST_STAGES:
            res.add(SYSTEM, f"ingest {stage} (total)", "s", report.stages.get(stage))
        flt = {f: SearchFilter(files=[str(f)]) for _, f in queries}
        _add_latency(res, SYSTEM, "search", _latencies(lambda q, f: pipe.search(q, flt=flt[f]), queries))
        _add_latency(res, SYSTEM, "ask", _latencies(lambda q, f: pipe.ask(q, flt=flt[f]), queries))


def bench_baseline(make: Callable[[], PageRetriever], files: Sequence[Path],
                   queries: Sequence[tuple[str, Path]], k: int, res: BenchResult) -> None:
    """One repeat of a baseline: build its index from scratch, then query it."""
    baseline = make()
    timing = in_worker(baseline.index, files)
    res.add(baseline.name, "ingest", "pages/s", timing.pages_per_s)
    _add_latency(res, baseline.name, "search",
                 _latencies(lambda q, f: in_worker(baseline.retrieve, q, f, k), queries))
    close = getattr(baseline, "close", None)
    if close is not None:
        close()


def format_bench(res: BenchResult) -> str:
    """Table of medians: one row per quantity, one column per system, ratios mmrag/baseline."""
    systems = list(res.measures)
    base = [s for s in systems if s != SYSTEM]
    quantities = list(dict.fromkeys(q for s in systems for q in res.measures[s]))
    header = ["quantity", "unit", *systems, *(f"{SYSTEM}/{b}" for b in base)]
    rows = []
    for q in quantities:
        unit = next(res.measures[s][q].unit for s in systems if q in res.measures[s])
        vals = [res.median(s, q) for s in systems]
        mine = res.median(SYSTEM, q)
        ratios = []
        for b in base:
            other = res.median(b, q)
            ratios.append("-" if mine is None or not other else f"{mine / other:.3g}x")
        rows.append([q, unit, *("-" if v is None else f"{v:.1f}" for v in vals), *ratios])
    widths = [max(len(str(c)) for c in col) for col in zip(header, *rows, strict=False)]

    def line(cells: Sequence[str]) -> str:
        return "  ".join(c.ljust(w) if i < 2 else c.rjust(w)
                         for i, (c, w) in enumerate(zip(cells, widths, strict=True)))

    meta = res.meta
    head = (f"mmrag bench: {meta.get('pages')} pages in {meta.get('files')} files, "
            f"{meta.get('repeats')} repeats (medians), {meta.get('queries')} queries per repeat, "
            f"embedder {meta.get('embedder')}\nrates (/s): higher is better; latencies (ms) and stage "
            f"seconds: lower is better; ratios are mmrag / baseline")
    return "\n".join([head, line(header), line(["-" * w for w in widths]), *(line(r) for r in rows)])


def run_bench_command(args: argparse.Namespace, overrides: Mapping[str, Any]) -> int:
    """The ``mmrag bench`` command. Returns the exit code."""
    from rag.embed.base import build_embedder
    from rag.eval.machine import machine_info

    if args.repeats < 1:
        raise MmragError(f"--repeats must be at least 1, got {args.repeats}")
    settings = load_settings(args.config, overrides)
    with tempfile.TemporaryDirectory(prefix="mmrag-bench-") as tmp:
        work = Path(tmp)
        if args.docs:
            docs = Path(args.docs)
        else:
            from ingest.samples import write_sample_folder

            docs = work / "sample"
            write_sample_folder(docs)
        files = pdf_files(docs)
        queries = make_queries(files, QUERIES_PER_REPEAT)
        t = time.perf_counter()
        embedder = build_embedder(settings.embed)
        load_s = time.perf_counter() - t
        pages = sum(len(page_texts(f)) for f in files)
        res = BenchResult(meta={"docs": str(docs), "files": len(files), "pages": pages,
                                "repeats": args.repeats, "queries": len(queries),
                                "config": str(args.config), "embedder": embedder.id,
                                "embedder_load_s": round(load_s, 2), "generator": settings.generate.backend,
                                "store": settings.store.backend, "machine": machine_info()})
        k = settings.retrieve.k
        for r in range(args.repeats):
            log.info("bench repeat %d/%d", r + 1, args.repeats)
            bench_embedder(embedder, files, res)
            bench_pipeline(args.config, overrides, embedder, docs, queries, res, work, r)
            bench_baseline(BM25Baseline, files, queries, k, res)
            bench_baseline(lambda: _llamaindex(embedder), files, queries, k, res)
    if args.json:
        print(json.dumps(res.model_dump(mode="json") | {"medians": {
            s: {q: res.median(s, q) for q in qs} for s, qs in res.measures.items()}}, indent=2))
    else:
        print(format_bench(res))
    return 0


def _llamaindex(embedder: Embedder) -> PageRetriever:
    from rag.eval.li_baseline import LlamaIndexBaseline

    return LlamaIndexBaseline(embedder)
