"""CPU seconds per page of the plain LlamaIndex text-only pipeline against mmrag's parse alone and
its embedding alone, on the same files: whether 2 cores can ingest at LlamaIndex's pages/s at all.

Each measurement runs in a fresh process (``getrusage``: user + system seconds of the process and
of the processes it waited for), so CPU seconds, unlike wall seconds, barely move with the other
jobs on a shared machine:

- ``llamaindex``: ``rag.eval.li_baseline.LlamaIndexBaseline.index`` (PyMuPDF text, sentence
  splitting, the profile's embedder, in-memory Qdrant), everything in one process;
- ``mmrag``: ``Pipeline.ingest`` into a fresh index (embedding cache off): the main process
  (embedding, points, store) and its parse workers with their Tesseract runs, apart;
- ``parse``: every file through ``ingest.parse.parse_parts`` in one process (no time limit), with
  Tesseract's seconds, and the OCR stage's wall seconds; once per ``--set`` variant given with
  ``--parse-variant NAME:key=value,...`` (e.g. ``before:ingest.ocr_first_languages=null``).

    PYTHONPATH=$PWD .venv/bin/python scripts/cpu_budget.py --docs a.pdf b.pdf \
        --parse-variant "before:ingest.ocr_first_languages=null" --parse-variant "after:"
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import yaml


def _cpu(who: int) -> float:
    r = resource.getrusage(who)
    return r.ru_utime + r.ru_stime


def _sets(spec: str) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for pair in filter(None, spec.split(",")):
        key, _, value = pair.partition("=")
        out[key.strip()] = yaml.safe_load(value)
    return out


def child(system: str, docs: list[Path], profile: str, sets: dict[str, Any]) -> dict[str, Any]:
    """One measurement in this (fresh) process."""
    from rag.config import load_settings

    with tempfile.TemporaryDirectory(prefix="cpu-budget-") as tmp:
        overrides = {"store.path": str(Path(tmp) / "ix"), "embed.cache": False, **sets}
        settings = load_settings(profile, overrides, environ={})
        s0, c0, t0 = _cpu(resource.RUSAGE_SELF), _cpu(resource.RUSAGE_CHILDREN), time.perf_counter()
        extra: dict[str, Any] = {}
        if system == "llamaindex":
            from rag.embed.base import build_embedder
            from rag.eval.li_baseline import LlamaIndexBaseline

            baseline = LlamaIndexBaseline(build_embedder(settings.embed))
            s0, c0, t0 = _cpu(resource.RUSAGE_SELF), _cpu(resource.RUSAGE_CHILDREN), time.perf_counter()
            pages = baseline.index(docs).pages
            baseline.close()
        elif system == "mmrag":
            from rag.pipeline import Pipeline

            with Pipeline.from_config(profile, overrides, environ={}) as pipe:
                s0, c0, t0 = _cpu(resource.RUSAGE_SELF), _cpu(resource.RUSAGE_CHILDREN), time.perf_counter()
                report = pipe.ingest(docs, progress=False)
                wall = time.perf_counter() - t0
                main_cpu = _cpu(resource.RUSAGE_SELF) - s0
            pages = report.pages
            return {"pages": pages, "wall": wall, "main": main_cpu,
                    "children": _cpu(resource.RUSAGE_CHILDREN) - c0}  # the pool is joined by now
        else:
            import ingest.pdf  # noqa: F401  (the parser's imports, before the clock starts)
            from ingest.discover import discover
            from ingest.parse import parse_parts

            cfg = load_settings(profile, {"ingest.workers": 1, "ingest.file_timeout_s": None, **sets},
                                environ={}).ingest
            s0, c0, t0 = _cpu(resource.RUSAGE_SELF), _cpu(resource.RUSAGE_CHILDREN), time.perf_counter()
            pages, ocr = 0, 0.0
            for info in discover(docs, cfg).files:
                for part in parse_parts(info, cfg, Path(tmp) / "media"):
                    pages += part.pages
                    ocr += part.seconds.get("ocr", 0.0)
            extra = {"ocr_wall": ocr}
        wall = time.perf_counter() - t0
        return {"pages": pages, "wall": wall, "main": _cpu(resource.RUSAGE_SELF) - s0,
                "children": _cpu(resource.RUSAGE_CHILDREN) - c0, **extra}


def _spawn(system: str, docs: list[Path], profile: str, sets: str) -> dict[str, Any]:
    cmd = [sys.executable, __file__, "--child", system, "--profile", profile, "--child-sets", sets,
           "--docs", *map(str, docs)]
    done = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise SystemExit(f"{system} failed:\n{done.stderr[-2000:]}")
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--docs", nargs="+", type=Path, required=True)
    parser.add_argument("--profile", default="cpu")
    parser.add_argument("--parse-variant", action="append", default=[],
                        help="NAME:key=value,... a parse-only run with those overrides (repeatable)")
    parser.add_argument("--skip", nargs="*", default=[], choices=["llamaindex", "mmrag"])
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--child-sets", default="", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    docs = [p.resolve() for p in args.docs]
    if args.child:
        print(json.dumps(child(args.child, docs, args.profile, _sets(args.child_sets))))
        return 0
    print(f"load average at the start: {', '.join(f'{x:.2f}' for x in os.getloadavg())}; {os.cpu_count()} CPUs")
    rows: list[tuple[str, dict[str, Any], float]] = []
    for system in ("llamaindex", "mmrag"):
        if system not in args.skip:
            got = _spawn(system, docs, args.profile, "")
            if system == "mmrag":
                rows.append(("mmrag ingest: main process (embedding, points, store)", got, got["main"]))
                rows.append(("mmrag ingest: parse workers + Tesseract", got, got["children"]))
            else:
                rows.append(("llamaindex (text layer, chunking, same embedder)", got, got["main"] + got["children"]))
    for variant in args.parse_variant or ["after:"]:
        name, _, sets = variant.partition(":")
        got = _spawn("parse", docs, args.profile, sets)
        rows.append((f"mmrag parse alone, {name} ({sets or 'profile as is'}); Tesseract {got['children']:.1f} s, "
                     f"OCR stage {got['ocr_wall']:.1f} s wall", got, got["main"] + got["children"]))
    cores = os.cpu_count() or 1  # what this machine's cores could give at that CPU cost
    print(f"\n| what | pages | wall s | CPU s | CPU s per page | pages/s on {cores} cores at this CPU |")
    print("|---|---:|---:|---:|---:|---:|")
    for name, got, cpu in rows:
        per_page = cpu / max(got["pages"], 1)
        print(f"| {name} | {got['pages']} | {got['wall']:.1f} | {cpu:.1f} | {per_page:.3f} | "
              f"{cores / per_page if per_page else float('inf'):.1f} |")
    print(f"\nload average at the end: {', '.join(f'{x:.2f}' for x in os.getloadavg())}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
