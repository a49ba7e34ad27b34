"""The Embedder contract: what every embedder backend must do, as a test class to subclass.

A backend's test module subclasses :class:`EmbedderContract` and provides the ``embedder`` fixture
(module-scoped where loading is slow)::

    class TestE5SmallContract(EmbedderContract):
        @pytest.fixture
        def embedder(self, fast: E5SmallEmbedder) -> Embedder:
            return fast

Needs pytest (the ``dev`` extra).
"""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from rag.embed.base import Embedder
from rag.errors import EmbedError

TEXTS = ["Total revenue reached 482.7 million in fiscal 2025.", "2025년 매출액은 3,214억 원이다.", "x"]


def _unit_rows(x: np.ndarray, n: int, dim: int) -> None:
    assert x.shape == (n, dim) and x.dtype == np.float32
    if n:
        assert np.allclose(np.linalg.norm(x, axis=1), 1.0, atol=1e-3)


class EmbedderContract:
    """Tests every :class:`~rag.embed.base.Embedder` passes. Subclass and provide ``embedder``."""

    @pytest.fixture
    def embedder(self) -> Embedder:
        raise NotImplementedError("an EmbedderContract subclass provides the `embedder` fixture")

    def test_is_an_embedder_with_a_named_space(self, embedder: Embedder) -> None:
        assert isinstance(embedder, Embedder)
        assert isinstance(embedder.id, str) and embedder.id.strip()  # stored with the index
        assert embedder.dim >= 1

    def test_texts_and_queries_are_unit_float32_rows(self, embedder: Embedder) -> None:
        _unit_rows(embedder.embed_texts(TEXTS), len(TEXTS), embedder.dim)
        _unit_rows(embedder.embed_queries(TEXTS[:2]), 2, embedder.dim)

    def test_no_input_is_zero_rows(self, embedder: Embedder) -> None:
        _unit_rows(embedder.embed_texts([]), 0, embedder.dim)
        _unit_rows(embedder.embed_queries([]), 0, embedder.dim)

    def test_rows_do_not_depend_on_their_batch(self, embedder: Embedder) -> None:
        together = embedder.embed_texts(TEXTS)
        alone = np.vstack([embedder.embed_texts([t]) for t in TEXTS])
        assert np.allclose(together, alone, atol=2e-3)

    def test_images_embed_or_are_refused(self, embedder: Embedder) -> None:
        images = [Image.new("RGB", (64, 48), "red"), Image.linear_gradient("L").resize((90, 30))]
        if embedder.embeds_images:
            _unit_rows(embedder.embed_images(images), 2, embedder.dim)
        else:
            with pytest.raises(EmbedError):
                embedder.embed_images(images)
