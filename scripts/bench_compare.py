"""``bench_ingest.py --compare``: whole-ingest pages/s of mmrag, a plain LlamaIndex text-only
pipeline and the raw PyMuPDF floor, side by side, with each run's peak RSS.

Systems (each run in a fresh subprocess, so ``ru_maxrss`` is that run's own peak; model loading is
not timed):

- ``mmrag``: ``Pipeline.ingest`` of the given profile (default ``cpu``) into a fresh index, embedding
  cache off: discovery, parsing, embedding, storing, everything a user waits for.
- ``llamaindex``: the project's LlamaIndex baseline (``rag.eval.li_baseline``): PyMuPDF page text,
  ``SentenceSplitter`` defaults, an in-memory Qdrant, the SAME embedder as the profile.
- ``pymupdf floor``: per page ``get_text("dict")``, drawings, ``find_tables`` where mmrag looks for
  tables, and one PNG render at the profile's ``page_dpi``: the parse work alone, no embedding.

With ``--baseline-tree DIR`` (a checkout of another commit, e.g. ``git worktree add /tmp/base
e4003fc``) ``mmrag@base`` is mmrag run from that checkout's code, on the same data: before and after
side by side. Runs are interleaved (every system once per repeat, in turn), so a change in machine
load hits all alike.

Datasets: ``--docs`` (a folder or files), then a generated PDF of ``--synthetic-pages`` pages and ten
PDFs of a tenth as many (the same pages; 0: none): equal pages/s and equal peak RSS on the two mean cost
linear in pages and memory bounded by the queue, not by document size. Then what the page-level text
vector of text-layer pages costs on ``--docs``: page items embedded as text against all items, with
the seconds the profile's embedder takes for each (sorted by length, ``embed.max_batch`` a batch).
"""

from __future__ import annotations

import json
import logging
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import pymupdf

log = logging.getLogger("bench_ingest")

SYSTEMS = ("mmrag", "llamaindex", "pymupdf floor")
_WORDS = ("pump", "turbine", "audit", "warranty", "depot", "gearbox", "shipment", "invoice", "forecast",
          "capacity", "revenue", "margin", "supplier", "inspection", "bearing", "contract")


def write_synthetic(path: Path, pages: int, first: int = 0) -> Path:
    """A text-layer PDF of ``pages`` pages (~1,800 characters each: a heading, five paragraphs of
    varied sentences); page ``n`` of the set is the same whichever file holds it (``first``)."""
    doc = pymupdf.open()
    for n in range(first, first + pages):
        page = doc.new_page(width=595, height=842)
        page.insert_text((60, 60), f"Operations report - page {n + 1}", fontsize=15)
        paras = []
        for p in range(5):
            words = [_WORDS[(n * 7 + p * 3 + i) % len(_WORDS)] for i in range(8)]
            paras.append(f"In week {n % 52 + 1} site {p} handled {n * 13 + p} {words[0]} orders. "
                         f"The {words[1]} team checked {words[2]} and {words[3]} records for {words[4]} "
                         f"issues; {words[5]} totals rose {p + n % 9}.{n % 10} percent against the "
                         f"{words[6]} plan while {words[7]} costs stayed flat at {n * 3 + p * 11} thousand.")
        page.insert_textbox(pymupdf.Rect(60, 80, 535, 800), "\n\n".join(paras), fontsize=10)
    path.parent.mkdir(parents=True, exist_ok=True)
    doc.save(str(path))
    doc.close()
    return path


def _pdfs(paths: list[Path]) -> list[Path]:
    out: list[Path] = []
    for p in paths:
        out += sorted(p.rglob("*.pdf")) if p.is_dir() else [p]
    return out


def _raw_floor(files: list[Path], dpi: int) -> int:
    sys.path.insert(0, str(Path(__file__).parent))
    from bench_ingest import _raw  # the same floor as the parse benchmark

    return sum(_raw(f, dpi) for f in files)


def child(system: str, paths: list[Path], profile: str, sets: dict[str, Any]) -> dict[str, Any]:
    """Run one system once in this (fresh) process; what it did, its seconds and peak RSS."""
    from rag.config import load_settings

    extra: dict[str, Any] = {}
    with tempfile.TemporaryDirectory(prefix="bench-compare-") as tmp:
        overrides = {"store.path": str(Path(tmp) / "ix"), "embed.cache": False, **sets}
        settings = load_settings(profile, overrides, environ={})
        if system == "mmrag":
            from rag.pipeline import Pipeline

            with Pipeline.from_config(profile, overrides, environ={}) as pipe:
                t0 = time.perf_counter()
                report = pipe.ingest(paths, progress=False)
                seconds = time.perf_counter() - t0
            pages = report.pages
            extra = {"stages": report.stages, "items": report.items, "failed": len(report.files_failed)}
        elif system == "llamaindex":
            from rag.embed.base import build_embedder
            from rag.eval.li_baseline import LlamaIndexBaseline

            baseline = LlamaIndexBaseline(build_embedder(settings.embed))
            t0 = time.perf_counter()
            timing = baseline.index(_pdfs(paths))
            seconds = time.perf_counter() - t0
            pages = timing.pages
            baseline.close()
        else:
            t0 = time.perf_counter()
            pages = _raw_floor(_pdfs(paths), settings.ingest.page_dpi)
            seconds = time.perf_counter() - t0
    return {"system": system, "pages": pages, "seconds": seconds,
            "peak_kib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss,
            "children_peak_kib": resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss, **extra}


def page_item_cost(paths: list[Path], profile: str, sets: dict[str, Any]) -> dict[str, Any]:
    """Parse ``paths`` with the profile, then embed the page items (embedded as text, under the
    profile's ``embed.page_vector``: a ``chunks`` page item embeds nothing) and the other items
    separately, timing each: what the page-level text vector costs."""
    from ingest.discover import discover
    from ingest.parse import parse_many
    from ingest.records import ParsedFile
    from rag.config import load_settings
    from rag.embed.base import build_embedder
    from rag.indexing import max_tokens_of, page_vector_rule, plan_texts, split_items, token_head_of

    with tempfile.TemporaryDirectory(prefix="bench-pagecost-") as tmp:
        settings = load_settings(profile, {"store.path": str(Path(tmp) / "ix"), "embed.cache": False, **sets},
                                 environ={})
        embedder = build_embedder(settings.embed)
        found = discover(paths, settings.ingest)
        texts: dict[str, list[str]] = {"page": [], "other": []}
        window, rule, head = max_tokens_of(embedder), page_vector_rule(settings.embed), token_head_of(embedder)
        for parsed in parse_many(found.files, settings.ingest, Path(tmp) / "media"):
            if isinstance(parsed, ParsedFile):
                as_text, _ = split_items(parsed.items, embedder)
                plan = plan_texts(as_text, window, rule, head)
                for it, text in zip(as_text, plan.texts, strict=True):
                    if text is not None:
                        texts["page" if it.kind == "page" else "other"].append(text)
        out: dict[str, Any] = {}
        batch = settings.embed.max_batch
        for kind, group in texts.items():
            group.sort(key=len)
            t0 = time.perf_counter()
            for s in range(0, len(group), batch):
                embedder.embed_texts(group[s:s + batch])
            out[kind] = {"texts": len(group), "chars": sum(map(len, group)), "seconds": time.perf_counter() - t0}
    return out


BASE = "mmrag@base"


def _spawn(args: list[str], tree: Path | None = None) -> dict[str, Any]:
    """Run ``bench_ingest.py args`` in a fresh process: of this checkout, or of ``tree`` (its code)."""
    env = {**os.environ, "TQDM_DISABLE": "1", "HF_HUB_OFFLINE": "1"}
    script = Path(__file__).parent / "bench_ingest.py"
    if tree is not None:
        script = tree / "scripts" / "bench_ingest.py"
        env["PYTHONPATH"] = str(tree)
    done = subprocess.run([sys.executable, str(script), *args], capture_output=True, text=True, check=False,
                          env=env, cwd=tree)
    if done.returncode != 0:
        raise SystemExit(f"bench child {args[:2]} failed:\n{done.stderr[-3000:]}")
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def _sets_args(sets: list[str]) -> list[str]:
    return [a for s in sets for a in ("--set", s)]


def run_compare(docs: list[Path], profile: str, sets: list[str], synthetic_pages: int, repeats: int,
                page_cost: bool, systems: tuple[str, ...] = SYSTEMS, baseline: Path | None = None,
                baseline_sets: list[str] | None = None) -> str:
    """Every system on every dataset (``repeats`` runs each, interleaved, median), as markdown tables;
    ``baseline``: also mmrag from that checkout (``mmrag@base``), right after this one's, with
    ``baseline_sets`` as its overrides (None: ``sets``; an older checkout may not know a new key)."""
    from bench_ingest import machine_line

    lines = [machine_line(), ""]
    with tempfile.TemporaryDirectory(prefix="bench-compare-data-") as scratch:
        root = Path(scratch)
        tenth = max(synthetic_pages // 10, 1)
        datasets = [(f"--docs ({len(_pdfs(docs))} files)", [p.resolve() for p in docs]) if docs else None]
        if synthetic_pages > 0:
            write_synthetic(root / "one" / f"one_{synthetic_pages}p.pdf", synthetic_pages)
            for i in range(10):
                write_synthetic(root / "ten" / f"part_{i:02d}.pdf", tenth, first=i * tenth)
            datasets += [(f"1 x {synthetic_pages}-page PDF", [root / "one"]),
                         (f"10 x {tenth}-page PDFs", [root / "ten"])]
        if baseline is not None:
            at = systems.index("mmrag") + 1 if "mmrag" in systems else 0
            systems = (*systems[:at], BASE, *systems[at:])
        lines += [f"| dataset | system | pages | seconds (median) | pages/s | peak RSS MiB | vs {systems[0]} |",
                  "|---|---|---:|---:|---:|---:|---:|"]
        stage_lines: list[str] = []
        for entry in datasets:
            if entry is None:
                continue
            name, paths = entry
            runs: dict[str, list[dict[str, Any]]] = {system: [] for system in systems}
            for r in range(repeats):
                for system in systems:
                    log.info("%s | %s | run %d/%d", name, system, r + 1, repeats)
                    own = baseline_sets if system == BASE and baseline_sets is not None else sets
                    runs[system].append(_spawn(["--compare-child", "mmrag" if system == BASE else system,
                                                "--profile", profile, *_sets_args(own),
                                                "--paths", *[str(p) for p in paths]],
                                               baseline if system == BASE else None))
            rows: dict[str, dict[str, Any]] = {}
            for system, got in runs.items():
                best = sorted(got, key=lambda x: x["seconds"])[len(got) // 2]
                best["seconds"] = statistics.median(x["seconds"] for x in got)
                best["all"] = [round(x["seconds"], 1) for x in got]
                rows[system] = best
            first = rows[systems[0]]
            base = first["pages"] / first["seconds"]
            for system, m in rows.items():
                pps = m["pages"] / m["seconds"]
                peak = max(m["peak_kib"], m.get("children_peak_kib", 0)) / 1024
                lines.append(f"| {name} | {system} | {m['pages']} | {m['seconds']:.1f} | {pps:.2f} | {peak:.0f} "
                             f"| {pps / base:.2f}x |")
            for system in ("mmrag", BASE):
                if system in rows:
                    stages = rows[system].get("stages", {})
                    stage_lines.append(f"- {name}, {system} stages (s): "
                                       + ", ".join(f"{k} {v:.1f}" for k, v in stages.items())
                                       + f"; runs (s): {rows[system]['all']}")
        lines += ["", *stage_lines]
        if page_cost and docs:
            cost = _spawn(["--page-cost-child", "--profile", profile, *_sets_args(sets),
                           "--paths", *[str(p) for p in docs]])
            total_s = cost["page"]["seconds"] + cost["other"]["seconds"]
            total_n = cost["page"]["texts"] + cost["other"]["texts"]
            lines += ["", "| texts embedded (--docs) | count | share of texts | characters | embed seconds "
                      "| share of embed time |", "|---|---:|---:|---:|---:|---:|"]
            for kind, label in (("page", "page items (bridge text)"), ("other", "chunks, tables, figures")):
                c = cost[kind]
                lines.append(f"| {label} | {c['texts']} | {c['texts'] / max(total_n, 1):.0%} | {c['chars']:,} "
                             f"| {c['seconds']:.1f} | {c['seconds'] / max(total_s, 1e-9):.0%} |")
    lines += ["", f"load average at the end: {', '.join(f'{x:.2f}' for x in os.getloadavg())}"]
    return "\n".join(lines)
