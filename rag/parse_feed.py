"""Parse in a background thread, handing parsed files to the embedder through a bounded queue.

:class:`ParseFeed` drives a parse stream (:func:`ingest.parse.parse_stream`, which itself may fan
out to worker processes, or :func:`~ingest.parse.parse_many`) on its own thread, so files are
parsed while earlier ones are embedded. The queue is bounded by *items*, not files: the parser
waits while ``max_items`` parsed items are held (queued, or taken but not yet given back; the
consumer gives them back with :meth:`ParseFeed.release`, the ingest once they are embedded). One
outcome bigger than the bound is still let in when nothing else is held, so the bound is
``max(max_items, one outcome's items)``; a streamed PDF's outcomes are page ranges
(:class:`~ingest.parts.FilePart`), so a long document never needs more than one range's room.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Iterator

from ingest.parse import Outcome, Streamed
from ingest.parts import FilePart
from ingest.records import ParsedFile

Fed = Outcome | Streamed


class ParseFeed:
    """A parse stream run ahead on a thread, at most ``max_items`` items held at once."""

    def __init__(self, outcomes: Iterator[Fed], max_items: int) -> None:
        if max_items < 1:
            raise ValueError(f"max_items must be at least 1, got {max_items}")
        self._outcomes = outcomes
        self.max_items = max_items
        self._cond = threading.Condition()
        self._queue: deque[Fed] = deque()
        self._held = 0  # items queued or taken and not yet released
        self._finished = False  # the stream is exhausted (or failed)
        self._error: BaseException | None = None
        self._stopped = False
        self._blocked = False  # the parser waits for room
        self.seconds: dict[str, float] = {"parse": 0.0, "queue_full": 0.0}
        """Parser-thread time: ``parse``, waiting on the parse stream; ``queue_full``, waiting for room."""
        self._thread = threading.Thread(target=self._run, name="mmrag-parse-feed", daemon=True)

    def __enter__(self) -> ParseFeed:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @staticmethod
    def size(outcome: Fed) -> int:
        """Items an outcome holds (a failure holds none)."""
        return len(outcome.items) if isinstance(outcome, ParsedFile | FilePart) else 0

    def _run(self) -> None:
        try:
            while True:
                t = time.perf_counter()
                outcome = next(self._outcomes, None)
                self.seconds["parse"] += time.perf_counter() - t
                if outcome is None:
                    break
                n = self.size(outcome)
                with self._cond:
                    t = time.perf_counter()
                    while self._held and self._held + n > self.max_items and not self._stopped:
                        self._blocked = True
                        self._cond.notify_all()  # the consumer should embed what it holds
                        self._cond.wait()
                    self._blocked = False
                    self.seconds["queue_full"] += time.perf_counter() - t
                    if self._stopped:
                        break
                    self._queue.append(outcome)
                    self._held += n
                    self._cond.notify_all()
        except BaseException as exc:  # handed to the consumer, which raises it
            self._error = exc
        finally:
            close = getattr(self._outcomes, "close", None)
            if close is not None:  # a generator over a process pool shuts the pool down
                close()
            with self._cond:
                self._finished = True
                self._cond.notify_all()

    def next(self) -> Fed | None:
        """The next parsed outcome, waiting for one; None when there is none now and none will come
        until the consumer releases items (the parser waits for room), or the stream has ended
        (:attr:`finished`). Raises what the parse stream raised."""
        with self._cond:
            while not self._queue and not self._finished and not self._blocked:
                self._cond.wait()
            if self._queue:
                return self._queue.popleft()
            if self._error is not None:
                raise self._error
            return None

    @property
    def finished(self) -> bool:
        """Every outcome has been taken and the stream has ended; raises what the stream raised."""
        with self._cond:
            if self._finished and not self._queue and self._error is not None:
                raise self._error
            return self._finished and not self._queue

    def release(self, n_items: int) -> None:
        """Give back the room of ``n_items`` items the consumer has stored or dropped."""
        if n_items <= 0:
            return
        with self._cond:
            self._held -= n_items
            self._blocked = False  # the parser re-checks the room (and says so if still short)
            self._cond.notify_all()

    def stop(self) -> None:
        """Make the parser stop at its next step (it may finish the file it is parsing first)."""
        with self._cond:
            self._stopped = True
            self._cond.notify_all()
