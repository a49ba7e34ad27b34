"""Ingest pages/s of the local engine against the Ray engine with 1 and 2 worker processes, side by side.

One Ray node (``ray start --head --block``, ``--cpus`` logical CPUs, its own temp folder and auth
token) serves both Ray configurations; they differ only in how many parse tasks run at once:

- ``local w1`` / ``local w2``: ``mmrag ingest`` with ``ingest.workers`` = 1 / 2 (parse processes
  ahead of one in-process embedder);
- ``ray 1`` / ``ray 2``: ``mmrag ingest --engine ray`` on the node, ``ray.parse_cpus`` = cpus / cpus/2,
  so 1 / 2 parse tasks at a time, and one embedding actor (``ray.embed_cpus=0``: it does not hold a
  parse task's CPU), as the local engine holds one embedder beside its parse workers.

Each run is a fresh ``mmrag ingest`` process into a fresh index, embedding cache off, OCR off (the
folder has a text layer), round-robin over the four configurations per repeat so a change in load
hits them alike; the table shows medians of ``--repeats``. ``wall`` is the whole command (imports,
model load, Ray connection: what a user waits for), ``ingest`` the report's own seconds. The stage
table splits the median Ray run into the per-stage costs the N-machine estimate is built from.

    .venv/bin/python scripts/bench_ray.py                       # 16 generated PDFs x 6 pages
    .venv/bin/python scripts/bench_ray.py --files 24 --pages 8 --repeats 3
    .venv/bin/python scripts/bench_ray.py --docs ../shared/eval/pdfs/ADOBE_2022_10K.pdf ...

Progress goes to stderr; stdout gets the machine line and the markdown tables only.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import os
import platform
import secrets
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import pymupdf

log = logging.getLogger("bench_ray")
REPO_ROOT = Path(__file__).resolve().parents[1]
RAY = Path(sys.executable).with_name("ray")
COMMON = ["--config", "cpu", "--set", "ingest.ocr=none", "--set", "embed.cache=false", "--json"]


def write_folder(folder: Path, files: int, pages: int) -> list[Path]:
    """``files`` PDFs of ``pages`` pages of prose, each page its own facts."""
    folder.mkdir(parents=True, exist_ok=True)
    out = []
    for i in range(files):
        doc = pymupdf.open()
        for p in range(1, pages + 1):
            page = doc.new_page(width=595, height=842)
            page.insert_text((72, 72), f"Depot {i} weekly report - week {p}", fontsize=16)
            body = " ".join(f"Depot {i} shipped {1000 * i + p + k} pumps and {7 * k + p} valves in week {p}, "
                            f"audit code D{i}-W{p}-{k}." for k in range(18))
            page.insert_textbox(pymupdf.Rect(72, 100, 523, 780), body, fontsize=10)
        path = folder / f"depot_{i:02d}.pdf"
        doc.save(str(path))
        doc.close()
        out.append(path)
    return out


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class RayNode:
    """One ``ray start --head --block`` process in its own session; ended by process group."""

    def __init__(self, cpus: int) -> None:
        self.temp = Path(tempfile.mkdtemp(prefix="mmbench", dir="/tmp"))  # short: unix socket paths
        self.address = f"127.0.0.1:{_free_port()}"
        self.env = {k: v for k, v in os.environ.items() if not k.startswith(("MMRAG__", "RAY_"))}
        self.env.update({"PYTHONPATH": str(REPO_ROOT), "HF_HUB_OFFLINE": "1", "TQDM_DISABLE": "1",
                         "RAY_AUTH_MODE": "token", "RAY_AUTH_TOKEN": secrets.token_hex(32),
                         "RAY_USAGE_STATS_ENABLED": "0"})
        port = self.address.rsplit(":", 1)[1]
        self.log = (self.temp / "head.log").open("wb")
        self.proc = subprocess.Popen(
            [str(RAY), "start", "--head", "--block", f"--port={port}", f"--num-cpus={cpus}", "--num-gpus=0",
             "--node-ip-address=127.0.0.1", "--include-dashboard=false", "--disable-usage-stats",
             f"--temp-dir={self.temp}", "--object-store-memory=200000000"],
            env=self.env, stdout=self.log, stderr=subprocess.STDOUT, start_new_session=True)
        code = f"import ray; ray.init(address={self.address!r}, log_to_driver=False); print('up')"
        deadline = time.monotonic() + 180
        while subprocess.run([sys.executable, "-c", code], env=self.env, capture_output=True, text=True,
                             check=False).stdout.strip() != "up":
            if self.proc.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"Ray node did not start: {(self.temp / 'head.log').read_text()[-2000:]}")
            time.sleep(1)

    def stop(self) -> None:
        for sig in (signal.SIGTERM, signal.SIGKILL):
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, sig)
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.proc.wait(timeout=5)
        self.log.close()
        shutil.rmtree(self.temp, ignore_errors=True)


def run_once(paths: list[Path], index: Path, extra: list[str], env: dict[str, str]) -> dict[str, Any]:
    """One ``mmrag ingest`` into a fresh ``index``: its report plus the command's wall seconds."""
    shutil.rmtree(index, ignore_errors=True)
    cmd = [sys.executable, "-m", "rag.cli", "ingest", *map(str, paths), "--index", str(index), *COMMON, *extra]
    t = time.perf_counter()
    done = subprocess.run(cmd, cwd=REPO_ROOT, env=env, capture_output=True, text=True, check=False)
    wall = time.perf_counter() - t
    if done.returncode not in (0, 3):
        raise RuntimeError(f"{' '.join(cmd)} failed ({done.returncode}): {done.stderr[-2000:]}")
    report: dict[str, Any] = json.loads(done.stdout)
    report["wall"] = wall
    return report


def configurations(cpus: int, address: str) -> dict[str, list[str]]:
    ray = ["--engine", "ray", "--ray-address", address, "--set", "ray.embed_cpus=0", "--set", "ray.parse_files=2",
           "--set", "ray.embed_files=8"]
    return {
        "local w1": ["--engine", "local", "--set", "ingest.workers=1"],
        "local w2": ["--engine", "local", "--set", "ingest.workers=2"],
        "ray 1": [*ray, "--set", f"ray.parse_cpus={cpus}"],
        "ray 2": [*ray, "--set", f"ray.parse_cpus={cpus / 2:g}"],
    }


def _median_run(runs: list[dict[str, Any]]) -> dict[str, Any]:
    return sorted(runs, key=lambda r: r["wall"])[len(runs) // 2]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--docs", nargs="*", type=Path, help="PDFs or folders (default: a generated folder)")
    ap.add_argument("--files", type=int, default=16)
    ap.add_argument("--pages", type=int, default=6)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--cpus", type=int, default=2, help="logical CPUs of the Ray node")
    args = ap.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(message)s", stream=sys.stderr)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # `timeout`: still stop the Ray node below
    work = Path(tempfile.mkdtemp(prefix="bench_ray_"))
    node: RayNode | None = None
    try:
        paths = [p.resolve() for p in args.docs] if args.docs else [write_folder(work / "docs", args.files,
                                                                                 args.pages)[0].parent]
        load_before = os.getloadavg()
        node = RayNode(args.cpus)
        configs = configurations(args.cpus, node.address)
        runs: dict[str, list[dict[str, Any]]] = {name: [] for name in configs}
        for rep in range(args.repeats):
            for name, extra in configs.items():
                report = run_once(paths, work / "ix", extra, node.env)
                runs[name].append(report)
                log.info("repeat %d %-9s %5.1f s wall, %5.1f s ingest, %d pages", rep + 1, name, report["wall"],
                         report["seconds"], report["pages"])
        load_after = os.getloadavg()
    finally:
        if node is not None:
            node.stop()
        shutil.rmtree(work, ignore_errors=True)
    pages = runs["local w1"][0]["pages"]
    print(f"machine: {platform.machine()}, {os.cpu_count()} cores, {platform.python_version()}; "
          f"load avg (1/5/15 min) before {load_before[0]:.1f}/{load_before[1]:.1f}/{load_before[2]:.1f}, "
          f"after {load_after[0]:.1f}/{load_after[1]:.1f}/{load_after[2]:.1f}; {pages} pages, "
          f"{runs['local w1'][0]['files_ingested']} files, median of {args.repeats}")
    print()
    print("| engine | wall s | pages/s (wall) | ingest s | pages/s (ingest) | vs local w1 (wall) |")
    print("|---|---:|---:|---:|---:|---:|")
    base = statistics.median(r["wall"] for r in runs["local w1"])
    for name, rs in runs.items():
        wall = statistics.median(r["wall"] for r in rs)
        ingest = statistics.median(r["seconds"] for r in rs)
        print(f"| {name} | {wall:.1f} | {pages / wall:.2f} | {ingest:.1f} | {pages / ingest:.2f} "
              f"| {base / wall:.2f}x |")
    print()
    stages = ["ray_connect", "ray_wait", "parse", "embed", "points", "store", "actor_store"]
    print("| stage (median run) | " + " | ".join(stages) + " |")
    print("|---|" + "---:|" * len(stages))
    for name in ("local w1", "local w2", "ray 1", "ray 2"):
        st = _median_run(runs[name])["stages"]
        print(f"| {name} | " + " | ".join(f"{st.get(s, 0.0):.2f}" for s in stages) + " |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
