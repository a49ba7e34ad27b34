"""Peak RSS of a parse worker against the size of the document it parses.

Generates PDFs of ``--pages`` pages (default 100, 300 and 1,000) of two kinds, text only
(``bench_compare.write_synthetic``: ~1,800 characters a page) and text plus one distinct 300x200
photo a page, and parses each through the real worker pool (:func:`ingest.parse.parse_stream`,
``--workers`` processes, the ``cpu`` profile's ingest settings unless ``--set`` says otherwise),
each run in a fresh process. The parts are read and dropped (no embedding: this is the worker's
memory, not the ingest's).

A worker's peak is its kernel high-water mark (``VmHWM`` in ``/proc/<pid>/status``), polled while
it runs: it only grows, so the last reading is the peak. ``ru_maxrss`` of the children is printed
next to it because it is what earlier tables reported, and it is wrong for this: Linux carries a
process's high-water mark across ``exec``, so a worker spawned by a parent holding 550 MB (the
model, the index) reports 550 MB whatever it parses (the same holds for this run's own
``ru_maxrss``, which starts at the driver's: the main process's peak is its ``VmHWM`` too).

``--modes``: ``emptied`` is the code as it is (MuPDF's resource cache emptied every 16 pages and
after each part, ``ingest.pdf_state.empty_mupdf_cache``); ``kept`` is the code before that change
(the emptying made a no-op in the workers), interleaved run by run so load hits both alike.

    PYTHONPATH=$PWD .venv/bin/python scripts/bench_parse_memory.py
    PYTHONPATH=$PWD .venv/bin/python scripts/bench_parse_memory.py --pages 100 1000 --repeats 3 --set ingest.ocr=none
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import bench_compare  # the sibling script (scripts/ is on sys.path)
import pymupdf
from parse_bench import add_common, child_main, run_child, watching_children

MODES = ("emptied", "kept")


def write_photos(path: Path, pages: int) -> Path:
    """A PDF of ``pages`` pages, each a heading, a paragraph and one distinct 300x200 RGB image."""
    doc = pymupdf.open()
    for n in range(pages):
        page = doc.new_page(width=595, height=842)
        page.insert_text((60, 60), f"Inspection photos - page {n + 1}", fontsize=15)
        page.insert_textbox(pymupdf.Rect(60, 80, 535, 300), f"Site {n} inspection notes: bearing wear measured at "
                            f"{n * 7 % 97} microns; the gearbox audit passed. " * 6, fontsize=10)
        pix = pymupdf.Pixmap(pymupdf.csRGB, pymupdf.IRect(0, 0, 300, 200), False)
        pix.set_rect(pix.irect, (n * 37 % 256, n * 91 % 256, n * 13 % 256))
        pix.set_rect(pymupdf.IRect(n % 250, 10, n % 250 + 40, 60), (255 - n % 256, 0, 0))  # no two alike
        page.insert_image(pymupdf.Rect(60, 320, 360, 520), pixmap=pix)
    path.parent.mkdir(parents=True, exist_ok=True)
    doc.save(str(path), deflate=True)
    doc.close()
    return path


def _hwm_kib(pid: int) -> int:
    try:
        with open(f"/proc/{pid}/status") as f:
            return next((int(ln.split()[1]) for ln in f if ln.startswith("VmHWM:")), 0)
    except OSError:
        return 0


def _never_empty() -> None:
    """What ``empty_mupdf_cache`` does in the ``kept`` mode: nothing (the code before)."""


def kept_init(*args: Any) -> None:
    """Worker initializer of the ``kept`` mode: the pool's own, with the cache never emptied.
    (Pickled by reference as ``bench_parse_memory.kept_init``: scripts/ is on the workers' path.)"""
    import ingest.pdf
    import ingest.pdf_structure
    from ingest.parse_pool import _init_worker

    ingest.pdf.empty_mupdf_cache = ingest.pdf_structure.empty_mupdf_cache = _never_empty
    _init_worker(*args)


def child(pdf: Path, mode: str, workers: int, profile: str, sets: dict[str, Any]) -> dict[str, Any]:
    """Parse ``pdf`` through the worker pool once; the workers' peaks."""
    from ingest import parse_pool
    from ingest.discover import discover
    from ingest.parse import parse_stream
    from ingest.parts import FilePart
    from rag.config import load_settings

    cfg = load_settings(profile, {"ingest.workers": workers, **sets}, environ={}).ingest
    if mode == "kept":
        import bench_parse_memory  # this file as a module, so the workers can unpickle its initializer

        parse_pool._init_worker = bench_parse_memory.kept_init  # type: ignore[assignment]
    peaks: dict[int, int] = {}

    def sample(pid: int) -> None:
        if (kib := _hwm_kib(pid)) > peaks.get(pid, 0):
            peaks[pid] = kib

    with watching_children(sample), tempfile.TemporaryDirectory(prefix="bench-parse-mem-") as tmp:
        found = discover([pdf], cfg)
        t0 = time.perf_counter()
        parts = pages = 0
        for got in parse_stream(found.files, cfg, Path(tmp) / "media"):
            if isinstance(got, FilePart):
                parts += 1
                pages += got.pages
            else:
                raise SystemExit(f"{pdf}: {got.reason}: {got.detail}")
        seconds = time.perf_counter() - t0
    # The resource tracker is a child too: the workers are the processes that grew past it.
    worker_peak = max(peaks.values(), default=0)
    return {"pages": pages, "parts": parts, "seconds": seconds, "worker_peak_kib": worker_peak,
            "ru_maxrss_children_kib": resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss,
            "main_peak_kib": _hwm_kib(os.getpid())}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--pages", nargs="+", type=int, default=[100, 300, 1000])
    parser.add_argument("--kinds", nargs="+", choices=("text", "photos"), default=["text", "photos"])
    add_common(parser, MODES, repeats=1, target="PDF")
    args = parser.parse_args(argv)
    if child_main(args, child):
        return 0
    print(f"load average at the start: {', '.join(f'{x:.2f}' for x in os.getloadavg())}; "
          f"{os.cpu_count()} CPUs; PyMuPDF {pymupdf.VersionBind}; overrides {args.set or 'none'}")
    rows: list[str] = []
    with tempfile.TemporaryDirectory(prefix="bench-parse-mem-pdfs-") as tmp:
        for kind in args.kinds:
            for n in args.pages:
                pdf = Path(tmp) / kind / f"{kind}_{n}p.pdf"
                if kind == "text":
                    bench_compare.write_synthetic(pdf, n)
                else:
                    write_photos(pdf, n)
                runs: dict[str, list[dict[str, Any]]] = {m: [] for m in args.modes}
                for _ in range(args.repeats):
                    for mode in args.modes:
                        runs[mode].append(run_child(__file__, pdf, mode, args))
                for mode, got in runs.items():
                    def med(key: str, got: list[dict[str, Any]] = got) -> float:
                        return statistics.median(r[key] for r in got)
                    rows.append(f"| {kind} | {n} | {mode} | {med('parts'):.0f} | {med('seconds'):.1f} "
                                f"| {med('worker_peak_kib') / 1024:.0f} | {med('ru_maxrss_children_kib') / 1024:.0f} "
                                f"| {med('main_peak_kib') / 1024:.0f} |")
    print(f"\n| PDF | pages | MuPDF cache | parts | seconds | worker peak (VmHWM) MiB "
          f"| children ru_maxrss MiB | main peak MiB |  (median of {args.repeats})")
    print("|---|---:|---|---:|---:|---:|---:|---:|")
    print("\n".join(rows))
    print(f"\nload average at the end: {', '.join(f'{x:.2f}' for x in os.getloadavg())}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
