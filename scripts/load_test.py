"""Load test: N concurrent clients ask a server that this script starts on 127.0.0.1.

    .venv/bin/python scripts/load_test.py --clients 4 --seconds 15
    .venv/bin/python scripts/load_test.py --endpoint search --clients 8 --seconds 10 --json

The script ingests the generated sample folder into an index (a temporary folder unless ``--index``
is given), starts ``mmrag serve`` as a subprocess on a free loopback port, sends one warm-up request,
then lets ``--clients`` workers send requests back to back (each question made unique, so query
embeddings are computed, not read from the cache, unless ``--repeat-questions``) until ``--seconds`` pass or
``--max-requests`` have been sent, and reports throughput and latency percentiles. Both the duration
and the request count are bounded, and the server is always stopped.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx

log = logging.getLogger("load_test")

QUESTIONS = [
    "What was ACME's revenue in Europe in 2025?",
    "What share of XK-4471-B units had warranty claims?",
    "What is the operating temperature range of the XK-4471-B?",
    "Which region contributed nearly half of the total revenue?",
    "How many employees does ACME have?",
]
MAX_CLIENTS, MAX_SECONDS, MAX_REQUESTS = 64, 300.0, 100_000


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def _cli(*args: str) -> list[str]:
    return [sys.executable, "-m", "rag.cli", *args]


def prepare_index(config: str, index: Path) -> None:
    """Ingest the sample folder (incremental: a no-op when the index already holds it)."""
    folder = index / "sample-docs"
    from ingest.samples import write_sample_folder

    write_sample_folder(folder)
    t = time.perf_counter()
    subprocess.run(_cli("ingest", str(folder), "--config", config, "--index", str(index), "--json"),
                   check=True, stdout=subprocess.DEVNULL, timeout=900)
    log.info("index ready in %.1fs: %s", time.perf_counter() - t, index)


@contextmanager
def running_server(config: str, index: Path, startup_s: float = 180) -> Iterator[str]:
    """``mmrag serve`` on a free 127.0.0.1 port; yields its base URL and always stops it."""
    port = _free_port()
    proc = subprocess.Popen(_cli("serve", "--config", config, "--index", str(index), "--host", "127.0.0.1",
                                 "--port", str(port)), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + startup_s
        while True:
            if proc.poll() is not None:
                err = proc.stderr.read().decode(errors="replace") if proc.stderr else ""
                raise RuntimeError(f"server exited with {proc.returncode}: {err[-2000:]}")
            try:
                if httpx.get(f"{url}/health", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"server did not answer /health within {startup_s:.0f}s")
            time.sleep(0.25)
        log.info("server up at %s (pid %d)", url, proc.pid)
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)


def _request(endpoint: str, question: str, stream: bool) -> tuple[str, dict[str, Any]]:
    if endpoint == "search":
        return "/v1/search", {"query": question}
    return "/v1/chat/completions", {"model": "mmrag", "stream": stream,
                                    "messages": [{"role": "user", "content": question}]}


async def _one(client: httpx.AsyncClient, endpoint: str, question: str,
               stream: bool) -> tuple[float, float | None]:
    """Seconds to the full response and, when streaming, to the first content chunk."""
    path, body = _request(endpoint, question, stream)
    t = time.perf_counter()
    first: float | None = None
    if stream and endpoint == "chat":
        async with client.stream("POST", path, json=body) as resp:
            resp.raise_for_status()
            async for line in resp.aiter_lines():
                if first is None and '"content":"' in line and '"content":""' not in line:
                    first = time.perf_counter() - t
    else:
        resp = await client.post(path, json=body)
        resp.raise_for_status()
    return time.perf_counter() - t, first


async def run_load(url: str, endpoint: str, clients: int, seconds: float, max_requests: int,
                   stream: bool, unique: bool = True) -> dict[str, Any]:
    """Drive the server; returns counts, throughput and latency percentiles (milliseconds)."""
    latencies: list[float] = []
    firsts: list[float] = []
    errors: dict[str, int] = {}
    sent = 0
    limits = httpx.Limits(max_connections=clients, max_keepalive_connections=clients)
    async with httpx.AsyncClient(base_url=url, timeout=120, limits=limits) as client:
        await _one(client, endpoint, QUESTIONS[0], stream)  # warm-up, not counted
        run_id = uuid.uuid4().hex[:8]  # fresh per run: an index reused across runs caches nothing
        deadline = time.perf_counter() + seconds

        async def worker(w: int) -> None:
            nonlocal sent
            i = w
            while time.perf_counter() < deadline and sent < max_requests:
                sent += 1
                try:
                    question = QUESTIONS[i % len(QUESTIONS)]
                    if unique:  # defeats the query-embedding cache: every request embeds afresh
                        question = f"{question} (run {run_id}, request {sent})"
                    total, first = await _one(client, endpoint, question, stream)
                except (httpx.HTTPError, OSError) as exc:
                    errors[type(exc).__name__] = errors.get(type(exc).__name__, 0) + 1
                else:
                    latencies.append(total)
                    if first is not None:
                        firsts.append(first)
                i += clients

        start = time.perf_counter()
        await asyncio.gather(*(worker(w) for w in range(clients)))
        wall = time.perf_counter() - start
    return {"endpoint": endpoint, "stream": stream, "unique_questions": unique, "clients": clients,
            "seconds": round(wall, 2), "requests_ok": len(latencies), "errors": errors,
            "throughput_rps": round(len(latencies) / wall, 2) if wall else 0.0,
            "latency_ms": _percentiles(latencies), "first_token_ms": _percentiles(firsts) if firsts else None}


def _percentiles(values: list[float]) -> dict[str, float]:
    if not values:
        return {}
    ms = sorted(v * 1000 for v in values)
    cuts = statistics.quantiles(ms, n=100, method="inclusive") if len(ms) > 1 else [ms[0]] * 99
    return {"p50": round(cuts[49], 1), "p95": round(cuts[94], 1), "p99": round(cuts[98], 1),
            "mean": round(statistics.fmean(ms), 1), "max": round(ms[-1], 1)}


def _bounded(value: float, low: float, high: float, name: str) -> float:
    if not low <= value <= high:
        raise SystemExit(f"--{name} must be between {low:g} and {high:g}, got {value:g}")
    return value


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--config", default="cpu", help="profile name or YAML path")
    p.add_argument("--index", default=None, help="index folder (default: a temporary one)")
    p.add_argument("--endpoint", choices=["chat", "search"], default="chat")
    p.add_argument("--stream", action="store_true",
                   help="stream chat answers (also reports time to the first token)")
    p.add_argument("--clients", type=int, default=4)
    p.add_argument("--seconds", type=float, default=10)
    p.add_argument("--max-requests", type=int, default=2000)
    p.add_argument("--repeat-questions", action="store_true",
                   help="cycle 5 fixed questions (query embeddings then come from the cache)")
    p.add_argument("--json", action="store_true")
    args = p.parse_args(argv)
    clients = int(_bounded(args.clients, 1, MAX_CLIENTS, "clients"))
    seconds = _bounded(args.seconds, 0.5, MAX_SECONDS, "seconds")
    max_requests = int(_bounded(args.max_requests, 1, MAX_REQUESTS, "max-requests"))
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s", stream=sys.stderr)
    logging.getLogger("httpx").setLevel(logging.WARNING)
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

    with tempfile.TemporaryDirectory(prefix="mmrag-load-") as tmp:
        index = Path(args.index) if args.index else Path(tmp) / "index"
        prepare_index(args.config, index)
        with running_server(args.config, index) as url:
            result = asyncio.run(run_load(url, args.endpoint, clients, seconds, max_requests, args.stream,
                                          unique=not args.repeat_questions))
    if args.json:
        print(json.dumps(result, indent=2))
    else:
        lat, first = result["latency_ms"], result["first_token_ms"]
        print(f"{result['endpoint']}{' (stream)' if result['stream'] else ''}: {result['clients']} clients, "
              f"{result['seconds']}s, {result['requests_ok']} ok, errors {result['errors'] or 0}\n"
              f"throughput {result['throughput_rps']} req/s; latency ms p50 {lat.get('p50')} "
              f"p95 {lat.get('p95')} p99 {lat.get('p99')} max {lat.get('max')}"
              + (f"; first token p50 {first['p50']} ms" if first else ""))
    return 0


if __name__ == "__main__":
    sys.exit(main())
