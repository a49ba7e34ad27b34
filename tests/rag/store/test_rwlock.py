"""The readers-writer lock behind atomic file replacement."""

from __future__ import annotations

import threading
import time

from rag.store.rwlock import ReadWriteLock


def test_readers_share_and_a_writer_waits_for_them() -> None:
    lock = ReadWriteLock()
    events: list[str] = []
    inside = threading.Barrier(3)

    def reader(name: str) -> None:
        with lock.read():
            inside.wait()  # both readers are in at once
            time.sleep(0.05)
            events.append(f"{name} out")

    def writer() -> None:
        inside.wait()
        with lock.write():
            events.append("writer in")

    threads = [threading.Thread(target=reader, args=(n,)) for n in ("r1", "r2")] + [threading.Thread(target=writer)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(5)
    assert events[-1] == "writer in" and sorted(events[:2]) == ["r1 out", "r2 out"]


def test_a_waiting_writer_goes_before_new_readers() -> None:
    lock = ReadWriteLock()
    order: list[str] = []
    first_in, writer_waiting = threading.Event(), threading.Event()

    def first_reader() -> None:
        with lock.read():
            first_in.set()
            writer_waiting.wait(5)
            time.sleep(0.05)

    def writer() -> None:
        first_in.wait(5)
        writer_waiting.set()
        with lock.write():
            order.append("writer")

    def late_reader() -> None:
        writer_waiting.wait(5)
        time.sleep(0.01)  # arrives while the writer waits
        with lock.read():
            order.append("late reader")

    threads = [threading.Thread(target=f) for f in (first_reader, writer, late_reader)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(5)
    assert order == ["writer", "late reader"]


def test_the_writer_may_reenter_and_read() -> None:
    lock = ReadWriteLock()
    with lock.write(), lock.write(), lock.read():
        pass
    with lock.read():  # released fully
        pass
    done = threading.Event()

    def other_writer() -> None:
        with lock.write():
            done.set()

    t = threading.Thread(target=other_writer)
    t.start()
    t.join(5)
    assert done.is_set()
