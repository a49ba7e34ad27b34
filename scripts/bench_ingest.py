"""Parse throughput of mmrag's ``parse_file`` against a raw PyMuPDF floor, and its peak memory.

Every PDF is measured in five configurations, round-robin (one pass over all five per repeat, so a
change in machine load hits every configuration alike); the table shows the median of ``--repeats``:

- ``raw text``: PyMuPDF alone doing the extraction mmrag's page pass does: ``get_text("dict")`` with
  mmrag's flags and ``get_drawings()`` on every page, and ``find_tables(use_layout=False)`` on the
  pages mmrag searches for tables (``ingest.tables.may_have_tables``). No chunking, figures or files.
- ``raw text+render``: the same plus one ``get_pixmap(dpi=--dpi)`` PNG per page (kept in memory).
- ``mmrag``, render off, OCR off: ``parse_file`` (tables and figure crops on); compared with raw text.
- ``mmrag``, render on, OCR off: page renders written to a temporary media folder; compared with raw
  text+render.
- ``mmrag``, render on, OCR tesseract (when Tesseract is installed): compared with raw text+render,
  which has no OCR, so the ratio shows what OCR costs.

Then peak memory: ``parse_file`` with the full ``IngestConfig`` defaults on the largest PDF given (by
bytes; ``--memory-pdf`` to choose), in a fresh subprocess per PDF that reports its own RSS high-water
mark (``getrusage(RUSAGE_SELF).ru_maxrss``) after the imports and after the parse, and the largest of
the Tesseract processes it ran (``RUSAGE_CHILDREN``).

    .venv/bin/python scripts/bench_ingest.py                     # a few eval PDFs, else the sample
    .venv/bin/python scripts/bench_ingest.py --pdf a.pdf b.pdf --repeats 5
    .venv/bin/python scripts/bench_ingest.py --pdf a.pdf --memory-pdf big.pdf --no-ocr
    E=/work/shared/eval/pdfs; .venv/bin/python scripts/bench_ingest.py \\
        --pdf $E/ADOBE_2022_10K.pdf $E/2303.05039v2.pdf \\
        $E/germanwingsdigitalcrisisanalysis-150403064828-conversion-gate01_95.pdf \\
        --memory-pdf $E/PEPSICO_2021_10K.pdf

The default PDFs are ``DEFAULT_EVAL_PDFS`` under ``/work/shared/eval/pdfs`` when that folder exists
(a 10-K, an image-only slide deck, a paper), else the generated sample report (``ingest.samples``).
Progress goes to stderr; stdout gets the machine line and the markdown tables only.

``--compare`` measures whole ingests instead (``scripts/bench_compare.py``): pages/s and peak RSS of
mmrag (``--profile``, default ``cpu``), the plain LlamaIndex text-only pipeline with the same embedder
and the raw PyMuPDF floor, on ``--docs`` and on a generated ``--synthetic-pages``-page PDF against ten
PDFs of a tenth as many pages, each run in its own subprocess:

    .venv/bin/python scripts/bench_ingest.py --compare --docs ../shared/eval/pdfs
    .venv/bin/python scripts/bench_ingest.py --compare --docs a.pdf b.pdf --synthetic-pages 200 --repeats 1
"""

from __future__ import annotations

import argparse
import gc
import json
import logging
import os
import platform
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import bench_compare  # the sibling script (scripts/ is on sys.path)
import pymupdf

from ingest import tables
from ingest.config import IngestConfig
from ingest.discover import sha256_file
from ingest.errors import IngestError
from ingest.figures import page_drawings
from ingest.layout import TEXT_FLAGS
from ingest.parse import parse_file
from ingest.records import FileInfo
from rag.cli_options import parse_sets

log = logging.getLogger("bench_ingest")

EVAL_DIR = Path("/work/shared/eval/pdfs")
DEFAULT_EVAL_PDFS = (
    "ADOBE_2022_10K.pdf",  # 10-K: 99 pages, text layer, many ruled tables
    "germanwingsdigitalcrisisanalysis-150403064828-conversion-gate01_95.pdf",  # slides: 23 image-only pages
    "2303.05039v2.pdf",  # paper: 9 pages, two columns, figures
)
RAW_TEXT, RAW_RENDER = "raw text", "raw text+render"


@dataclass(frozen=True)
class Config:
    """One measured configuration: a name, its floor (None for a floor itself) and the work."""

    name: str
    floor: str | None
    run: Callable[[Path], int]
    """Parses the PDF once; returns its page count."""


@dataclass
class Row:
    """One line of the throughput table."""

    pdf: str
    config: str
    pages: int
    seconds: float
    ratio: float | None


def _raw(path: Path, dpi: int | None) -> int:
    """The PyMuPDF floor: mmrag's text, drawings and table extraction, plus renders when ``dpi``."""
    doc = pymupdf.open(stream=path.read_bytes(), filetype="pdf")
    try:
        for pno in range(doc.page_count):
            page = doc.load_page(pno)
            page.get_text("dict", flags=TEXT_FLAGS)
            drawings = page_drawings(page)
            if tables.may_have_tables(drawings):
                page.find_tables(use_layout=False)
            if dpi is not None:
                page.get_pixmap(dpi=dpi, alpha=False).tobytes("png")
        return int(doc.page_count)
    finally:
        doc.close()


def _file_info(path: Path) -> FileInfo:
    st = path.stat()
    return FileInfo(path=str(path.resolve()), size=st.st_size, mtime=st.st_mtime, sha256=sha256_file(path))


def _mmrag(cfg: IngestConfig) -> Callable[[Path], int]:
    def run(path: Path) -> int:
        info = _file_info(path)  # discovery's hash is part of what a file costs
        media = Path(tempfile.mkdtemp(prefix="bench-ingest-"))
        try:
            return parse_file(info, cfg, media).document.pages
        finally:
            shutil.rmtree(media, ignore_errors=True)

    return run


def configs(dpi: int, ocr: bool) -> list[Config]:
    """The configurations to measure, floors first."""
    base = IngestConfig(page_dpi=dpi, workers=1)
    out = [
        Config(RAW_TEXT, None, lambda p: _raw(p, None)),
        Config(RAW_RENDER, None, lambda p: _raw(p, dpi)),
        Config("mmrag render off, OCR off", RAW_TEXT,
               _mmrag(base.model_copy(update={"render_pages": False, "ocr": "none"}))),
        Config("mmrag render on, OCR off", RAW_RENDER, _mmrag(base.model_copy(update={"ocr": "none"}))),
    ]
    if ocr:
        out.append(Config("mmrag render on, OCR tesseract", RAW_RENDER,
                          _mmrag(base.model_copy(update={"ocr": "tesseract"}))))
    return out


def measure(pdf: Path, cfgs: list[Config], repeats: int) -> list[Row]:
    """Median seconds of each configuration on ``pdf``, configurations interleaved per repeat."""
    seconds: dict[str, list[float]] = {c.name: [] for c in cfgs}
    pages: dict[str, int] = {}
    for r in range(repeats):
        for c in cfgs:
            gc.collect()
            t0 = time.perf_counter()
            pages[c.name] = c.run(pdf)
            seconds[c.name].append(time.perf_counter() - t0)
            log.info("%s | %s | repeat %d/%d: %.2fs", pdf.name, c.name, r + 1, repeats, seconds[c.name][-1])
    median = {name: statistics.median(s) for name, s in seconds.items()}
    return [Row(pdf.name, c.name, pages[c.name], median[c.name],
                median[c.name] / median[c.floor] if c.floor else None) for c in cfgs]


def _memory_child(path: Path) -> None:
    """Run in the subprocess: parse ``path`` with the full defaults, print RSS peaks as JSON."""
    info = _file_info(path)
    cfg = IngestConfig()
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    media = Path(tempfile.mkdtemp(prefix="bench-ingest-mem-"))
    try:
        t0 = time.perf_counter()
        parsed = parse_file(info, cfg, media)
        seconds = time.perf_counter() - t0
    finally:
        shutil.rmtree(media, ignore_errors=True)
    print(json.dumps({
        "pages": parsed.document.pages, "items": len(parsed.items), "seconds": seconds,
        "baseline_kib": before, "peak_kib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss,
        "tesseract_kib": resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss, "ocr": cfg.ocr,
    }))


def peak_memory(pdf: Path) -> dict[str, float]:
    """Peak RSS of ``parse_file`` on ``pdf`` (full defaults), measured in a fresh process."""
    log.info("%s | peak memory (full defaults) in a subprocess", pdf.name)
    done = subprocess.run([sys.executable, __file__, "--memory-child", str(pdf)], capture_output=True, text=True,
                          check=False)
    if done.returncode != 0:
        raise SystemExit(f"memory subprocess failed on {pdf}:\n{done.stderr[-2000:]}")
    out: dict[str, float] = json.loads(done.stdout.strip().splitlines()[-1])
    return out


def _cpu_model() -> str:
    try:
        lines = Path("/proc/cpuinfo").read_text().splitlines()
    except OSError:
        return platform.processor() or platform.machine()
    return next((ln.split(":", 1)[1].strip() for ln in lines if ln.startswith("model name")), platform.machine())


def machine_line() -> str:
    load = ", ".join(f"{x:.2f}" for x in os.getloadavg())
    return (f"machine: {os.cpu_count()} CPUs ({_cpu_model()}), "
            f"load average 1/5/15 min {load}; Python {platform.python_version()}, "
            f"PyMuPDF {pymupdf.VersionBind}, Tesseract {'yes' if shutil.which('tesseract') else 'no'}")


def throughput_table(rows: list[Row], repeats: int) -> str:
    lines = [f"| PDF | configuration | pages | seconds (median of {repeats}) | pages/s | vs raw floor |",
             "|---|---|---:|---:|---:|---:|"]
    for r in rows:
        ratio = "floor" if r.ratio is None else f"{r.ratio:.2f}x"
        lines.append(f"| {r.pdf} | {r.config} | {r.pages} | {r.seconds:.2f} | {r.pages / r.seconds:.1f} | {ratio} |")
    return "\n".join(lines)


def memory_table(results: list[tuple[Path, dict[str, float]]]) -> str:
    mib = 1024.0  # ru_maxrss is in KiB on Linux
    lines = ["| PDF (full defaults) | pages | items | seconds | RSS after imports MiB | peak RSS MiB "
             "| largest tesseract MiB |", "|---|---:|---:|---:|---:|---:|---:|"]
    for pdf, m in results:
        tess = f"{m['tesseract_kib'] / mib:.0f}" if m["tesseract_kib"] else "none ran"
        lines.append(f"| {pdf.name} ({pdf.stat().st_size / 2**20:.1f} MB) | {m['pages']:.0f} | {m['items']:.0f} "
                     f"| {m['seconds']:.1f} | {m['baseline_kib'] / mib:.0f} | {m['peak_kib'] / mib:.0f} | {tess} |")
    return "\n".join(lines)


def default_pdfs(scratch: Path) -> list[Path]:
    found = [EVAL_DIR / name for name in DEFAULT_EVAL_PDFS if (EVAL_DIR / name).is_file()]
    if found:
        return found
    from ingest.samples import REPORT, write_sample_folder

    log.info("no eval PDFs at %s: using the generated sample report", EVAL_DIR)
    write_sample_folder(scratch)
    return [scratch / REPORT]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--pdf", nargs="+", type=Path, help="PDFs to time (default: see the module docstring)")
    parser.add_argument("--memory-pdf", nargs="+", type=Path,
                        help="PDFs whose peak memory is measured (default: the largest --pdf by bytes)")
    parser.add_argument("--repeats", type=int, default=3, help="timed runs per configuration (median)")
    parser.add_argument("--dpi", type=int, default=IngestConfig().page_dpi, help="page render resolution")
    parser.add_argument("--no-ocr", action="store_true", help="skip the OCR configuration")
    parser.add_argument("--no-memory", action="store_true", help="skip the peak-memory measurement")
    parser.add_argument("--memory-child", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--compare", action="store_true",
                        help="whole-ingest pages/s: mmrag vs LlamaIndex text-only vs the PyMuPDF floor")
    parser.add_argument("--docs", nargs="+", type=Path, default=[], help="--compare: a folder or files")
    parser.add_argument("--profile", default="cpu", help="--compare: mmrag profile (name or YAML path)")
    parser.add_argument("--set", action="append", default=[], help="--compare: profile override, section.field=value")
    parser.add_argument("--synthetic-pages", type=int, default=1000,
                        help="--compare: pages of the generated PDF (and ten PDFs of a tenth as many)")
    parser.add_argument("--no-page-cost", action="store_true", help="--compare: skip the page-item cost table")
    parser.add_argument("--systems", nargs="+", choices=bench_compare.SYSTEMS, default=list(bench_compare.SYSTEMS),
                        help="--compare: which systems to run (the first is the ratios' base)")
    parser.add_argument("--baseline-tree", type=Path, default=None,
                        help="--compare: also run mmrag from this checkout (e.g. a worktree of main), interleaved")
    parser.add_argument("--baseline-set", action="append", default=None,
                        help="--compare: overrides of the --baseline-tree runs (default: those of --set)")
    parser.add_argument("--compare-child", choices=bench_compare.SYSTEMS, help=argparse.SUPPRESS)
    parser.add_argument("--page-cost-child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--paths", nargs="+", type=Path, default=[], help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s", stream=sys.stderr)
    if args.compare_child or args.page_cost_child:
        logging.getLogger().setLevel(logging.WARNING)
        sets = parse_sets(args.set)
        out = (bench_compare.child(args.compare_child, args.paths, args.profile, sets) if args.compare_child
               else bench_compare.page_item_cost(args.paths, args.profile, sets))
        print(json.dumps(out))
        return 0
    if args.compare:
        print(bench_compare.run_compare(args.docs, args.profile, args.set, args.synthetic_pages, args.repeats,
                                        not args.no_page_cost, tuple(args.systems), args.baseline_tree,
                                        args.baseline_set))
        return 0
    if args.memory_child:
        logging.getLogger().setLevel(logging.WARNING)
        _memory_child(args.memory_child)
        return 0
    if args.repeats < 1:
        parser.error(f"--repeats must be at least 1, got {args.repeats}")
    ocr = not args.no_ocr and shutil.which("tesseract") is not None
    if not args.no_ocr and not ocr:
        log.warning("tesseract not installed: the OCR configuration is skipped")

    with tempfile.TemporaryDirectory(prefix="bench-ingest-sample-") as scratch:
        pdfs = args.pdf or default_pdfs(Path(scratch))
        for pdf in pdfs:
            if not pdf.is_file():
                parser.error(f"--pdf {pdf} is not a file")
        machine = machine_line()
        # Memory first: a fresh process, before this one has run Tesseract or grown its heap.
        mem_pdfs = [] if args.no_memory else (args.memory_pdf or [max(pdfs, key=lambda p: p.stat().st_size)])
        memory = [(pdf, peak_memory(pdf)) for pdf in mem_pdfs]
        rows: list[Row] = []
        cfgs = configs(args.dpi, ocr)
        for pdf in pdfs:
            try:
                rows += measure(pdf, cfgs, args.repeats)
            except IngestError as exc:
                log.error("%s: skipped, mmrag cannot parse it: %s", pdf, exc)
    print(machine)
    print(f"load average at the end: {', '.join(f'{x:.2f}' for x in os.getloadavg())}; page renders at "
          f"{args.dpi} dpi\n")
    print(throughput_table(rows, args.repeats))
    if memory:
        print()
        print(memory_table(memory))
    return 0


if __name__ == "__main__":
    sys.exit(main())
