"""The on-disk embedding cache returns the inner embedder's vectors and skips repeated work."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from rag.backend_settings import E5VEmbedConfig
from rag.embed.cache import CachedEmbedder
from rag.embed.e5v import E5VEmbedder


@pytest.fixture(scope="module")
def inner(tiny_llava_dir: Path) -> E5VEmbedder:
    return E5VEmbedder.from_config(E5VEmbedConfig(model=str(tiny_llava_dir), device="cpu",
                                               dtype="float32", image_side=112))


def test_cached_vectors_equal_fresh_ones_and_persist(inner: E5VEmbedder, tmp_path: Path) -> None:
    texts = ["alpha beta", "gamma", "alpha beta"]
    images = [Image.new("RGB", (90, 60), "red"), Image.new("RGB", (60, 90), "blue")]
    cache = CachedEmbedder(inner, tmp_path / "c.sqlite")
    first = cache.embed_texts(texts)
    assert np.allclose(first, inner.embed_texts(texts), atol=1e-6)
    assert (cache.misses, cache.hits) == (3, 0)
    assert np.allclose(cache.embed_texts(texts[:2]), first[:2])
    assert cache.hits == 2
    img = cache.embed_images(images)
    assert np.allclose(img, inner.embed_images(images), atol=1e-6)
    cache.close()

    reopened = CachedEmbedder(inner, tmp_path / "c.sqlite")
    assert np.allclose(reopened.embed_images(images[::-1]), img[::-1])
    assert (reopened.hits, reopened.misses) == (2, 0)
    reopened.close()


def test_queries_and_passages_are_cached_apart(inner: E5VEmbedder, tmp_path: Path) -> None:
    cache = CachedEmbedder(inner, tmp_path / "c.sqlite")
    cache.embed_texts(["same words"])
    cache.embed_queries(["same words"])
    assert cache.misses == 2  # a passage hit must never answer a query (prompts may differ by backend)
    assert cache.id == inner.id and cache.dim == inner.dim and cache.embeds_images
    cache.close()


def test_the_cache_does_not_sync_every_commit(inner: E5VEmbedder, tmp_path: Path) -> None:
    # A search that misses writes its query vector: a full sync there cost ~8 ms per search.
    cached = CachedEmbedder(inner, tmp_path / "c.sqlite")
    try:
        assert cached._db.execute("PRAGMA synchronous").fetchone()[0] == 1  # NORMAL (FULL is 2)
        assert cached._db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    finally:
        cached.close()
