"""One Pipeline used from many threads and event loops at once (CPU profile, small generated PDFs).

The sync methods run on the pipeline's own event loop; the async ones on the caller's. Every wait
here has a timeout, so a deadlock fails the test instead of hanging the run."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from rag.errors import MmragError
from rag.generate.openai import OpenAIChatGenerator
from rag.pipeline import Pipeline
from rag.records import Answer
from rag.testing.vllm_server import VllmServer
from tests.openai_http import OpenAIHTTPServer
from tests.pdfs import write_report

TIMEOUT_S = 240  # generous: 4 ingests run one after another on a busy 2-core machine

# One folder per thread: a fact only that thread's file states.
FACTS = {
    0: ("The Oslo plant produced 4,200 turbines in 2025.", "How many turbines did the Oslo plant produce?",
        "4,200"),
    1: ("Warranty claims fell to 1.3 percent of units shipped.", "What share of units had warranty claims?",
        "1.3 percent"),
    2: ("The replacement part number for the cooling pump is QZ-7781-K.",
        "Which part number replaces the cooling pump?", "QZ-7781-K"),
    3: ("Headcount grew to 812 employees across four countries.", "How many employees are there?", "812"),
}


@pytest.fixture
def pipe(tmp_path: Path) -> Iterator[Pipeline]:
    with Pipeline.from_config("cpu", {"store.path": str(tmp_path / "ix"), "ingest.ocr": "none"},
                              environ={}) as p:
        yield p


def wait_until(check: Callable[[], bool], timeout_s: float = 5.0) -> bool:
    deadline = time.monotonic() + timeout_s
    while not check() and time.monotonic() < deadline:
        time.sleep(0.02)
    return check()


def run_threads(targets: list[Callable[[], None]]) -> list[BaseException]:
    """Start all targets together, join each with a timeout; fail naming the threads still running."""
    barrier = threading.Barrier(len(targets))
    errors: list[BaseException] = []

    def wrap(fn: Callable[[], None]) -> Callable[[], None]:
        def run() -> None:
            try:
                barrier.wait(30)
                fn()
            except BaseException as exc:  # reported by the test, not lost in a thread
                errors.append(exc)
        return run

    # Daemon threads: a deadlocked one must not keep the test process alive.
    threads = [threading.Thread(target=wrap(fn), name=f"caller-{i}", daemon=True) for i, fn in enumerate(targets)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(TIMEOUT_S)
    stuck = [t.name for t in threads if t.is_alive()]
    assert not stuck, f"deadlock: {stuck} still running after {TIMEOUT_S} s"
    return errors


def test_four_threads_ingest_search_and_ask_on_one_pipeline(pipe: Pipeline, tmp_path: Path) -> None:
    """Two threads use the sync API, two run the async API on their own event loops; all ingest at
    the same moment (the ingest lock is contended), then search and ask."""
    folders = {i: write_report(tmp_path / f"docs{i}" / f"report{i}.pdf", {1: fact}).parent
               for i, (fact, _, _) in FACTS.items()}
    answers: dict[int, Answer] = {}
    ingested: dict[int, int] = {}
    top_files: dict[int, str] = {}

    def sync_caller(i: int) -> Callable[[], None]:
        def run() -> None:
            ingested[i] = pipe.ingest([folders[i]], progress=False).files_ingested
            top_files[i] = pipe.search(FACTS[i][1], k=3)[0].file
            answers[i] = pipe.ask(FACTS[i][1])
        return run

    def async_caller(i: int) -> Callable[[], None]:
        async def main() -> None:
            ingested[i] = (await pipe.aingest([folders[i]], progress=False)).files_ingested
            top_files[i] = (await pipe.asearch(FACTS[i][1], k=3))[0].file
            answers[i] = await pipe.aask(FACTS[i][1])

        return lambda: asyncio.run(main())

    errors = run_threads([sync_caller(0), sync_caller(1), async_caller(2), async_caller(3)])
    assert errors == []
    assert ingested == {0: 1, 1: 1, 2: 1, 3: 1}
    assert pipe.stats().files == 4
    # Searches may run before the other threads' files are in; each thread's own file is in by then.
    for i, (_, question, expected) in FACTS.items():
        assert Path(top_files[i]).name == f"report{i}.pdf", (question, top_files[i])
        assert expected in answers[i].text, (question, answers[i].text)


def test_searches_and_asks_from_many_threads_while_an_ingest_runs(pipe: Pipeline, tmp_path: Path) -> None:
    first = write_report(tmp_path / "a" / "ops.pdf", {1: FACTS[0][0]}).parent
    pipe.ingest([first], progress=False)
    later = write_report(tmp_path / "b" / "hr.pdf", {1: FACTS[3][0]}).parent
    texts: list[str] = []

    def ask() -> None:
        for _ in range(3):
            texts.append(pipe.ask(FACTS[0][1]).text)

    errors = run_threads([lambda: pipe.ingest([later], progress=False), ask, ask,
                          lambda: asyncio.run(pipe.aask(FACTS[0][1])) and None])
    assert errors == []
    assert len(texts) == 6 and all("4,200" in t for t in texts)
    assert pipe.stats().files == 2


def test_sync_stream_yields_each_delta_as_it_is_written(tmp_path: Path) -> None:
    """The generator's server holds the rest of the answer until the caller has the first delta:
    a sync stream that collected before yielding would time out."""
    seen_first = threading.Event()
    held: list[bool] = []  # per held piece: whether the caller had the first delta within 10 s
    with OpenAIHTTPServer(stream_pieces=["It made ", "4,200 ", "turbines [1]."],
                          between_pieces=lambda i: held.append(seen_first.wait(10))) as server:
        over = {"store.path": str(tmp_path / "ix"), "ingest.ocr": "none", "generate.backend": "openai",
                "generate.urls": [server.url], "generate.model": "tiny"}
        with Pipeline.from_config("cpu", over, environ={}) as p:
            p.ingest([write_report(tmp_path / "docs" / "ops.pdf", {1: FACTS[0][0]})], progress=False)
            parts: list[object] = []
            for part in p.stream(FACTS[0][1]):
                parts.append(part)
                seen_first.set()
            assert held == [True, True], "the first delta reached the caller only after the stream ended"
            assert parts[:3] == ["It made ", "4,200 ", "turbines [1]."]
            answer = parts[-1]
            assert isinstance(answer, Answer) and answer.text.startswith("It made 4,200 turbines")
            assert answer.citations and Path(answer.citations[0].file).name == "ops.pdf"
        # close() closed the generator's client: the server sees no open connection.
        assert wait_until(lambda: not server.open_connections())


def test_close_stops_the_loop_and_a_closed_pipeline_says_so(tmp_path: Path) -> None:
    def loop_threads() -> set[threading.Thread]:
        return {t for t in threading.enumerate() if t.name == "mmrag-pipeline"}

    before = loop_threads()
    p = Pipeline.from_config("cpu", {"store.path": str(tmp_path / "ix"), "ingest.ocr": "none"}, environ={})
    p.search("anything")
    p.search("anything else")
    (mine,) = loop_threads() - before  # one loop for every call
    p.close()
    p.close()  # idempotent
    assert not mine.is_alive()
    with pytest.raises(MmragError, match="closed"):
        p.search("anything")
    with pytest.raises(MmragError, match="closed"):
        next(p.stream("anything"))


@pytest.mark.slow
@pytest.mark.vllm
def test_threads_share_the_generators_client_on_a_real_vllm_server(vllm_chat_server: VllmServer,
                                                                     tmp_path: Path) -> None:
    """Four threads (two sync, two on their own loops) ask through the tiny LLaVA on a real vLLM CPU
    server; the sync stream yields deltas that make the answer; one HTTP client served them all."""
    over = {"store.path": str(tmp_path / "ix"), "ingest.ocr": "none", "generate.backend": "openai",
            "generate.urls": [vllm_chat_server.url], "generate.model": "tiny", "generate.max_tokens": 8}
    with Pipeline.from_config("cpu", over, environ={}) as p:
        p.ingest([write_report(tmp_path / "docs" / "ops.pdf", {1: FACTS[0][0]})], progress=False)
        answers: list[Answer] = []

        def sync_ask() -> None:
            answers.append(p.ask(FACTS[0][1]))

        def async_ask() -> None:
            answers.append(asyncio.run(p.aask(FACTS[0][1])))

        assert run_threads([sync_ask, sync_ask, async_ask, async_ask]) == []
        assert len(answers) == 4 and all(a.evidence for a in answers)
        parts = list(p.stream(FACTS[0][1]))
        answer = parts[-1]
        assert isinstance(answer, Answer) and all(isinstance(d, str) for d in parts[:-1])
        generator = p.generator
        assert isinstance(generator, OpenAIChatGenerator) and generator.clients_made == 1
