"""The server relays a REAL model's stream: the shared pipeline's embedder and store, with the
OpenAI-compatible generator pointed at a vLLM CPU server serving a tiny random LLaVA-NeXT (its words
are noise; what is checked is the wire: chunks as they come, then citations and evidence)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from rag.aio import run_sync
from rag.backend_settings import OpenAIGenerateConfig
from rag.config import ServerConfig
from rag.generate.base import build_generator
from rag.pipeline import Pipeline
from rag.testing.vllm_server import VllmServer
from tests.rag.server.conftest import ACME_KEY, KEYS, LiveServer

openai = pytest.importorskip("openai")

pytestmark = [pytest.mark.slow, pytest.mark.vllm]

QUESTION = "What was ACME's revenue in Europe in 2025?"


@pytest.fixture(scope="module")
def server(pipeline: Pipeline, vllm_chat_server: VllmServer) -> Iterator[LiveServer]:
    cfg = OpenAIGenerateConfig(urls=[vllm_chat_server.url], max_tokens=24, max_images=0,
                               image_side=224, context_tokens=900, tokens_per_image=300)
    generator = build_generator(cfg)
    settings = pipeline.settings.model_copy(update={"generate": cfg})
    llm_pipe = Pipeline(settings, pipeline.embedder, pipeline.store, generator)  # shares the loaded parts
    srv = LiveServer(llm_pipe, ServerConfig(api_keys=KEYS))  # acme's key: other modules add tenants
    srv.start()
    yield srv
    srv.stop()
    run_sync(generator.aclose())


@pytest.fixture(scope="module")
def client(server: LiveServer) -> Any:
    return openai.OpenAI(base_url=f"{server.url}/v1", api_key=ACME_KEY, max_retries=0, timeout=120)


def test_stream_relays_the_models_deltas(client: Any, sample_dir: Path) -> None:
    chunks = list(client.chat.completions.create(model="mmrag", stream=True,
                                                 messages=[{"role": "user", "content": QUESTION}]))
    deltas = [c.choices[0].delta.content for c in chunks[1:-1] if c.choices[0].delta.content]
    assert len(deltas) >= 2, "the model's tokens arrive as separate chunks"
    extra = chunks[-1].model_extra["mmrag"]
    assert chunks[-1].choices[0].finish_reason == "stop"
    assert extra["evidence"] and all(Path(e["file"]).parent == sample_dir for e in extra["evidence"])
    assert set(extra["seconds"]) >= {"retrieve", "generate"}


def test_plain_completion_through_the_model(client: Any) -> None:
    resp = client.chat.completions.create(model="mmrag", messages=[{"role": "user", "content": QUESTION}])
    assert resp.choices[0].message.content
    assert resp.model_extra["mmrag"]["evidence"]
