"""The official ``openai`` client talks to the server, plain and streaming; citations ride along."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.rag.server.conftest import ACME_KEY, KEYS, LiveServer

openai = pytest.importorskip("openai")

QUESTION = "What was ACME's revenue in Europe in 2025?"


@pytest.fixture(scope="module")
def server(serve: Callable[..., AbstractContextManager[LiveServer]]) -> Iterator[LiveServer]:
    with serve(api_keys=KEYS) as srv:
        yield srv


@pytest.fixture(scope="module")
def client(server: LiveServer) -> Any:
    return openai.OpenAI(base_url=f"{server.url}/v1", api_key=ACME_KEY, max_retries=0, timeout=60)


def test_models_lists_mmrag(client: Any) -> None:
    assert [m.id for m in client.models.list()] == ["mmrag"]


def test_chat_plain_answers_with_citations(client: Any, sample_dir: Path) -> None:
    resp = client.chat.completions.create(model="mmrag", messages=[{"role": "user", "content": QUESTION}])
    assert resp.object == "chat.completion"
    assert resp.choices[0].message.role == "assistant"
    assert resp.choices[0].finish_reason == "stop"
    text = resp.choices[0].message.content
    assert "[1]" in text
    extra = resp.model_extra["mmrag"]
    assert extra["abstained"] is False
    assert extra["support_issue"] is None  # the evidence check accepted the answer as it stands
    assert extra["citations"], extra
    assert {c["n"] for c in extra["citations"]} <= set(range(1, len(extra["evidence"]) + 1))
    assert all(Path(e["file"]).parent == sample_dir for e in extra["evidence"])
    assert set(extra["seconds"]) >= {"retrieve", "generate"}


def test_chat_stream_yields_chunks_then_mmrag(client: Any) -> None:
    stream = client.chat.completions.create(model="mmrag", stream=True,
                                            messages=[{"role": "user", "content": QUESTION}])
    chunks = list(stream)
    assert all(c.object == "chat.completion.chunk" for c in chunks)
    assert len({c.id for c in chunks}) == 1
    assert chunks[0].choices[0].delta.role == "assistant"
    streamed = "".join(c.choices[0].delta.content or "" for c in chunks)
    final = chunks[-1]
    assert final.choices[0].finish_reason == "stop"
    extra = final.model_extra["mmrag"]
    assert extra["citations"] and extra["evidence"]
    plain = client.chat.completions.create(model="mmrag", messages=[{"role": "user", "content": QUESTION}])
    assert streamed.strip() == plain.choices[0].message.content.strip()


def test_stream_wire_format_ends_with_done(server: LiveServer) -> None:
    body = {"model": "mmrag", "stream": True, "messages": [{"role": "user", "content": QUESTION}]}
    with httpx.stream("POST", f"{server.url}/v1/chat/completions", json=body, timeout=60,
                      headers={"Authorization": f"Bearer {ACME_KEY}"}) as resp:
        assert resp.status_code == 200
        assert resp.headers["content-type"].startswith("text/event-stream")
        events = [line for line in resp.iter_lines() if line]
    assert all(e.startswith("data: ") for e in events)
    assert events[-1] == "data: [DONE]"
    assert '"mmrag"' in events[-2]


def test_history_and_multipart_content_are_accepted(client: Any) -> None:
    resp = client.chat.completions.create(model="mmrag", messages=[
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "Tell me about ACME."},
        {"role": "assistant", "content": "ACME is a company in the sample report."},
        {"role": "user", "content": [{"type": "text", "text": QUESTION}]},
    ])
    assert resp.model_extra["mmrag"]["evidence"]


def test_follow_up_uses_the_conversation(client: Any) -> None:
    resp = client.chat.completions.create(model="mmrag", messages=[
        {"role": "user", "content": "What is the operating temperature range of the XK-4471-B controller?"},
        {"role": "assistant", "content": "From minus 20 to plus 60 degrees Celsius [1]."},
        {"role": "user", "content": "And what does it weigh?"},
    ])
    extra = resp.model_extra["mmrag"]
    assert any(e["file"].endswith("xk-4471-b_product_sheet.pdf") for e in extra["evidence"]), extra["evidence"]


def test_filters_travel_in_extra_body(client: Any, sample_dir: Path) -> None:
    resp = client.chat.completions.create(
        model="mmrag", messages=[{"role": "user", "content": QUESTION}],
        extra_body={"mmrag": {"kinds": ["table"]}})
    assert {e["kind"] for e in resp.model_extra["mmrag"]["evidence"]} <= {"table"}


def test_unknown_model_is_404_through_the_client(client: Any) -> None:
    with pytest.raises(openai.NotFoundError, match="does not exist"):
        client.chat.completions.create(model="gpt-4o", messages=[{"role": "user", "content": QUESTION}])


def test_wrong_key_is_401_through_the_client(server: LiveServer) -> None:
    bad = openai.OpenAI(base_url=f"{server.url}/v1", api_key="nope", max_retries=0)
    with pytest.raises(openai.AuthenticationError, match="invalid API key"):
        bad.models.list()


def test_search_endpoint(server: LiveServer, sample_dir: Path) -> None:
    resp = httpx.post(f"{server.url}/v1/search", json={"query": "revenue by region", "k": 3},
                      headers={"Authorization": f"Bearer {ACME_KEY}"}, timeout=60)
    assert resp.status_code == 200, resp.text
    evidence = resp.json()["evidence"]
    assert 1 <= len(evidence) <= 3
    assert {"file", "page", "kind", "score", "text"} <= set(evidence[0])

    def search(**flt: Any) -> list[dict[str, Any]]:
        resp = httpx.post(f"{server.url}/v1/search", json={"query": "revenue by region", "k": 3, **flt},
                          headers={"Authorization": f"Bearer {ACME_KEY}"}, timeout=60)
        assert resp.status_code == 200, resp.text
        return list(resp.json()["evidence"])

    # date ranges and file globs reach the store (the sample files were written just now)
    assert search(modified={"since": "2001-01-01"})
    assert search(modified={"until": "2001-01-01"}) == []
    assert search(file_globs=["*/no-such-file.pdf"]) == []


def test_health_and_metrics(server: LiveServer, client: Any) -> None:
    client.models.list()
    client.chat.completions.create(model="mmrag", messages=[{"role": "user", "content": QUESTION}])
    health = httpx.get(f"{server.url}/health").json()
    assert health["status"] == "ok" and health["auth"] is True
    text = httpx.get(f"{server.url}/metrics").text
    assert 'mmrag_http_requests_total{method="GET",route="/v1/models",status="200"}' in text
    assert 'mmrag_http_request_duration_seconds_bucket{route="/v1/chat/completions",le="+Inf"}' in text
    assert 'mmrag_stage_duration_seconds_count{stage="retrieve"}' in text
