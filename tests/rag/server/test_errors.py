"""Malformed or refused requests get a 4xx/5xx with a JSON error that says what is wrong, never a
stack trace."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from typing import Any

import httpx
import pytest

from rag.errors import StoreError
from rag.pipeline import Pipeline
from tests.rag.server.conftest import ACME_KEY, KEYS, LiveServer

AUTH = {"Authorization": f"Bearer {ACME_KEY}"}
CHAT = "/v1/chat/completions"


@pytest.fixture(scope="module")
def server(serve: Callable[..., AbstractContextManager[LiveServer]]) -> Iterator[LiveServer]:
    with serve(api_keys=KEYS, max_request_mb=0.01) as srv:  # 10 KiB
        yield srv


def _post(server: LiveServer, path: str, body: Any, headers: dict[str, str] | None = None) -> httpx.Response:
    headers = AUTH if headers is None else headers
    return httpx.post(f"{server.url}{path}", json=body, headers=headers, timeout=60)


def _error(resp: httpx.Response, status: int) -> dict[str, Any]:
    assert resp.status_code == status, resp.text
    assert resp.headers["content-type"].startswith("application/json")
    assert "Traceback" not in resp.text and 'File "' not in resp.text
    err: dict[str, Any] = resp.json()["error"]
    assert err["code"] == status and err["message"]
    return err


def _msgs(content: Any = "hello", role: str = "user") -> dict[str, Any]:
    return {"model": "mmrag", "messages": [{"role": role, "content": content}]}


def test_invalid_json_is_400(server: LiveServer) -> None:
    resp = httpx.post(f"{server.url}{CHAT}", content=b'{"model": "mmrag", "messages": [', headers={
        **AUTH, "Content-Type": "application/json"})
    assert "not valid JSON" in _error(resp, 400)["message"]


@pytest.mark.parametrize(("body", "needle"), [
    ({"model": "mmrag"}, "messages: Field required"),
    ({"model": "mmrag", "messages": []}, "messages: List should have at least 1 item"),
    ({"model": "mmrag", "messages": [{"role": "wizard", "content": "hi"}]}, "messages.0.role"),
    ({"messages": [{"role": "user", "content": "hi"}]}, "model: Field required"),
    ({"model": "mmrag", "n": 2, "messages": [{"role": "user", "content": "hi"}]}, "n: "),
    ({"model": "mmrag", "messages": [{"role": "user", "content": "hi"}], "mmrag": {"tenant": "globex"}},
     "mmrag.tenant: Extra inputs are not permitted"),
    ([1, 2, 3], "Input should be a valid dictionary"),
])
def test_schema_violations_are_422_and_name_the_field(server: LiveServer, body: Any, needle: str) -> None:
    err = _error(_post(server, CHAT, body), 422)
    assert needle in err["message"]
    assert err["type"] == "invalid_request_error"


@pytest.mark.parametrize(("body", "needle"), [
    (_msgs(role="assistant"), "last message must have role 'user'"),
    (_msgs("   "), "last user message is empty"),
    (_msgs("why? " * 2001), "at most 10000 are accepted"),
    (_msgs([{"type": "image_url", "image_url": {"url": "data:image/png;base64,AA=="}}]),
     "images in the question"),
])
def test_bad_conversations_are_400(server: LiveServer, body: Any, needle: str) -> None:
    assert needle in _error(_post(server, CHAT, body), 400)["message"]


def test_search_validation(server: LiveServer) -> None:
    assert "query is blank" in _error(_post(server, "/v1/search", {"query": "  "}), 422)["message"]
    assert "k: " in _error(_post(server, "/v1/search", {"query": "x", "k": 0}), 422)["message"]
    bad_kind = _post(server, "/v1/search", {"query": "x", "kinds": ["video"]})
    assert "kinds.0" in _error(bad_kind, 422)["message"]


@pytest.mark.parametrize(("headers", "needle"), [
    ({}, "missing API key"),
    ({"Authorization": "Basic abc"}, "malformed Authorization"),
    ({"Authorization": "Bearer wrong-key"}, "invalid API key"),
])
def test_auth_failures_are_401(server: LiveServer, headers: dict[str, str], needle: str) -> None:
    resp = _post(server, "/v1/search", {"query": "revenue"}, headers=headers)
    assert needle in _error(resp, 401)["message"]
    assert resp.headers["www-authenticate"] == "Bearer"


def test_health_and_metrics_need_no_key(server: LiveServer) -> None:
    assert httpx.get(f"{server.url}/health").status_code == 200
    assert httpx.get(f"{server.url}/metrics").status_code == 200


def test_oversized_body_is_413(server: LiveServer) -> None:
    err = _error(_post(server, CHAT, _msgs("x" * 20_000)), 413)
    assert "max_request_mb" in err["message"] and err["type"] == "request_too_large"


def test_oversized_chunked_body_is_413(server: LiveServer) -> None:
    payload = json.dumps(_msgs("x" * 20_000)).encode()

    def chunks() -> Iterator[bytes]:  # no Content-Length: the limit must hold while reading
        for i in range(0, len(payload), 1024):
            yield payload[i:i + 1024]

    headers = {**AUTH, "Content-Type": "application/json"}
    resp = httpx.post(f"{server.url}{CHAT}", content=chunks(), headers=headers)
    _error(resp, 413)


def test_unknown_routes_methods_and_jobs(server: LiveServer) -> None:
    assert _error(httpx.get(f"{server.url}/v1/nope", headers=AUTH), 404)["type"] == "not_found_error"
    _error(httpx.get(f"{server.url}{CHAT}", headers=AUTH), 405)
    assert "no job" in _error(httpx.get(f"{server.url}/v1/jobs/abc", headers=AUTH), 404)["message"]
    resp = httpx.request("DELETE", f"{server.url}/v1/documents", json={"paths": ["/nowhere.pdf"]},
                         headers=AUTH)
    assert "no ingested documents" in _error(resp, 404)["message"]


def test_backend_failure_is_503(server: LiveServer, pipeline: Pipeline,
                                monkeypatch: pytest.MonkeyPatch) -> None:
    def down(*args: object) -> None:
        raise StoreError("Qdrant at http://10.0.0.9:6333 is unreachable")

    monkeypatch.setattr(pipeline.retriever, "search", down)
    err = _error(_post(server, CHAT, _msgs("revenue?")), 503)
    assert "unreachable" in err["message"] and err["type"] == "unavailable_error"
    _error(_post(server, CHAT, {**_msgs("revenue?"), "stream": True}), 503)


def test_unexpected_failure_is_500_without_a_trace(server: LiveServer, pipeline: Pipeline,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    def boom(*args: object) -> None:
        raise RuntimeError("secret internals /home/x/.cache")

    monkeypatch.setattr(pipeline.retriever, "search", boom)
    resp = _post(server, "/v1/search", {"query": "revenue"})
    err = _error(resp, 500)
    assert "secret internals" not in resp.text and "server log" in err["message"]


def test_failure_mid_stream_is_an_error_event(server: LiveServer, pipeline: Pipeline,
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    async def broken(question: str, evidence: Any) -> Any:
        yield "The answer starts"
        raise RuntimeError("model server went away")

    monkeypatch.setattr(pipeline.generator, "astream", broken)
    body = {**_msgs("What was ACME's revenue in Europe in 2025?"), "stream": True}
    with httpx.stream("POST", f"{server.url}{CHAT}", json=body, headers=AUTH, timeout=60) as resp:
        assert resp.status_code == 200
        events = [line.removeprefix("data: ") for line in resp.iter_lines() if line]
    assert events[-1] == "[DONE]"
    assert json.loads(events[-2])["error"]["code"] == 500
    assert any("The answer starts" in e for e in events), "deltas before the failure were sent"
    assert "went away" not in "".join(events)


def test_client_hanging_up_stops_the_generator(server: LiveServer, pipeline: Pipeline,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    state = {"sent": 0, "closed": False}

    async def slow(question: str, evidence: Any) -> Any:
        try:
            for _ in range(100):
                state["sent"] += 1
                yield "word "
                await asyncio.sleep(0.1)
        finally:
            state["closed"] = True

    monkeypatch.setattr(pipeline.generator, "astream", slow)
    body = {**_msgs("What was ACME's revenue?"), "stream": True}
    with httpx.stream("POST", f"{server.url}{CHAT}", json=body, headers=AUTH, timeout=60) as resp:
        lines = resp.iter_lines()
        assert next(lines).startswith("data: ")
    deadline = time.monotonic() + 10
    while not state["closed"] and time.monotonic() < deadline:
        time.sleep(0.05)
    assert state["closed"] and state["sent"] < 100
    assert _post(server, "/v1/search", {"query": "revenue"}).status_code == 200
