"""Ingest pages/s of whole profiles side by side, in one run: the speed bar of issue 12.6
(the multilingual ``cpu`` default against the English ``cpu-en`` MiniLM profile).

Each repeat ingests the same files into a fresh index once per profile, profiles interleaved
(``cpu``, ``cpu-en``, ``cpu``, ...), so a change in machine load hits every profile alike. The
embedding cache is off, so every vector is computed. The table shows the median of ``--repeats``
with the embed stage's share, and the ratio of each profile's pages/s to the first profile's.

    PYTHONPATH=. .venv/bin/python scripts/bench_profiles.py --pdf a.pdf b.pdf --repeats 3
    PYTHONPATH=. .venv/bin/python scripts/bench_profiles.py --profiles cpu-en cpu cpu:embed.threads=1

A profile is a name or YAML path, optionally followed by ``:key=value,key=value`` overrides.
Progress goes to stderr; stdout gets the machine line and the markdown table only.
"""

from __future__ import annotations

import argparse
import logging
import os
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rag.pipeline import Pipeline

log = logging.getLogger("bench_profiles")

EVAL_DIR = Path("/work/shared/eval/pdfs")
DEFAULT_PDFS = (  # 157 pages with a text layer: a paper, a survey report, slides-as-PDF, a brochure
    "2312.09390v1.pdf", "STEPBACK.pdf", "Pew-Research-Center_Hispanic-Identity-Report_12.20.2017.pdf",
    "Independents-Report.pdf", "f8d3a162ab9507e021d83dd109118b60.pdf",
)


@dataclass
class Runs:
    """Timings of one profile over the repeats."""

    spec: str
    seconds: list[float] = field(default_factory=list)
    embed: list[float] = field(default_factory=list)
    pages: int = 0
    points: int = 0
    embedder: str = ""


def parse_spec(spec: str) -> tuple[str, dict[str, Any]]:
    """``name[:k=v,k=v]`` -> (name, overrides)."""
    name, _, rest = spec.partition(":")
    overrides: dict[str, Any] = {}
    for pair in filter(None, rest.split(",")):
        key, sep, value = pair.partition("=")
        if not sep:
            raise SystemExit(f"bad override {pair!r} in {spec!r}: expected key=value")
        overrides[key] = value
    return name, overrides


def ingest_once(spec: str, pdfs: list[Path], runs: Runs) -> None:
    name, overrides = parse_spec(spec)
    with tempfile.TemporaryDirectory(prefix="bench-profiles-") as tmp:
        over = {"store.path": str(Path(tmp) / "ix"), "embed.cache": False, **overrides}
        t0 = time.perf_counter()
        with Pipeline.from_config(name, over, environ={}) as pipe:
            report = pipe.ingest(pdfs, progress=False)
            runs.embedder = pipe.embedder.id
            runs.points = pipe.stats().points
        runs.seconds.append(time.perf_counter() - t0)  # model load and index close included
        runs.embed.append(float(report.stages.get("embed", 0.0)))
        runs.pages = report.pages
        log.info("%s: %d pages in %.1f s (embed %.1f s), %s", spec, report.pages, runs.seconds[-1],
                 runs.embed[-1], runs.embedder)


def table(all_runs: list[Runs], repeats: int) -> str:
    base = all_runs[0]
    base_rate = base.pages / statistics.median(base.seconds)
    lines = [f"| profile | embedder | pages | points | seconds (median of {repeats}) | embed s | pages/s "
             f"| vs {base.spec} |", "|---|---|---:|---:|---:|---:|---:|---:|"]
    for r in all_runs:
        sec = statistics.median(r.seconds)
        rate = r.pages / sec
        lines.append(f"| {r.spec} | {r.embedder} | {r.pages} | {r.points} | {sec:.1f} "
                     f"| {statistics.median(r.embed):.1f} | {rate:.2f} | {rate / base_rate:.2f}x |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--pdf", nargs="+", type=Path, help="files to ingest (default: DEFAULT_PDFS)")
    parser.add_argument("--profiles", nargs="+", default=["cpu-en", "cpu"],
                        help="profiles, the first is the reference of the ratio column")
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s", stream=sys.stderr)
    pdfs = args.pdf or [EVAL_DIR / n for n in DEFAULT_PDFS]
    for pdf in pdfs:
        if not pdf.is_file():
            parser.error(f"{pdf} is not a file")
    load0 = os.getloadavg()
    all_runs = [Runs(spec) for spec in args.profiles]
    for r in range(args.repeats):
        for runs in all_runs:
            log.info("repeat %d/%d: %s", r + 1, args.repeats, runs.spec)
            ingest_once(runs.spec, pdfs, runs)
    load1 = os.getloadavg()
    print(f"machine: {os.cpu_count()} CPUs; load average 1/5/15 min at the start "
          f"{', '.join(f'{x:.2f}' for x in load0)}, at the end {', '.join(f'{x:.2f}' for x in load1)}; "
          f"files: {', '.join(p.name for p in pdfs)}\n")
    print(table(all_runs, args.repeats))
    return 0


if __name__ == "__main__":
    sys.exit(main())
