"""The OpenAI-compatible client's routing, retries and parsing, against in-process httpx transports.

The same client runs against a real vLLM server in ``test_openai_vllm.py``."""

from __future__ import annotations

import asyncio
import json
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest

from rag.backend_settings import OpenAIGenerateConfig
from rag.errors import GenerateError, MissingPartError
from rag.generate.base import Generator, build_generator
from rag.generate.openai import OpenAIChatGenerator, normalise_url
from rag.generate.prompting import abstain_sentence
from rag.testing.generator import GeneratorContract, collect_answer
from rag.testing.vllm_server import free_port
from tests.openai_http import OpenAIHTTPServer
from tests.rag.generate.evidence import ev

A, B = "http://a.test:8000/v1", "http://b.test:8000/v1"
Handler = Callable[[httpx.Request], httpx.Response]


def completion(text: str, prompt_tokens: int = 10) -> httpx.Response:
    return httpx.Response(200, json={
        "id": "x", "model": "tiny", "object": "chat.completion",
        "choices": [{"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": "stop"}],
        "usage": {"prompt_tokens": prompt_tokens, "completion_tokens": 3, "total_tokens": prompt_tokens + 3},
    })


class Recorder:
    """Routes requests by host to handlers and records them."""

    def __init__(self, **routes: Handler) -> None:
        self.routes = routes
        self.calls: list[tuple[str, dict[str, Any]]] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        host = request.url.host.split(".")[0]
        self.calls.append((host, json.loads(request.content or b"{}")))
        return self.routes[host](request)

    def hosts(self) -> list[str]:
        return [h for h, _ in self.calls]


def sse(pieces: list[str]) -> httpx.Response:
    """A streamed chat completion of ``pieces`` as server-sent events."""
    events = [{"choices": [{"delta": {"role": "assistant"}}]}] + [
        {"choices": [{"delta": {"content": piece}}]} for piece in pieces]
    body = "".join(f"data: {json.dumps(e)}\n\n" for e in events) + "data: [DONE]\n\n"
    return httpx.Response(200, text=body, headers={"content-type": "text/event-stream"})


def refuse(request: httpx.Request) -> httpx.Response:
    raise httpx.ConnectError("connection refused", request=request)


def gen(recorder: Recorder, urls: list[str], **cfg: Any) -> OpenAIChatGenerator:
    return OpenAIChatGenerator(OpenAIGenerateConfig(urls=urls, **cfg), model="tiny",
                               backoff_s=0, transport=httpx.MockTransport(recorder))


class TestOpenAIGeneratorContract(GeneratorContract):
    """The Generator contract against a real local HTTP server speaking the OpenAI schema."""

    @pytest.fixture
    def generator(self) -> Iterator[Generator]:
        with OpenAIHTTPServer(stream_pieces=["4,200 turbines ", "[1]."]) as server:
            g = OpenAIChatGenerator(OpenAIGenerateConfig(urls=[server.url]), model="tiny")
            yield g
            g.close()


def test_dead_endpoint_fails_over_and_stays_marked_down() -> None:
    rec = Recorder(a=refuse, b=lambda r: completion("fine [1]"))
    g = gen(rec, [A, B])

    async def two() -> list[str]:
        return [(await g.acomplete([{"role": "user", "content": "hi"}])).url for _ in range(2)]

    assert asyncio.run(two()) == [B, B]
    assert rec.hosts() == ["a", "b", "b"]  # a tried once, then skipped while down


def test_server_errors_fail_over_and_client_errors_do_not() -> None:
    rec = Recorder(a=lambda r: httpx.Response(503, json={"error": {"message": "busy"}}),
                   b=lambda r: completion("ok"))
    assert asyncio.run(gen(rec, [A, B]).acomplete([])).text == "ok"
    rec = Recorder(a=lambda r: httpx.Response(400, json={"error": {"message": "too many images"}}),
                   b=lambda r: completion("ok"))
    with pytest.raises(GenerateError, match="too many images"):
        asyncio.run(gen(rec, [A, B]).acomplete([]))
    assert rec.hosts() == ["a"]


def test_round_robin_over_healthy_endpoints() -> None:
    rec = Recorder(a=lambda r: completion("a"), b=lambda r: completion("b"))
    g = gen(rec, [A, B])

    async def four() -> list[str]:
        return [(await g.acomplete([])).text for _ in range(4)]

    assert asyncio.run(four()) == ["a", "b", "a", "b"]


def test_retries_rounds_then_fails_with_the_last_error() -> None:
    rec = Recorder(a=refuse, b=lambda r: httpx.Response(502, text="bad gateway"))
    with pytest.raises(GenerateError, match="no generator endpoint answered after 3 rounds"):
        asyncio.run(gen(rec, [A, B], retries=2).acomplete([]))
    assert len(rec.calls) == 6


def test_request_carries_model_sampling_and_image_parts(tmp_path: Any) -> None:
    from tests.rag.generate.evidence import image

    rec = Recorder(a=lambda r: sse(["It is red [1]. ", "And [5]."]))
    g = gen(rec, [A], max_tokens=33, temperature=0.2)
    evidence = [ev(1, "a red square", kind="figure", image_path=image(tmp_path / "r.png", (64, 64)))]
    ans = collect_answer(g, "What colour?", evidence)
    body = rec.calls[0][1]
    assert (body["model"], body["max_tokens"], body["temperature"]) == ("tiny", 33, 0.2)
    parts = body["messages"][1]["content"]
    assert any(p["type"] == "image_url" and p["image_url"]["url"].startswith("data:image/png;base64,")
               for p in parts)
    assert ans.text == "It is red [1]. And." and ans.dropped_citations == [5]
    assert [c.id for c in ans.citations] == ["e1"]


def test_stream_parses_server_sent_events() -> None:
    rec = Recorder(a=refuse, b=lambda r: sse(["The ", "answer ", "[1]."]))
    g = gen(rec, [A, B])

    async def collect() -> list[str]:
        return [d async for d in g.astream("q", [ev(1, "x")])]

    assert asyncio.run(collect()) == ["The ", "answer ", "[1]."]
    assert rec.calls[-1][1]["stream"] is True


def test_no_evidence_abstains_without_a_request() -> None:
    rec = Recorder(a=lambda r: completion("made up"))
    assert collect_answer(gen(rec, [A]), "q", []).text == abstain_sentence()
    assert rec.calls == []


def test_no_evidence_streams_the_abstention_in_the_questions_language() -> None:
    rec = Recorder(a=lambda r: completion("made up"))

    async def streamed() -> str:
        return "".join([d async for d in gen(rec, [A]).astream("영업이익은 얼마인가요?", [])])

    assert asyncio.run(streamed()) == "문서에서 이 질문에 대한 답을 찾을 수 없습니다."
    assert rec.calls == []


def test_works_across_event_loops_like_the_sync_wrappers() -> None:
    rec = Recorder(a=lambda r: completion("ok"))
    g = gen(rec, [A])
    assert asyncio.run(g.achat([{"role": "user", "content": "q"}])) == "ok"
    assert asyncio.run(g.achat([{"role": "user", "content": "q"}])) == "ok"
    asyncio.run(g.aclose())


def test_unreachable_server_is_a_missing_part_in_one_sentence() -> None:
    url = f"http://127.0.0.1:{free_port()}/v1"
    with pytest.raises(MissingPartError, match=r"no OpenAI-compatible server at .*vllm serve") as info:
        build_generator(OpenAIGenerateConfig(urls=[url]))
    assert url in str(info.value)
    with pytest.raises(MissingPartError, match=r"generate\.urls is empty"):
        build_generator(OpenAIGenerateConfig())


def test_urls_are_normalised() -> None:
    assert normalise_url("http://h:8000") == "http://h:8000/v1"
    assert normalise_url("http://h:8000/v1/") == "http://h:8000/v1"
    with pytest.raises(MissingPartError):
        normalise_url("h:8000")


# -- one client for the generator's life, against a real HTTP server ------------------------------------


def _wait_until(check: Callable[[], bool], timeout_s: float = 5.0) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(0.02)
    return check()


def test_one_client_serves_calls_from_many_threads_and_loops_and_close_closes_it() -> None:
    """Sync wrappers, other threads and other event loops all share one HTTP client (one kept-alive
    connection for calls one after another); close() closes it, which the server sees."""
    with OpenAIHTTPServer(reply="fine") as server:
        g = OpenAIChatGenerator(OpenAIGenerateConfig(urls=[server.url]), model="tiny")
        texts: list[str] = []

        async def two_calls() -> None:
            for _ in range(2):
                texts.append((await g.acomplete([{"role": "user", "content": "hi"}])).text)

        for _ in range(4):  # each thread runs its own event loop, one after another
            t = threading.Thread(target=asyncio.run, args=(two_calls(),))
            t.start()
            t.join(30)
            assert not t.is_alive()
        assert texts == ["fine"] * 8
        assert len(server.opened) == 1, f"{len(server.opened)} connections for 8 calls in a row"
        assert len(server.requests) == 8
        assert g.clients_made == 1

        g.close()
        assert _wait_until(lambda: not server.open_connections()), "close() left the connection open"
        # A closed generator can be used again: a new client, a new connection.
        assert asyncio.run(g.achat([{"role": "user", "content": "q"}])) == "fine"
        assert g.clients_made == 2
        asyncio.run(g.aclose())
        assert _wait_until(lambda: not server.open_connections())


def test_concurrent_calls_from_threads_share_the_client_and_its_in_flight_gate() -> None:
    with OpenAIHTTPServer(reply="fine") as server:
        g = OpenAIChatGenerator(OpenAIGenerateConfig(urls=[server.url]), model="tiny",
                                max_in_flight=2)
        results: list[str] = []

        def call() -> None:
            results.append(asyncio.run(g.achat([{"role": "user", "content": "q"}])))

        threads = [threading.Thread(target=call) for _ in range(6)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(30)
        assert not any(t.is_alive() for t in threads)
        assert results == ["fine"] * 6
        assert len(server.opened) <= 2, f"{len(server.opened)} connections for 2 requests in flight"
        assert g.clients_made == 1
        g.close()
        assert _wait_until(lambda: not server.open_connections())


def test_stream_delivers_each_delta_while_the_server_is_still_writing() -> None:
    """The server holds the rest of the reply until the caller has seen the first delta: a client
    that collected before yielding would wait forever (here: fail after 10 s)."""
    seen_first = threading.Event()

    def hold(i: int) -> None:
        assert seen_first.wait(10), "the first delta never reached the caller before the stream ended"

    with OpenAIHTTPServer(stream_pieces=["The ", "answer ", "[1]."], between_pieces=hold) as server:
        g = OpenAIChatGenerator(OpenAIGenerateConfig(urls=[server.url]), model="tiny")

        async def collect() -> list[str]:
            parts = []
            async for delta in g.astream("q", [ev(1, "x")]):
                parts.append(delta)
                seen_first.set()
            return parts

        assert asyncio.run(collect()) == ["The ", "answer ", "[1]."]
        asyncio.run(g.aclose())
