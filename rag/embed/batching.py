"""Coalesce concurrent query embeddings into one forward pass.

Searches run in worker threads (``Pipeline.asearch`` hands ``Retriever.search`` to a thread), so
many chat requests arriving together each call ``embed_queries([question])`` at about the same
time. :class:`QueryBatcher` queues those calls: the caller at the head of the queue becomes the
*leader*, takes the queued calls (whole calls, at most ``max_batch`` queries unless one call alone
is larger) and embeds them in one inner call; every caller then gets its own rows. The leader waits
for company only while another inner call is running (until it ends, ``max_batch`` queries are
queued or ``max_wait_ms`` have passed since the leader arrived): calls that come while the model is
busy share the next call, and a lone query, or the first of a burst, goes at once — waiting a fixed
``max_wait_ms`` for company that never comes added that much to every single search. Waiting is on a
:class:`threading.Condition`, never a spin. An exception of the inner call is raised in every caller
of that batch.

Passages and images (ingest) pass straight through: they already come in batches.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Sequence

import numpy as np

from rag.embed.base import Embedder, EmbedderWrapper
from rag.errors import EmbedError

log = logging.getLogger(__name__)


class _Call:
    """One ``embed_queries`` call waiting in the queue."""

    __slots__ = ("arrived", "done", "error", "result", "texts")

    def __init__(self, texts: list[str]) -> None:
        self.texts = texts
        self.arrived = time.monotonic()
        self.done = False
        self.result: np.ndarray | None = None  # (len(texts), dim) once done
        self.error: BaseException | None = None


class QueryBatcher(EmbedderWrapper):
    """An :class:`Embedder` whose ``embed_queries`` calls from many threads share inner calls."""

    def __init__(self, inner: Embedder, max_batch: int, max_wait_ms: float) -> None:
        if max_batch < 1:
            raise ValueError(f"max_batch must be at least 1, got {max_batch}")
        if max_wait_ms < 0:
            raise ValueError(f"max_wait_ms must be >= 0, got {max_wait_ms}")
        super().__init__(inner)
        self.max_batch = max_batch
        self.max_wait_s = max_wait_ms / 1000
        self._cond = threading.Condition()
        self._queue: deque[_Call] = deque()
        self._queued = 0  # queries (not calls) in the queue
        self._leading = False  # a leader is collecting a batch
        self._running = 0  # inner calls in flight
        self.inner_calls = 0
        """Inner ``embed_queries`` calls made (for tests and metrics)."""

    def embed_queries(self, texts: Sequence[str]) -> np.ndarray:
        """Questions, shape (n, dim); blocks until the batch holding this call is embedded."""
        if not texts:
            return self.inner.embed_queries(texts)
        call = _Call(list(texts))
        with self._cond:
            self._queue.append(call)
            self._queued += len(call.texts)
            self._cond.notify_all()  # a leader may now have a full batch
            while not call.done:
                if not self._leading and self._queue and self._queue[0] is call:
                    self._leading = True
                    batch = self._collect()
                    break
                self._cond.wait()
            else:
                return self._result(call)
        self._run(batch)
        return self._result(call)

    def _collect(self) -> list[_Call]:
        """As leader (lock held): while an inner call runs, wait for it to end, a full batch or the
        head's deadline; then take the batch."""
        deadline = self._queue[0].arrived + self.max_wait_s
        while self._queued < self.max_batch and self._running:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                break
            self._cond.wait(remaining)
        batch = [self._queue.popleft()]
        size = len(batch[0].texts)
        while self._queue and size + len(self._queue[0].texts) <= self.max_batch:
            batch.append(self._queue.popleft())
            size += len(batch[-1].texts)
        self._queued -= size
        self._running += 1
        self._leading = False
        self._cond.notify_all()  # the next head, if any, takes the lead
        return batch

    def _run(self, batch: list[_Call]) -> None:
        """Embed the batch in one inner call (lock not held) and hand each call its rows."""
        texts = [t for call in batch for t in call.texts]
        t0 = time.perf_counter()
        error: BaseException | None = None
        vectors: np.ndarray | None = None
        try:
            vectors = self.inner.embed_queries(texts)  # (len(texts), dim)
            if vectors.shape[0] != len(texts):
                raise EmbedError(f"embedder returned {vectors.shape[0]} rows for {len(texts)} queries")
        except BaseException as exc:  # every caller of the batch must wake up and see it
            error = exc
        log.debug("embedded %d queries of %d calls in one batch (%.1f ms)", len(texts), len(batch),
                  (time.perf_counter() - t0) * 1000)
        with self._cond:
            self.inner_calls += 1
            self._running -= 1  # a leader waiting for this call to end goes now
            start = 0
            for call in batch:
                if error is None:
                    assert vectors is not None
                    call.result = vectors[start:start + len(call.texts)]  # (len(call.texts), dim)
                    start += len(call.texts)
                call.error = error
                call.done = True
            self._cond.notify_all()

    @staticmethod
    def _result(call: _Call) -> np.ndarray:
        if call.error is not None:
            raise call.error
        assert call.result is not None
        return call.result
