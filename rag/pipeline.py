"""The facade: ``Pipeline.from_config("cpu")`` then ``ingest``, ``search``, ``ask``, ``stream``.

Every operation is written once, async (``aingest``, ``asearch``, ``aask``, ``astream``); the sync
methods run them on the pipeline's one event loop, in a background thread, so any number of threads
may call them at once. The async methods run on the caller's loop (a server's, a notebook's): nothing
in them is bound to one loop (the ingest lock is a thread lock, the HTTP clients of the generator and
embedder live on their own loops). Heavy parts (embedder, store, generator) are built once in
``from_config``; :meth:`Pipeline.close` (or ``with``) releases them and stops the loop.
"""

from __future__ import annotations

import asyncio
import logging
import time
import weakref
from collections.abc import AsyncIterator, Callable, Coroutine, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from functools import partial
from pathlib import Path
from typing import Any, TypeVar

from rag.aio import LoopThread
from rag.config import Settings, load_settings
from rag.embed.base import Embedder, EmbedderWrapper, build_embedder
from rag.embed.batching import QueryBatcher
from rag.embed.cache import CachedEmbedder
from rag.errors import MmragError
from rag.generate.base import Generator, build_generator
from rag.generate.chat import ChatTurn, acondense
from rag.generate.citations import build_answer
from rag.ingestion import DeleteResult, Ingestor
from rag.progress import PageProgress
from rag.records import Answer, Evidence, IngestReport, SearchFilter, StoreStats
from rag.rerank import build_reranker
from rag.retrieve import Retriever
from rag.store.base import Store, open_store

log = logging.getLogger(__name__)

T = TypeVar("T")


class _Timer:
    """Accumulates seconds per stage."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = {}

    def add(self, stage: str, since: float) -> None:
        self.seconds[stage] = round(self.seconds.get(stage, 0.0) + time.perf_counter() - since, 4)


class Pipeline:
    """Ingest folders, then search and ask with citations. Build with :meth:`from_config`."""

    def __init__(self, settings: Settings, embedder: Embedder, store: Store, generator: Generator) -> None:
        self.settings = settings
        self.embedder = embedder
        self.store = store
        self.generator = generator
        use_embedder = getattr(generator, "use_embedder", None)
        if callable(use_embedder):  # the extractive answerer reads across languages with it
            use_embedder(embedder)
        self.retriever = Retriever(embedder, store, settings.retrieve,
                                   reranker=build_reranker(settings.retrieve, embedder))
        self.store.ensure(embedder.id, embedder.dim)
        self.ingestor = Ingestor(settings, embedder, store)
        """The ingest bookkeeping (manifest, media, store writes); the server's jobs use it too."""
        # Ingests run one at a time on their own worker thread: waiting ones queue there, not in the
        # threads searches need (the Ingestor's own thread lock guards the manifest and media folder).
        self._ingest_worker = ThreadPoolExecutor(1, thread_name_prefix="mmrag-ingest")
        self._loop = LoopThread("mmrag-pipeline")
        """The event loop the sync methods run on (started on first use, stopped by :meth:`close`)."""
        weakref.finalize(self, self._loop.stop)  # a pipeline dropped unclosed leaves no thread behind
        self._closed = False

    @classmethod
    def from_config(cls, name_or_path: str | Path = "cpu", overrides: Mapping[str, Any] | None = None,
                    environ: Mapping[str, str] | None = None) -> Pipeline:
        """Build a pipeline from a profile name (``cpu``, ``cpu-en``, ``default``, ``test``) or a YAML path, with
        ``MMRAG__SECTION__FIELD`` environment overrides and dotted ``overrides`` on top."""
        settings = load_settings(name_or_path, overrides, environ)
        return cls.from_settings(settings)

    @classmethod
    def from_settings(cls, settings: Settings) -> Pipeline:
        """Build every part named by ``settings``; a missing part fails here, in one sentence."""
        settings.index_dir.mkdir(parents=True, exist_ok=True)
        embedder: Embedder = build_embedder(settings.embed)
        if settings.embed.query_batch_wait_ms > 0:  # inside the cache: cached queries never wait
            embedder = QueryBatcher(embedder, settings.embed.max_batch, settings.embed.query_batch_wait_ms)
        if settings.embed.cache:
            embedder = CachedEmbedder(embedder, settings.index_dir / "embed-cache.sqlite")
        store = open_store(settings.store)
        generator = build_generator(settings.generate)
        return cls(settings, embedder, store, generator)

    # ----------------------------------------------------------------------------------- ingest
    async def aingest(self, paths: Sequence[str | Path], *, tenant: str = "default",
                      tags: Sequence[str] = (), progress: bool | None = None,
                      on_progress: Callable[[int, int], None] | None = None,
                      on_pages: Callable[[PageProgress], None] | None = None) -> IngestReport:
        """Ingest files and folders incrementally: new files are added, changed files replaced,
        deleted files' points removed, unchanged files skipped. One bad file never stops the rest.

        ``on_progress(files_done, files_total)`` is called (from the ingest thread) once the files to
        parse (new and changed) are known, with ``files_done=0``, then after each of them.

        Documents belong to ``(tenant, path)``: the same file ingested by two tenants is two
        documents, and nothing here touches another tenant's. A symlink under a given folder that
        leads out of it is skipped (reason in ``files_skipped``); a file that yields no points is
        recorded with an entry in ``notices``."""
        self._check_open()
        return await asyncio.get_running_loop().run_in_executor(
            self._ingest_worker, partial(self.ingestor.ingest, paths, tenant=tenant, tags=tags,
                                         progress=progress, on_progress=on_progress, on_pages=on_pages))

    def optimize(self) -> bool:
        """Build the store's search index now (Qdrant Edge: HNSW over every point written since the
        last build). Blocks the process while it runs. False when the store has nothing to build."""
        return self.ingestor.optimize()

    async def adelete(self, paths: Sequence[str | Path], *, tenant: str | None = "default") -> DeleteResult:
        """Remove ``tenant``'s ingested documents at ``paths`` (``tenant=None``: every tenant's):
        points, manifest rows (a later ingest adds them again) and page renders no other document
        shares. Another tenant's copy of the same file stays. Paths not ingested by the tenant are
        listed in ``not_found``."""
        self._check_open()
        return await asyncio.get_running_loop().run_in_executor(
            self._ingest_worker, partial(self.ingestor.delete, paths, tenant=tenant))

    def delete(self, paths: Sequence[str | Path], *, tenant: str | None = "default") -> DeleteResult:
        """Sync twin of :meth:`adelete`."""
        return self._run(self.adelete(paths, tenant=tenant))

    def ingest(self, paths: Sequence[str | Path], *, tenant: str = "default", tags: Sequence[str] = (),
               progress: bool | None = None, on_progress: Callable[[int, int], None] | None = None,
               on_pages: Callable[[PageProgress], None] | None = None) -> IngestReport:
        """Sync twin of :meth:`aingest`."""
        return self._run(self.aingest(paths, tenant=tenant, tags=tags, progress=progress,
                                      on_progress=on_progress, on_pages=on_pages))

    # ----------------------------------------------------------------------------------- search
    async def asearch(self, query: str, k: int | None = None, flt: SearchFilter | None = None) -> list[Evidence]:
        """Page-level evidence for ``query``, best first."""
        return await asyncio.to_thread(self.retriever.search, query, k, flt)

    def search(self, query: str, k: int | None = None, flt: SearchFilter | None = None) -> list[Evidence]:
        """Sync twin of :meth:`asearch`."""
        return self._run(self.asearch(query, k, flt))

    # -------------------------------------------------------------------------------------- ask
    async def aask(self, question: str, *, flt: SearchFilter | None = None, k: int | None = None,
                   history: Sequence[ChatTurn] = ()) -> Answer:
        """Retrieve evidence and answer with citations; abstains when the evidence does not answer.
        ``history`` (earlier turns of a chat) turns a follow-up into a standalone question first."""
        answer: Answer | None = None
        async for part in self.astream(question, flt=flt, k=k, history=history):
            if isinstance(part, Answer):
                answer = part
        assert answer is not None  # astream always ends with the Answer
        return answer

    def ask(self, question: str, *, flt: SearchFilter | None = None, k: int | None = None,
            history: Sequence[ChatTurn] = ()) -> Answer:
        """Sync twin of :meth:`aask`."""
        return self._run(self.aask(question, flt=flt, k=k, history=history))

    async def astream(self, question: str, *, flt: SearchFilter | None = None, k: int | None = None,
                      history: Sequence[ChatTurn] = ()) -> AsyncIterator[str | Answer]:
        """Yield text deltas as the generator writes, then the full :class:`Answer`."""
        if not question.strip():
            raise MmragError("question is empty")
        timer = _Timer()
        asked = question
        if history:
            t = time.perf_counter()
            question = await acondense(list(history), question, self.generator)
            timer.add("condense", t)
        t = time.perf_counter()
        evidence = await self.asearch(question, k=k, flt=flt)
        timer.add("retrieve", t)
        # The prompt budget may drop the lowest-ranked evidence; citations resolve against what is sent.
        evidence = self.generator.select(question, evidence)
        t = time.perf_counter()
        parts: list[str] = []
        async for delta in self.generator.astream(question, evidence):
            parts.append(delta)
            yield delta
        timer.add("generate", t)
        yield build_answer(asked, "".join(parts), evidence, timer.seconds, support=self.settings.generate)

    def stream(self, question: str, *, flt: SearchFilter | None = None, k: int | None = None,
               history: Sequence[ChatTurn] = ()) -> Iterator[str | Answer]:
        """Sync twin of :meth:`astream`: each delta as the generator writes it, then the :class:`Answer`."""
        self._check_open()
        yield from self._loop.iterate(self.astream(question, flt=flt, k=k, history=history))

    # ------------------------------------------------------------------------------------ admin
    def stats(self) -> StoreStats:
        """What the index holds."""
        self._check_open()
        return self.store.stats()

    def _check_open(self) -> None:
        if self._closed:
            raise MmragError("this Pipeline is closed; build a new one with Pipeline.from_config")

    def _run(self, coro: Coroutine[Any, Any, T]) -> T:
        """Run one of the async twins on the pipeline's event loop and wait for it."""
        if self._closed:
            coro.close()  # never awaited: say so quietly, not as a "never awaited" warning
            raise MmragError("this Pipeline is closed; build a new one with Pipeline.from_config")
        return self._loop.run(coro)

    def close(self) -> None:
        """Release the generator's and embedder's connections and the store, then stop the event
        loop. Idempotent; later calls on this pipeline raise :class:`MmragError`."""
        if self._closed:
            return
        self._closed = True
        try:
            self._ingest_worker.shutdown(wait=True, cancel_futures=True)  # the running one ends first
            self._loop.run(self.generator.aclose())
        finally:
            self._loop.stop()
            # Every layer of the embedder (cache, batcher, HTTP runner) may hold something to release.
            layer: object = self.embedder
            while layer is not None:
                close = getattr(layer, "close", None)
                if callable(close):
                    close()
                layer = layer.inner if isinstance(layer, EmbedderWrapper) else None
            self.store.close()

    def __enter__(self) -> Pipeline:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
