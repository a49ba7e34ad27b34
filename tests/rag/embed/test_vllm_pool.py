"""E5-V on a vLLM pooling server: HTTP behaviour against a fake transport, and parity with the
transformers runner against a real vLLM CPU server serving the tiny LLaVA-NeXT."""

from __future__ import annotations

import asyncio
import json
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import numpy as np
import pytest
from PIL import Image

from rag.backend_settings import VllmEmbedConfig
from rag.embed import vllm_pool
from rag.embed.base import Embedder, build_embedder
from rag.embed.e5v import E5VEmbedder, text_prompt
from rag.embed.vllm_pool import VllmPoolingEmbedder
from rag.errors import ConfigError, EmbedError, MissingPartError
from rag.testing.vllm_server import VllmServer, free_port
from tests.openai_http import OpenAIHTTPServer
from tests.rag.embed.samples import TEXTS, cfg_for, sample_images

# -- HTTP behaviour, no server ------------------------------------------------------------------------


def fake_embedder(handler: httpx.MockTransport, **kwargs: object) -> VllmPoolingEmbedder:
    values: dict[str, object] = {"served_model": "tiny", "model_name": "m", "dim": 2, "max_batch": 2}
    values.update(kwargs)
    return VllmPoolingEmbedder("http://fake/v1", transport=handler, **values)  # type: ignore[arg-type]


def ok(body: dict[str, object]) -> httpx.Response:
    n = len(body["input"]) if "input" in body else 1  # type: ignore[arg-type]
    # Reversed on purpose: the client must order rows by "index".
    data = [{"index": i, "embedding": [3.0, 4.0 + i]} for i in reversed(range(n))]
    return httpx.Response(200, json={"data": data})


def test_no_server_is_a_missing_part_with_the_start_command() -> None:
    url = f"http://127.0.0.1:{free_port()}/v1"
    with pytest.raises(MissingPartError) as info:
        VllmPoolingEmbedder.from_config(VllmEmbedConfig(url=url, model="royokong/e5-v"))
    message = str(info.value)
    assert message.startswith(f"no vLLM server at {url}: start one with `python -m vllm.entrypoints")
    assert "--runner pooling" in message and "--chat-template prompts/e5v_embed.jinja" in message
    assert "\n" not in message


def test_empty_url_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match=r"embed\.url is empty"):
        build_embedder(VllmEmbedConfig())


def test_texts_are_chunked_ordered_and_normalised() -> None:
    seen: list[dict[str, object]] = []

    def handle(request: httpx.Request) -> httpx.Response:
        body = json.loads(request.content)
        seen.append(body)
        return ok(body)

    vecs = fake_embedder(httpx.MockTransport(handle)).embed_texts(["a", "b", "c"])
    assert [len(b["input"]) for b in seen] == [2, 1]  # type: ignore[arg-type]
    assert seen[0]["input"] == [text_prompt("a"), text_prompt("b")]
    assert seen[0]["model"] == "tiny"
    np.testing.assert_allclose(vecs[0], [0.6, 0.8])  # row 0 of the first chunk, normalised
    np.testing.assert_allclose(np.linalg.norm(vecs, axis=1), 1.0, atol=1e-6)


def test_images_go_as_messages_with_a_png_data_url() -> None:
    seen: list[dict[str, object]] = []

    def handle(request: httpx.Request) -> httpx.Response:
        body = json.loads(request.content)
        seen.append(body)
        return ok(body)

    vecs = fake_embedder(httpx.MockTransport(handle), image_side=32).embed_images(sample_images()[:2])
    assert vecs.shape == (2, 2)
    content = seen[0]["messages"][0]["content"]  # type: ignore[index]
    assert content[0]["image_url"]["url"].startswith("data:image/png;base64,")
    assert content[1] == {"type": "text", "text": vllm_pool.image_prompt()}


def test_server_errors_are_retried_with_backoff(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(vllm_pool, "BACKOFF_S", 0.001)
    calls = {"n": 0}

    def handle(request: httpx.Request) -> httpx.Response:
        calls["n"] += 1
        if calls["n"] == 1:
            raise httpx.ReadTimeout("slow", request=request)
        if calls["n"] == 2:
            return httpx.Response(503, text="busy")
        return ok(json.loads(request.content))

    assert fake_embedder(httpx.MockTransport(handle)).embed_texts(["a"]).shape == (1, 2)
    assert calls["n"] == 3


def test_client_errors_fail_at_once_with_the_servers_reason(monkeypatch: pytest.MonkeyPatch) -> None:
    calls = {"n": 0}

    def handle(request: httpx.Request) -> httpx.Response:
        calls["n"] += 1
        return httpx.Response(400, json={"error": {"message": "prompt too long"}})

    with pytest.raises(EmbedError, match="prompt too long"):
        fake_embedder(httpx.MockTransport(handle)).embed_texts(["a"])
    assert calls["n"] == 1


def test_gives_up_after_max_attempts(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(vllm_pool, "BACKOFF_S", 0.001)

    def handle(request: httpx.Request) -> httpx.Response:
        return httpx.Response(500, text="boom")

    with pytest.raises(EmbedError, match=f"failed {vllm_pool.MAX_ATTEMPTS} times"):
        fake_embedder(httpx.MockTransport(handle)).embed_texts(["a"])


def test_in_flight_requests_are_bounded() -> None:
    state = {"now": 0, "peak": 0}

    async def handle(request: httpx.Request) -> httpx.Response:
        state["now"] += 1
        state["peak"] = max(state["peak"], state["now"])
        await asyncio.sleep(0.01)
        state["now"] -= 1
        return ok(json.loads(request.content))

    embedder = fake_embedder(httpx.MockTransport(handle), max_in_flight=2, max_batch=1)
    assert embedder.embed_texts([str(i) for i in range(8)]).shape == (8, 2)
    assert state["peak"] == 2


def test_sync_api_works_inside_a_running_event_loop() -> None:
    embedder = fake_embedder(httpx.MockTransport(lambda r: ok(json.loads(r.content))))

    async def main() -> np.ndarray:
        return embedder.embed_texts(["a"])

    assert asyncio.run(main()).shape == (1, 2)


# -- a real vLLM CPU server ---------------------------------------------------------------------------

Runners = tuple[E5VEmbedder, VllmPoolingEmbedder]


@pytest.fixture(scope="module")
def runners(tiny_llava_dir: Path, vllm_embed_server: VllmServer) -> Iterator[Runners]:
    local = E5VEmbedder.from_config(cfg_for(tiny_llava_dir))
    remote = build_embedder(cfg_for(tiny_llava_dir, backend="vllm", url=vllm_embed_server.url))
    assert isinstance(remote, VllmPoolingEmbedder)
    yield local, remote


def cosines(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return np.sum(a * b, axis=1) / (np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1))


@pytest.mark.slow
@pytest.mark.vllm
def test_both_runners_name_the_same_space(runners: Runners) -> None:
    local, remote = runners
    assert isinstance(remote, Embedder)
    assert remote.id == local.id
    assert remote.dim == local.dim == 128


@pytest.mark.slow
@pytest.mark.vllm
def test_parity_with_transformers_on_texts(runners: Runners) -> None:
    local, remote = runners
    assert cosines(local.embed_texts(TEXTS), remote.embed_texts(TEXTS)).min() >= 0.999


@pytest.mark.slow
@pytest.mark.vllm
def test_parity_with_transformers_on_images(runners: Runners) -> None:
    local, remote = runners
    images = sample_images()
    assert cosines(local.embed_images(images), remote.embed_images(images)).min() >= 0.999


@pytest.mark.slow
@pytest.mark.vllm
def test_server_vectors_are_unit_and_batch_independent(runners: Runners) -> None:
    _, remote = runners
    batched = remote.embed_texts(TEXTS)
    single = np.concatenate([remote.embed_texts([t]) for t in TEXTS])
    np.testing.assert_allclose(batched, single, atol=1e-4)
    np.testing.assert_allclose(np.linalg.norm(batched, axis=1), 1.0, atol=1e-5)
    images = remote.embed_images([Image.new("RGB", (90, 60), (1, 2, 3))])
    assert images.shape == (1, remote.dim)


@pytest.mark.slow
@pytest.mark.vllm
def test_server_without_the_e5v_chat_template_is_refused(tiny_llava_dir: Path,
                                                         vllm_chat_server: VllmServer) -> None:
    """The chat server renders messages with the model's own (Llama-3 style) template."""
    with pytest.raises(ConfigError, match=r"--chat-template prompts/e5v_embed\.jinja"):
        build_embedder(cfg_for(tiny_llava_dir, backend="vllm", url=vllm_chat_server.url))


# -- one client for the embedder's life, against a real HTTP server -----------------------------------


def test_one_client_serves_sync_and_async_calls_from_many_threads_and_close_closes_it() -> None:
    """Ingest threads (sync), search threads and other event loops (async) share one HTTP client:
    calls one after another ride one kept-alive connection; close() closes it."""
    with OpenAIHTTPServer(dim=2) as server:
        embedder = VllmPoolingEmbedder(server.url, served_model="tiny", model_name="m", dim=2, max_batch=2)
        shapes: list[tuple[int, ...]] = []

        def work() -> None:
            shapes.append(embedder.embed_texts(["a", "b", "c"]).shape)  # two requests
            shapes.append(embedder.embed_queries(["q"]).shape)
            shapes.append(asyncio.run(embedder.aembed_texts(["d"])).shape)

        for _ in range(3):
            t = threading.Thread(target=work)
            t.start()
            t.join(30)
            assert not t.is_alive()
        assert shapes == [(3, 2), (1, 2), (1, 2)] * 3
        assert len(server.requests) == 12
        assert len(server.opened) <= 2, (
            f"{len(server.opened)} connections for 12 requests, at most 2 at a time")
        assert embedder.clients_made == 1
        embedder.close()
        deadline = time.monotonic() + 5
        while server.open_connections() and time.monotonic() < deadline:
            time.sleep(0.02)
        assert not server.open_connections(), "close() left connections open"
