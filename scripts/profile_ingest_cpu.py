"""Where an ingest's CPU goes: embedding (the main process) against parsing (the workers, and the
Tesseract processes they run), then inside parsing, by stage.

1. One ``Pipeline.ingest`` of ``--docs`` (``--profile``, default ``cpu``; a fresh index, embedding
   cache off), with the CPU seconds (user + system, ``getrusage``) of this process (embedding,
   points, store) and of its children (parse workers and their Tesseract runs): CPU seconds are
   far less sensitive than wall seconds to the other jobs on a shared machine.
2. Each file parsed alone in this process (the profile's ingest settings, one worker, no time
   limit), its stage seconds summed over its parts (``text``, ``tables``, ``render``, ``ocr``...).

    PYTHONPATH=$PWD .venv/bin/python scripts/profile_ingest_cpu.py --docs a.pdf b.pdf
"""

from __future__ import annotations

import argparse
import os
import resource
import sys
import tempfile
import time
from pathlib import Path


def _cpu(who: int) -> float:
    r = resource.getrusage(who)
    return r.ru_utime + r.ru_stime


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--docs", nargs="+", type=Path, required=True)
    parser.add_argument("--profile", default="cpu")
    args = parser.parse_args(argv)
    from ingest.discover import discover
    from ingest.parse import parse_parts
    from rag.config import load_settings
    from rag.pipeline import Pipeline

    print(f"load average at the start: {', '.join(f'{x:.2f}' for x in os.getloadavg())}; {os.cpu_count()} CPUs")
    with tempfile.TemporaryDirectory(prefix="profile-ingest-") as tmp:
        overrides = {"store.path": str(Path(tmp) / "ix"), "embed.cache": False}
        with Pipeline.from_config(args.profile, overrides, environ={}) as pipe:
            self0, kids0, t0 = _cpu(resource.RUSAGE_SELF), _cpu(resource.RUSAGE_CHILDREN), time.perf_counter()
            report = pipe.ingest(args.docs, progress=False)
            wall = time.perf_counter() - t0
            main_cpu = _cpu(resource.RUSAGE_SELF) - self0
        kids = _cpu(resource.RUSAGE_CHILDREN) - kids0  # the pool is joined when the ingest ends
        print(f"\n{report.pages} pages in {wall:.1f} s wall ({report.pages / wall:.2f} pages/s); stages (s): "
              + ", ".join(f"{k} {v:.1f}" for k, v in report.stages.items() if v >= 0.05))
        print("\n| process | CPU s | share | CPU s per page |\n|---|---:|---:|---:|")
        for name, cpu in (("main: embedding, points, store", main_cpu), ("parse workers + Tesseract", kids)):
            print(f"| {name} | {cpu:.1f} | {cpu / (main_cpu + kids):.0%} | {cpu / report.pages:.3f} |")
        cfg = load_settings(args.profile, {"ingest.workers": 1, "ingest.file_timeout_s": None}, environ={}).ingest
        found = discover(args.docs, cfg)
        totals: dict[str, float] = {}
        rows = []
        for info in found.files:
            stages: dict[str, float] = {}
            pages = 0
            for part in parse_parts(info, cfg, Path(tmp) / "media"):
                pages += part.pages
                for k, v in part.seconds.items():
                    if k != "total":
                        stages[k] = stages.get(k, 0.0) + v
            for k, v in stages.items():
                totals[k] = totals.get(k, 0.0) + v
            rows.append((Path(info.path).name[:40], pages, stages))
        names = sorted(totals, key=lambda k: -totals[k])
        print(f"\n| file | pages | {' | '.join(names)} |\n|---|---:|{'---:|' * len(names)}")
        for name, pages, stages in rows:
            print(f"| {name} | {pages} | {' | '.join(f'{stages.get(k, 0.0):.1f}' for k in names)} |")
        whole = sum(totals.values())
        print(f"| **all** (share) | | {' | '.join(f'{totals[k]:.1f} ({totals[k] / whole:.0%})' for k in names)} |")
    print(f"\nload average at the end: {', '.join(f'{x:.2f}' for x in os.getloadavg())}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
