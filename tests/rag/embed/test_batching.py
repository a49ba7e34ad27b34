"""QueryBatcher: concurrent ``embed_queries`` calls share inner calls and get exactly their own rows."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest

from rag.backend_settings import E5VEmbedConfig
from rag.embed.base import Embedder, EmbedderWrapper
from rag.embed.batching import QueryBatcher
from rag.embed.e5v import E5VEmbedder
from rag.errors import EmbedError


class Counting(EmbedderWrapper):
    """Wraps a real embedder; records the size of each ``embed_queries`` call and can fail on demand."""

    def __init__(self, inner: Embedder) -> None:
        super().__init__(inner)
        self.calls: list[int] = []
        self.fail: Exception | None = None
        self._lock = threading.Lock()

    def embed_queries(self, texts: Sequence[str]) -> np.ndarray:
        with self._lock:
            self.calls.append(len(texts))
        if self.fail is not None:
            raise self.fail
        return self.inner.embed_queries(texts)


QUESTIONS = [f"What happened in quarter {i} of year {2000 + i}?" for i in range(8)]


@pytest.fixture(scope="module")
def inner(tiny_llava_dir: Path) -> E5VEmbedder:
    return E5VEmbedder.from_config(E5VEmbedConfig(model=str(tiny_llava_dir), device="cpu",
                                               dtype="float32"))


@pytest.fixture(scope="module")
def expected(inner: E5VEmbedder) -> dict[str, np.ndarray]:
    """Each question embedded alone, without the batcher."""
    return {q: inner.embed_queries([q])[0] for q in QUESTIONS}


def _at_once(n: int, fn: Callable[[int], np.ndarray]) -> list[np.ndarray | BaseException]:
    """Run ``fn(0..n-1)`` in ``n`` threads released together; results or exceptions, in order."""
    barrier = threading.Barrier(n)

    def call(i: int) -> np.ndarray | BaseException:
        barrier.wait()
        try:
            return fn(i)
        except Exception as exc:
            return exc

    with ThreadPoolExecutor(max_workers=n) as pool:
        return list(pool.map(call, range(n)))


def test_concurrent_queries_share_inner_calls_and_get_their_own_rows(
        inner: E5VEmbedder, expected: dict[str, np.ndarray]) -> None:
    counting = Counting(inner)
    batcher = QueryBatcher(counting, max_batch=32, max_wait_ms=200)
    results = _at_once(len(QUESTIONS), lambda i: batcher.embed_queries([QUESTIONS[i]]))
    assert sum(counting.calls) == len(QUESTIONS)
    assert len(counting.calls) < len(QUESTIONS), counting.calls
    for q, got in zip(QUESTIONS, results, strict=True):
        assert isinstance(got, np.ndarray) and got.shape == (1, inner.dim)
        assert np.allclose(got[0], expected[q], atol=1e-5)


def test_calls_of_several_queries_keep_their_order(inner: E5VEmbedder, expected: dict[str, np.ndarray]) -> None:
    counting = Counting(inner)
    batcher = QueryBatcher(counting, max_batch=32, max_wait_ms=200)
    pairs = [QUESTIONS[i:i + 2] for i in range(0, len(QUESTIONS), 2)]
    results = _at_once(len(pairs), lambda i: batcher.embed_queries(pairs[i]))
    assert len(counting.calls) < len(pairs)
    for pair, got in zip(pairs, results, strict=True):
        assert isinstance(got, np.ndarray)
        assert np.allclose(got, np.stack([expected[q] for q in pair]), atol=1e-5)


def test_max_batch_is_respected(inner: E5VEmbedder, expected: dict[str, np.ndarray]) -> None:
    counting = Counting(inner)
    batcher = QueryBatcher(counting, max_batch=3, max_wait_ms=200)
    results = _at_once(len(QUESTIONS), lambda i: batcher.embed_queries([QUESTIONS[i]]))
    assert sum(counting.calls) == len(QUESTIONS)
    assert max(counting.calls) <= 3, counting.calls
    assert len(counting.calls) >= 3  # 8 queries in batches of at most 3
    for q, got in zip(QUESTIONS, results, strict=True):
        assert isinstance(got, np.ndarray)
        assert np.allclose(got[0], expected[q], atol=1e-5)


def test_an_inner_error_reaches_every_caller_of_the_batch(inner: E5VEmbedder) -> None:
    counting = Counting(inner)
    counting.fail = EmbedError("model fell over")
    batcher = QueryBatcher(counting, max_batch=32, max_wait_ms=200)
    results = _at_once(6, lambda i: batcher.embed_queries([QUESTIONS[i]]))
    assert all(isinstance(r, EmbedError) and "fell over" in str(r) for r in results), results
    counting.fail = None  # the batcher is still usable afterwards
    assert batcher.embed_queries([QUESTIONS[0]]).shape == (1, inner.dim)


def test_a_lone_call_does_not_wait_for_company_longer_than_max_wait(inner: E5VEmbedder) -> None:
    batcher = QueryBatcher(Counting(inner), max_batch=32, max_wait_ms=0)
    assert batcher.embed_queries([QUESTIONS[0]]).shape == (1, inner.dim)
    assert batcher.embed_queries([]).shape[0] == 0


def test_passages_and_identity_pass_through(inner: E5VEmbedder) -> None:
    batcher = QueryBatcher(inner, max_batch=4, max_wait_ms=1)
    assert (batcher.id, batcher.dim, batcher.embeds_images) == (inner.id, inner.dim, inner.embeds_images)
    assert isinstance(batcher, Embedder)
    assert np.allclose(batcher.embed_texts(["alpha"]), inner.embed_texts(["alpha"]), atol=1e-6)


@pytest.mark.parametrize(("max_batch", "max_wait_ms"), [(0, 1.0), (4, -1.0)])
def test_bad_arguments_fail_with_the_value(inner: E5VEmbedder, max_batch: int, max_wait_ms: float) -> None:
    with pytest.raises(ValueError, match=str(max_batch if max_batch < 1 else max_wait_ms)):
        QueryBatcher(inner, max_batch=max_batch, max_wait_ms=max_wait_ms)


def test_a_lone_call_goes_at_once_while_the_model_is_idle(inner: E5VEmbedder) -> None:
    # The old batcher waited max_wait_ms for company on every call: here 20 s for a lone query.
    counting = Counting(inner)
    batcher = QueryBatcher(counting, max_batch=32, max_wait_ms=20_000)
    t0 = time.monotonic()
    got = batcher.embed_queries([QUESTIONS[0]])
    assert time.monotonic() - t0 < 10, "a lone call waited for company"
    assert np.allclose(got[0], inner.embed_queries([QUESTIONS[0]])[0], atol=1e-5)
    assert counting.calls == [1]


def test_calls_arriving_while_the_model_runs_share_the_next_call(inner: E5VEmbedder) -> None:
    started, release = threading.Event(), threading.Event()

    class Slow(Counting):
        def embed_queries(self, texts: Sequence[str]) -> np.ndarray:
            if not started.is_set():
                started.set()
                release.wait(30)
            return super().embed_queries(texts)

    slow = Slow(inner)
    batcher = QueryBatcher(slow, max_batch=32, max_wait_ms=20_000)
    with ThreadPoolExecutor(max_workers=5) as pool:
        first = pool.submit(batcher.embed_queries, [QUESTIONS[0]])
        assert started.wait(30)
        rest = [pool.submit(batcher.embed_queries, [q]) for q in QUESTIONS[1:5]]
        time.sleep(0.3)  # all four queue behind the running call
        release.set()
        assert first.result(30).shape == (1, inner.dim)
        assert all(f.result(30).shape == (1, inner.dim) for f in rest)
    assert slow.calls == [1, 4]
