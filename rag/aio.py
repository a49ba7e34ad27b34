"""Event loops for sync callers and loop-bound resources.

:class:`LoopThread` is one long-lived event loop in a daemon thread. Whatever is bound to an event
loop (an ``httpx.AsyncClient`` and its connections, an ``asyncio.Semaphore``) lives on one such loop
and is reached from any thread (:meth:`LoopThread.run`, :meth:`LoopThread.iterate`) and from any
other event loop (:meth:`LoopThread.arun`, :meth:`LoopThread.aiterate`). The :class:`~rag.pipeline.Pipeline`
runs its sync facade on one; the HTTP generator and embedder keep their single client on theirs.

:func:`run_sync` runs a coroutine on a fresh, short-lived loop: only for coroutines that hold no
loop-bound state across calls.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import logging
import threading
from collections.abc import AsyncIterator, Coroutine, Iterator
from typing import Any, TypeVar

T = TypeVar("T")

log = logging.getLogger(__name__)


def run_sync(coro: Coroutine[Any, Any, T]) -> T:
    """``asyncio.run`` when no loop runs in this thread; otherwise a fresh loop in a worker thread."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(coro)
    with concurrent.futures.ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(asyncio.run, coro).result()


async def _anext(iterator: AsyncIterator[T]) -> T:
    # A real coroutine: run_coroutine_threadsafe refuses the awaitable __anext__ returns.
    return await iterator.__anext__()


async def _aclose(iterator: AsyncIterator[Any]) -> None:
    close = getattr(iterator, "aclose", None)
    if close is not None:
        await close()


class LoopThread:
    """An event loop running in its own daemon thread, started on first use, until :meth:`stop`.

    Thread-safe: any thread may submit work; a stopped loop starts afresh on the next use."""

    def __init__(self, name: str = "mmrag-loop") -> None:
        self.name = name
        self._lock = threading.Lock()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None

    @property
    def started(self) -> bool:
        """Whether the loop is running now."""
        return self._loop is not None

    def loop(self) -> asyncio.AbstractEventLoop:
        """The running loop (started now if it is not)."""
        with self._lock:
            if self._loop is None:
                loop = asyncio.new_event_loop()
                ready = threading.Event()
                thread = threading.Thread(target=self._main, args=(loop, ready), name=self.name, daemon=True)
                thread.start()
                ready.wait()
                self._loop, self._thread = loop, thread
            return self._loop

    def in_loop_thread(self) -> bool:
        """Whether the caller is the loop's own thread (where blocking on the loop would deadlock)."""
        thread = self._thread
        return thread is not None and thread.ident == threading.get_ident()

    def submit(self, coro: Coroutine[Any, Any, T]) -> concurrent.futures.Future[T]:
        """Schedule ``coro`` on the loop; a future for its result."""
        return asyncio.run_coroutine_threadsafe(coro, self.loop())

    def run(self, coro: Coroutine[Any, Any, T]) -> T:
        """Run ``coro`` on the loop and block until it ends (from any thread but the loop's own).

        An interrupt of the waiting thread (Ctrl-C) cancels the coroutine."""
        if self.in_loop_thread():
            coro.close()
            raise RuntimeError(f"{self.name}: a blocking call from the loop's own thread would deadlock; "
                               "await the async method instead")
        future = self.submit(coro)
        try:
            return future.result()
        except BaseException:
            future.cancel()
            raise

    async def arun(self, coro: Coroutine[Any, Any, T]) -> T:
        """Await ``coro`` run on this loop, from any event loop; cancelling the caller cancels it."""
        loop = self.loop()
        if asyncio.get_running_loop() is loop:
            return await coro
        return await asyncio.wrap_future(asyncio.run_coroutine_threadsafe(coro, loop))

    def iterate(self, iterator: AsyncIterator[T]) -> Iterator[T]:
        """Iterate ``iterator`` on the loop from sync code, item by item as it produces them.

        Leaving the loop early (``break``, an exception, garbage collection) closes ``iterator`` on
        the loop."""
        suspended = False  # True only while the caller holds an item: then iterator waits at a yield
        try:
            while True:
                item = self.run(_anext(iterator))  # StopAsyncIteration ends this generator too
                suspended = True
                yield item
                suspended = False
        except StopAsyncIteration:
            return
        finally:
            # An error or interrupt inside a step already reached iterator (or ended it); only an
            # iterator paused at a yield still needs closing.
            if suspended and self.started and not self.in_loop_thread():
                self.run(_aclose(iterator))

    async def aiterate(self, iterator: AsyncIterator[T]) -> AsyncIterator[T]:
        """Iterate ``iterator`` on this loop from any event loop, item by item."""
        if asyncio.get_running_loop() is self.loop():
            async for item in iterator:
                yield item
            return
        suspended = False  # as in iterate(): a cancelled step cancels iterator itself
        try:
            while True:
                item = await self.arun(_anext(iterator))
                suspended = True
                yield item
                suspended = False
        except StopAsyncIteration:
            return
        finally:
            if suspended and self.started:
                await self.arun(_aclose(iterator))

    def stop(self, timeout_s: float = 10.0) -> None:
        """Cancel what still runs on the loop, stop it and wait for its thread (up to ``timeout_s``)."""
        with self._lock:
            loop, thread = self._loop, self._thread
            self._loop, self._thread = None, None
        if loop is None or thread is None:
            return
        try:
            loop.call_soon_threadsafe(loop.stop)
        except RuntimeError:  # already closed
            return
        if thread.ident != threading.get_ident():
            thread.join(timeout_s)
            if thread.is_alive():
                log.warning("%s: the event loop thread did not stop within %.0f s", self.name, timeout_s)

    @staticmethod
    def _main(loop: asyncio.AbstractEventLoop, ready: threading.Event) -> None:
        asyncio.set_event_loop(loop)
        loop.call_soon(ready.set)
        try:
            loop.run_forever()
        finally:
            tasks = asyncio.all_tasks(loop)
            for task in tasks:
                task.cancel()
            loop.run_until_complete(asyncio.gather(*tasks, return_exceptions=True))
            loop.run_until_complete(loop.shutdown_asyncgens())
            loop.run_until_complete(loop.shutdown_default_executor())
            loop.close()
