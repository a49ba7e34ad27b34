"""LoopThread: one event loop in a thread, reached from sync code, other threads and other loops."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncIterator

import pytest

from rag.aio import LoopThread


async def where() -> asyncio.AbstractEventLoop:
    return asyncio.get_running_loop()


def test_every_caller_runs_on_the_one_loop() -> None:
    home = LoopThread("t-home")
    try:
        first = home.run(where())
        seen: list[asyncio.AbstractEventLoop] = []
        threads = [threading.Thread(target=lambda: seen.append(home.run(where()))) for _ in range(4)]
        threads.append(threading.Thread(target=lambda: seen.append(asyncio.run(home.arun(where())))))
        for t in threads:
            t.start()
        for t in threads:
            t.join(10)
        assert seen == [first] * 5
    finally:
        home.stop()


def test_a_blocking_call_from_the_loops_own_thread_is_refused_not_deadlocked() -> None:
    home = LoopThread("t-self")
    try:
        async def nested() -> None:
            home.run(where())

        with pytest.raises(RuntimeError, match="deadlock"):
            home.run(nested())
    finally:
        home.stop()


def test_cancelling_the_caller_cancels_the_work_on_the_loop() -> None:
    home = LoopThread("t-cancel")
    started, cancelled = threading.Event(), threading.Event()

    async def forever() -> None:
        started.set()
        try:
            await asyncio.sleep(60)
        except asyncio.CancelledError:
            cancelled.set()
            raise

    async def caller() -> None:
        task = asyncio.ensure_future(home.arun(forever()))
        await asyncio.to_thread(started.wait, 5)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    try:
        asyncio.run(caller())
        assert cancelled.wait(5)
    finally:
        home.stop()


def test_iterate_yields_as_produced_and_closes_an_abandoned_iterator() -> None:
    home = LoopThread("t-iter")
    closed = threading.Event()
    step = threading.Event()

    async def numbers() -> AsyncIterator[int]:
        try:
            for i in range(10):
                if i == 1:  # the second item waits until the caller has the first
                    await asyncio.to_thread(step.wait, 5)
                yield i
        finally:
            closed.set()

    try:
        got = []
        for n in home.iterate(numbers()):
            got.append(n)
            step.set()
            if n == 2:
                break
        assert got == [0, 1, 2]
        assert closed.wait(5)

        async def from_another_loop() -> list[int]:
            return [n async for n in home.aiterate(numbers())]

        assert asyncio.run(from_another_loop()) == list(range(10))
    finally:
        home.stop()


def test_stop_ends_the_thread_and_a_later_call_starts_afresh() -> None:
    home = LoopThread("t-stop")
    first = home.run(where())
    (thread,) = [t for t in threading.enumerate() if t.name == "t-stop"]
    home.stop()
    assert not thread.is_alive() and first.is_closed()
    assert not home.started
    assert home.run(where()) is not first
    home.stop()
    home.stop()  # idempotent
