"""The OpenAI-compatible generator against a REAL vLLM CPU server serving a tiny random LLaVA-NeXT.

The tiny model's words are noise: these tests check what was sent (images as data URLs, which the
server really turned into image tokens), that replies become :class:`Answer` objects, streaming,
the budget and failover to a live endpoint."""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from rag.backend_settings import OpenAIGenerateConfig
from rag.generate.base import build_generator
from rag.generate.chat import ChatTurn, acondense
from rag.generate.citations import build_answer
from rag.generate.openai import OpenAIChatGenerator
from rag.generate.prompting import build_messages
from rag.records import Answer
from rag.testing.generator import acollect_answer
from rag.testing.vllm_server import VllmServer, free_port
from tests.rag.generate.evidence import ev, image

pytestmark = [pytest.mark.slow, pytest.mark.vllm]


class RecordingTransport(httpx.AsyncBaseTransport):
    """Passes requests to the network and keeps their JSON bodies."""

    def __init__(self) -> None:
        self.inner = httpx.AsyncHTTPTransport()
        self.bodies: list[tuple[str, dict[str, Any]]] = []

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        self.bodies.append((str(request.url), json.loads(request.content or b"{}")))
        return await self.inner.handle_async_request(request)

    async def aclose(self) -> None:
        await self.inner.aclose()


def _cfg(server: VllmServer, **kw: Any) -> OpenAIGenerateConfig:
    base: dict[str, Any] = {"urls": [server.url], "max_tokens": 16, "max_images": 1,
                            "image_side": 224, "context_tokens": 1500, "tokens_per_image": 300}
    base.update(kw)
    return OpenAIGenerateConfig(**base)


def _generator(server: VllmServer, **kw: Any) -> tuple[OpenAIChatGenerator, RecordingTransport]:
    rec = RecordingTransport()
    gen = OpenAIChatGenerator.from_config(_cfg(server, **kw), transport=rec)
    return gen, rec


def test_model_is_discovered_from_the_server(vllm_chat_server: VllmServer) -> None:
    gen = build_generator(_cfg(vllm_chat_server))
    assert isinstance(gen, OpenAIChatGenerator)
    assert gen.model == "tiny"


def test_image_goes_as_data_url_and_the_server_reads_it(vllm_chat_server: VllmServer, tmp_path: Path) -> None:
    gen, rec = _generator(vllm_chat_server)
    picture = image(tmp_path / "chart.png", (400, 300), "PNG", color="blue")
    with_image = [ev(1, "a blue chart", kind="figure", image_path=picture)]
    text_only = [ev(1, "a blue chart", kind="figure")]

    async def run() -> tuple[Any, Any, Answer]:
        plain = await gen.acomplete((await gen.prepare("What colour?", text_only)).messages)
        pictured = await gen.acomplete((await gen.prepare("What colour?", with_image)).messages)
        answer = await acollect_answer(gen, "What colour?", with_image)
        await gen.aclose()
        return plain, pictured, answer

    plain, pictured, answer = asyncio.run(run())
    sent = rec.bodies[1][1]["messages"][1]["content"]
    urls = [p["image_url"]["url"] for p in sent if p["type"] == "image_url"]
    assert len(urls) == 1 and urls[0].startswith("data:image/png;base64,")
    # The server expanded the image into image tokens: the prompt grew by far more than the text did.
    grown = pictured.usage["prompt_tokens"] - plain.usage["prompt_tokens"]
    assert grown > 50, (plain.usage, pictured.usage)
    assert pictured.usage["completion_tokens"] >= 1
    assert isinstance(answer, Answer) and answer.evidence[0].id == "e1"
    assert all(c.id == "e1" for c in answer.citations)


def test_stream_yields_deltas_that_make_the_full_text(vllm_chat_server: VllmServer) -> None:
    gen, rec = _generator(vllm_chat_server, max_tokens=24)
    evidence = [ev(1, "The plant produced 4,200 turbines in 2025."), ev(2, "Margins rose to 9 percent.")]

    async def run() -> tuple[list[str], str]:
        deltas = [d async for d in gen.astream("How many turbines?", evidence)]
        whole = (await gen.acomplete((await gen.prepare("How many turbines?", evidence)).messages)).text
        await gen.aclose()
        return deltas, whole

    deltas, whole = asyncio.run(run())
    assert len(deltas) >= 3
    assert "".join(deltas) == whole  # temperature 0: the same tokens either way
    assert rec.bodies[0][1]["stream"] is True
    answer = build_answer("How many turbines?", "".join(deltas), evidence)
    assert {c.n for c in answer.citations} <= {1, 2}


def test_budget_drops_evidence_the_server_never_sees(vllm_chat_server: VllmServer, tmp_path: Path) -> None:
    evidence = [ev(i, f"Fact number {i}: " + "the report lists growth. " * 20) for i in range(1, 7)]
    cfg = _cfg(vllm_chat_server, context_tokens=900)
    build = build_messages("What grew?", evidence, cfg)
    assert 1 <= len(build.evidence) < len(evidence)
    assert [e.id for e in build.dropped] == [e.id for e in evidence[len(build.evidence):]]
    gen, rec = _generator(vllm_chat_server, context_tokens=900)

    async def run() -> Answer:
        answer = await acollect_answer(gen, "What grew?", evidence)
        await gen.aclose()
        return answer

    answer = asyncio.run(run())
    user = "".join(p["text"] for p in rec.bodies[-1][1]["messages"][1]["content"] if p["type"] == "text")
    assert user.count("<document ") == len(build.evidence)
    assert f"Fact number {len(build.evidence) + 1}:" not in user
    assert [e.id for e in answer.evidence] == [e.id for e in build.evidence]


def test_dead_endpoint_first_fails_over_to_the_live_one(vllm_chat_server: VllmServer) -> None:
    dead = f"http://127.0.0.1:{free_port()}/v1"
    cfg = _cfg(vllm_chat_server, urls=[dead, vllm_chat_server.url])
    gen = OpenAIChatGenerator(cfg, model="tiny", backoff_s=0)  # not pre-checked: the dead one is tried

    async def run() -> list[str]:
        urls = [(await gen.acomplete([{"role": "user", "content": "hello"}])).url for _ in range(3)]
        await gen.aclose()
        return urls

    assert asyncio.run(run()) == [vllm_chat_server.url] * 3
    assert gen.endpoints[0].failures == 1  # marked down once, then skipped
    started = OpenAIChatGenerator.from_config(cfg)  # start-up check marks it down at once
    assert not started.endpoints[0].is_up(time.monotonic())


def test_condense_through_the_real_model(vllm_chat_server: VllmServer) -> None:
    gen, rec = _generator(vllm_chat_server)
    history = [ChatTurn(role="user", content="What was the Oslo output in 2025?"),
               ChatTurn(role="assistant", content="4,200 turbines [1].")]

    async def run() -> str:
        out = await acondense(history, "And in 2024?", gen)
        await gen.aclose()
        return out

    out = asyncio.run(run())
    assert out.strip()
    assert "Last question: And in 2024?" in rec.bodies[0][1]["messages"][0]["content"]
