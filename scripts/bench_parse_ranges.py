"""Parse pages/s of one long PDF against ten short ones, with its page ranges shared by the workers
or not.

Generates one text PDF of ``--pages`` pages and ten of a tenth as many (the same pages,
``bench_compare.write_synthetic``), and parses each set through the real worker pool
(:func:`ingest.parse.parse_stream`, ``--workers`` processes, the ``cpu`` profile's ingest settings
unless ``--set`` says otherwise), each run in a fresh process, the modes interleaved run by run:

- ``shared``: the code as it is: a PDF of more than ``ingest.parse_ranges.RANGE_PAGES`` pages is
  planned by one worker (pass 1) and its page ranges parsed by every worker;
- ``whole``: the code before: one file, one worker (the sharing made a no-op in the workers).

Parsing only (the parts are read and dropped): what the parse side can feed the embedder. The
clock starts after the pool's first worker has started (a warm-up file), so worker start-up is
not counted.

    PYTHONPATH=$PWD .venv/bin/python scripts/bench_parse_ranges.py --pages 1000 --repeats 3
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import bench_compare  # the sibling script (scripts/ is on sys.path)
from parse_bench import add_common, child_main, run_child, watching_children

MODES = ("shared", "whole")


def write_scans(path: Path, pages: int, first: int = 0) -> Path:
    """``bench_compare.write_synthetic``'s pages as scans: each page an image of its text (150 dpi,
    grey), no text layer, so every page is OCR'd in pass 2."""
    import pymupdf

    text = bench_compare.write_synthetic(path.with_suffix(".text.pdf"), pages, first)
    src = pymupdf.open(str(text))
    doc = pymupdf.open()
    for n in range(src.page_count):
        page = src.load_page(n)
        pix = page.get_pixmap(dpi=150, colorspace=pymupdf.csGRAY)
        doc.new_page(width=page.rect.width, height=page.rect.height).insert_image(page.rect, pixmap=pix)
    doc.save(str(path), deflate=True)
    doc.close()
    src.close()
    text.unlink()
    return path


def _cpu_s(pid: int) -> float:
    """User + system CPU seconds of process ``pid`` so far (0 once it is gone)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def whole_init(*args: Any) -> None:
    """Worker initializer of the ``whole`` mode: the pool's own, with no file's ranges shared."""
    import ingest.parse
    from ingest.parse_pool import _init_worker

    ingest.parse.RANGE_PAGES = 1 << 30
    _init_worker(*args)


def child(folder: Path, mode: str, workers: int, profile: str, sets: dict[str, Any]) -> dict[str, Any]:
    """Parse every PDF in ``folder`` once through the pool; pages, seconds."""
    from ingest import parse_pool
    from ingest.discover import discover
    from ingest.parse import parse_stream
    from ingest.parts import FilePart
    from rag.config import load_settings

    cfg = load_settings(profile, {"ingest.workers": workers, **sets}, environ={}).ingest
    if mode == "whole":
        import bench_parse_ranges  # this file as a module, so the workers can unpickle its initializer

        parse_pool._init_worker = bench_parse_ranges.whole_init  # type: ignore[assignment]
    found = discover([folder], cfg)
    cpu: dict[int, float] = {}  # worker pid → CPU seconds (polled: the last reading before it ends)

    def sample(pid: int) -> None:
        cpu[pid] = max(cpu.get(pid, 0.0), _cpu_s(pid))

    with watching_children(sample), tempfile.TemporaryDirectory(prefix="bench-parse-ranges-") as tmp:
        pages, t0 = 0, 0.0
        # The warm-up: a 1-page PDF first, the clock starts at its part (the workers are up).
        warm = bench_compare.write_synthetic(Path(tmp) / "warm" / "warm.pdf", 1)
        stream = parse_stream([*discover([warm], cfg).files, *found.files], cfg, Path(tmp) / "media")
        for got in stream:
            if not isinstance(got, FilePart):
                raise SystemExit(f"{got.path}: {got.reason}: {got.detail}")
            if got.document.path == str(warm.resolve()):
                t0 = time.perf_counter()
                continue
            pages += got.pages
        seconds = time.perf_counter() - t0
    workers_cpu = sorted((c for c in cpu.values() if c > 0.5), reverse=True)  # not the resource tracker
    return {"pages": pages, "seconds": seconds, "workers_cpu_s": workers_cpu}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--pages", type=int, default=1000)
    parser.add_argument("--kind", choices=("text", "scans"), default="text",
                        help="text: a text layer (render-bound); scans: page images only (OCR-bound)")
    add_common(parser, MODES, repeats=3, target="FOLDER")
    args = parser.parse_args(argv)
    if child_main(args, child):
        return 0
    print(f"load average at the start: {', '.join(f'{x:.2f}' for x in os.getloadavg())}; {os.cpu_count()} CPUs; "
          f"{args.workers} workers; profile {args.profile}, overrides {args.set or 'none'}; {args.kind} PDFs")
    tenth = max(args.pages // 10, 1)
    with tempfile.TemporaryDirectory(prefix="bench-parse-ranges-pdfs-") as tmp:
        root = Path(tmp)
        write = bench_compare.write_synthetic if args.kind == "text" else write_scans
        write(root / "one" / f"one_{args.pages}p.pdf", args.pages)
        for i in range(10):
            write(root / "ten" / f"part_{i:02d}.pdf", tenth, first=i * tenth)
        datasets = [(f"1 x {args.pages}-page PDF", root / "one"), (f"10 x {tenth}-page PDFs", root / "ten")]
        runs: dict[tuple[str, str], list[dict[str, Any]]] = {(d, m): [] for d, _ in datasets for m in args.modes}
        for r in range(args.repeats):
            for name, folder in datasets:
                for mode in args.modes:
                    runs[(name, mode)].append(run_child(__file__, folder, mode, args))
                    print(f"repeat {r + 1}: {name}, {mode}: {runs[(name, mode)][-1]['seconds']:.1f} s",
                          file=sys.stderr)
    print(f"\n| dataset | ranges | pages | seconds (median of {args.repeats}) | pages/s | all runs s "
          "| workers' CPU s (median) | busiest worker's share |")
    print("|---|---|---:|---:|---:|---|---|---:|")
    for (name, mode), got in runs.items():
        secs = [g["seconds"] for g in got]
        med = statistics.median(secs)
        total = statistics.median(sum(g["workers_cpu_s"]) for g in got)
        share = statistics.median(g["workers_cpu_s"][0] / sum(g["workers_cpu_s"]) for g in got)
        each = " + ".join(f"{c:.1f}" for c in got[len(got) // 2]["workers_cpu_s"])
        print(f"| {name} | {mode} | {got[0]['pages']} | {med:.1f} | {got[0]['pages'] / med:.1f} "
              f"| {', '.join(f'{s:.1f}' for s in secs)} | {each} (sum {total:.1f}) | {share:.0%} |")
    print(f"\nload average at the end: {', '.join(f'{x:.2f}' for x in os.getloadavg())}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
