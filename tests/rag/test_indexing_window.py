"""Texts longer than the model's window are cut before tokenising (``rag.indexing``), and the cut
changes no vector: the real CPU model (MiniLM, a 256-token window) embeds the cut text and the whole
text to the same vector."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from pathlib import Path

import numpy as np
import pymupdf
import pytest

from ingest.records import TextChunk
from rag.config import EmbedConfig
from rag.embed.base import Embedder, EmbedderWrapper, build_embedder
from rag.indexing import CHARS_PER_TOKEN, cut_for_window, items_to_points, max_tokens_of

EVAL_PDF = Path("../shared/eval/pdfs/ADOBE_2022_10K.pdf")


@pytest.fixture(scope="module")
def minilm() -> Iterator[Embedder]:
    yield build_embedder(EmbedConfig(backend="minilm", device="cpu"))


def _long_texts() -> list[str]:
    """Real page texts when the evaluation PDFs are here, else English and Korean prose, all long."""
    texts = [" ".join(["The Oslo plant produced 4,200 turbines in 2025."] * 200),
             " ".join(["디지털 정부 혁신 계획에 따라 공공 서비스를 개선한다."] * 300),
             "Revenue\n\n\n" + "   ".join(f"{i:,}.{i % 10}" for i in range(3000))]
    if EVAL_PDF.exists():
        with pymupdf.open(EVAL_PDF) as doc:
            pages = sorted((page.get_text() for page in doc), key=len, reverse=True)
        texts += pages[:4]
    return texts


def test_cut_counts_non_space_characters() -> None:
    budget = CHARS_PER_TOKEN * 2
    assert cut_for_window("ab " * 10, 2) == "ab " * (budget // 2)  # spaces are free
    assert cut_for_window("x" * 100, 2) == "x" * budget
    assert cut_for_window("short", 512) == "short"


def test_window_is_read_through_wrappers(minilm: Embedder) -> None:
    assert max_tokens_of(minilm) == 256
    assert max_tokens_of(EmbedderWrapper(minilm)) == 256


def test_cut_texts_embed_as_the_whole_texts(minilm: Embedder) -> None:
    texts = _long_texts()
    window = max_tokens_of(minilm)
    cut = [cut_for_window(t, window) for t in texts]
    assert all(len(c) < len(t) for c, t in zip(cut, texts, strict=True))
    whole, short = minilm.embed_texts(texts), minilm.embed_texts(cut)  # (n, 384) each
    cos = np.sum(whole * short, axis=1)
    assert cos.min() > 0.99999, cos


class _Inputs(EmbedderWrapper):
    def __init__(self, inner: Embedder) -> None:
        super().__init__(inner)
        self.seen: list[str] = []

    def embed_texts(self, texts: Sequence[str]) -> np.ndarray:
        self.seen += texts
        return self.inner.embed_texts(texts)


def test_points_keep_the_whole_text(minilm: Embedder) -> None:
    text = _long_texts()[0]
    item = TextChunk(id="a", doc_id="d", file="f.pdf", page=1, text=text)
    rec = _Inputs(minilm)
    [point] = items_to_points([item], rec)
    assert len(rec.seen[0]) < len(text) and point.item.text == text
