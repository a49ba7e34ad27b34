"""Benchmark the sync facade: latency of ``Pipeline.search`` / ``Pipeline.ask`` one after another, and
the wall time of several threads asking at once, on the CPU profile (MiniLM, Qdrant Edge, extractive).

The index holds one generated 3-page PDF; the embedding cache is off and every query is new, so each
call embeds its query. Each figure is the median over ``--repeats`` rounds (one round: ``--calls``
calls one after another, then ``--threads`` threads making ``--calls`` asks each). Progress goes to
the log (stderr); only the table is printed.

    .venv/bin/python scripts/bench_sync_calls.py                      # 30 calls, 4 threads, 3 repeats
    .venv/bin/python scripts/bench_sync_calls.py --calls 50 --threads 8 --repeats 5
"""

from __future__ import annotations

import argparse
import logging
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from rag.pipeline import Pipeline
from tests.pdfs import write_report

log = logging.getLogger("bench_sync_calls")


def per_call_ms(fn: Callable[[str], object], calls: int, tag: str) -> float:
    """Median milliseconds of ``calls`` calls, each with a query not seen before."""
    times = []
    for i in range(calls):
        start = time.perf_counter()
        fn(f"{tag} turbine output number {i}")
        times.append(time.perf_counter() - start)
    return statistics.median(times) * 1000


def threads_wall_s(pipe: Pipeline, threads: int, calls: int, tag: str) -> float:
    """Seconds for ``threads`` threads making ``calls`` asks each, all started together."""
    def work(t: int) -> None:
        for i in range(calls):
            pipe.ask(f"{tag} thread {t} warranty claims {i}")

    workers = [threading.Thread(target=work, args=(t,), daemon=True) for t in range(threads)]
    start = time.perf_counter()
    for w in workers:
        w.start()
    for w in workers:
        w.join(600)
    if any(w.is_alive() for w in workers):
        raise SystemExit("threads still running after 600 s: deadlock")
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--calls", type=int, default=30)
    parser.add_argument("--threads", type=int, default=4)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr)
    rows: dict[str, list[float]] = {"search, ms per call": [], "ask, ms per call": [],
                                    f"{args.threads} threads x {args.calls} asks, s": []}
    with tempfile.TemporaryDirectory() as tmp:
        over = {"store.path": f"{tmp}/ix", "ingest.ocr": "none", "embed.cache": False,
                "embed.query_batch_wait_ms": 0}
        with Pipeline.from_config("cpu", over, environ={}) as pipe:
            pipe.ingest([write_report(Path(tmp) / "docs" / "ops.pdf")], progress=False)
            pipe.search("warm up")
            for r in range(args.repeats):
                log.warning("round %d/%d", r + 1, args.repeats)
                rows["search, ms per call"].append(per_call_ms(pipe.search, args.calls, f"s{r}"))
                rows["ask, ms per call"].append(per_call_ms(pipe.ask, args.calls, f"a{r}"))
                rows[f"{args.threads} threads x {args.calls} asks, s"].append(
                    threads_wall_s(pipe, args.threads, args.calls, f"t{r}"))
    print(f"| measure (median of {args.repeats}) | value |")
    print("|---|---|")
    for name, values in rows.items():
        print(f"| {name} | {statistics.median(values):.2f} |")


if __name__ == "__main__":
    main()
