"""Requests to OpenAI-compatible chat servers: replicas, failover, retries, one HTTP client.

Several URLs are replicas: requests go round-robin; an endpoint that refuses the connection, times
out or answers 5xx is marked down for ``down_s`` seconds and the next one is tried at once. When
every endpoint failed, the round is retried ``retries`` times with exponential backoff. 4xx answers
(a bad request) fail at once with the server's message. At most ``max_in_flight`` requests run at
the same time.

One HTTP client per transport, kept on the transport's own event loop (a :class:`~rag.aio.LoopThread`):
connections cannot cross event loops, and callers come from many (the pipeline's, a server's, a
script's ``asyncio.run``). :meth:`ReplicaTransport.aclose` / :meth:`~ReplicaTransport.close` close
the client and stop that loop.
"""

from __future__ import annotations

import asyncio
import json
import logging
import random
import time
import weakref
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import httpx
from pydantic import BaseModel, ConfigDict, Field

from rag.aio import LoopThread
from rag.errors import GenerateError, MissingPartError

log = logging.getLogger(__name__)


class ChatResult(BaseModel):
    """One chat completion as the server returned it."""

    model_config = ConfigDict(extra="forbid")

    text: str
    finish_reason: str | None = None
    usage: dict[str, int] = Field(default_factory=dict)
    """``prompt_tokens``, ``completion_tokens``, ``total_tokens`` as the server counted them."""
    url: str
    """Base URL of the endpoint that answered."""
    model: str
    seconds: float


@dataclass
class Endpoint:
    """One replica and its health."""

    url: str
    down_until: float = 0.0
    failures: int = 0

    def is_up(self, now: float) -> bool:
        return self.down_until <= now


class _Retryable(Exception):
    """An endpoint failed in a way another endpoint (or a later try) may not."""


def normalise_url(url: str) -> str:
    """``http://host:8000`` -> ``http://host:8000/v1``; a URL with a path is kept, minus a trailing ``/``."""
    url = url.strip().rstrip("/")
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise MissingPartError(f"generate.urls entry {url!r} is not an http(s) URL such as http://127.0.0.1:8000/v1")
    return url if parts.path not in ("", "/") else url + "/v1"


def discover_models(url: str, api_key: str = "", timeout_s: float = 5.0) -> list[str]:
    """Model ids served at ``url`` (``GET {url}/models``); raises :class:`httpx.HTTPError` if unreachable."""
    headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
    resp = httpx.get(f"{normalise_url(url)}/models", headers=headers, timeout=timeout_s)
    resp.raise_for_status()
    return [str(m["id"]) for m in resp.json().get("data", [])]


def error_message(resp_text: str) -> str:
    """The sentence of an OpenAI-style error body (``{"error": {"message": ...}}``), else its start."""
    try:
        data = json.loads(resp_text)
    except ValueError:
        return resp_text[:300]
    if isinstance(data, dict):
        err = data.get("error", data)
        if isinstance(err, dict):
            return str(err.get("message") or err.get("detail") or err)[:300]
        return str(err)[:300]
    return resp_text[:300]


class ReplicaTransport:
    """POSTs chat completions to one of several replicas, with failover and backed-off retries.

    ``transport``: an httpx transport to use instead of the network one (tests, proxies). ``loop``:
    the event loop thread that owns the HTTP client (default: one of its own, started on first
    request); the transport stops it when closed."""

    def __init__(self, urls: Sequence[str], *, api_key: str = "", timeout_s: float = 120.0, retries: int = 2,
                 max_in_flight: int = 8, down_s: float = 30.0, backoff_s: float = 0.5,
                 transport: httpx.AsyncBaseTransport | None = None, loop: LoopThread | None = None) -> None:
        if max_in_flight < 1:
            raise ValueError(f"max_in_flight must be at least 1. Currently, max_in_flight is {max_in_flight}")
        if down_s < 0 or backoff_s < 0:
            raise ValueError(f"down_s and backoff_s must be >= 0. Currently, they are {down_s} and "
                             f"{backoff_s}")
        self.endpoints = [Endpoint(normalise_url(u)) for u in urls]
        self.api_key = api_key
        self.timeout_s = timeout_s
        self.retries = retries
        self.max_in_flight = max_in_flight
        self.down_s = down_s
        self.backoff_s = backoff_s
        self._transport = transport
        self._rr = 0
        self.home = loop or LoopThread("mmrag-openai-chat")
        weakref.finalize(self, self.home.stop)  # a transport dropped unclosed leaves no thread behind
        # Both live on self.home's loop only, made there on first use.
        self._http: httpx.AsyncClient | None = None
        self._sem: asyncio.Semaphore | None = None
        self.clients_made = 0
        """HTTP clients made so far: one per transport, again only after a close (tests, metrics)."""

    def mark_unreachable(self, urls: Sequence[str]) -> None:
        """Start the endpoints at ``urls`` marked down (they did not answer at start-up)."""
        now = time.monotonic()
        for ep in self.endpoints:
            if ep.url in urls:
                ep.down_until = now + self.down_s

    # ------------------------------------------------------------------------------- requests
    async def complete(self, body: dict[str, Any]) -> tuple[str, dict[str, Any], float]:
        """One non-streaming POST of ``body``: the answering URL, the parsed reply and its seconds."""
        return await self.home.arun(self._complete(body))

    async def _complete(self, body: dict[str, Any]) -> tuple[str, dict[str, Any], float]:
        client, sem = self._client()
        async with sem:
            start = time.perf_counter()
            ep, resp = await self._post(client, body, False)
            try:
                data = resp.json()
                if not isinstance(data, dict):
                    raise TypeError(type(data).__name__)
            except (ValueError, TypeError) as exc:
                raise GenerateError(f"{ep.url}: unusable chat completion: {resp.text[:300]!r}") from exc
            return ep.url, data, time.perf_counter() - start

    async def stream(self, body: dict[str, Any]) -> AsyncIterator[str]:
        """Text deltas of a streamed POST of ``body`` (server-sent events). Failover happens before the
        first delta; an error after it raises :class:`GenerateError`."""
        async for delta in self.home.aiterate(self._stream(body)):
            yield delta

    async def _stream(self, body: dict[str, Any]) -> AsyncIterator[str]:
        client, sem = self._client()
        async with sem:
            ep, resp = await self._post(client, body, True)
            try:
                async for line in resp.aiter_lines():
                    if not line.startswith("data:"):
                        continue
                    payload = line[5:].strip()
                    if payload == "[DONE]":
                        break
                    try:
                        chunk = json.loads(payload)
                    except ValueError as exc:
                        raise GenerateError(f"{ep.url}: bad stream event {payload[:200]!r}") from exc
                    if "error" in chunk:
                        raise GenerateError(f"{ep.url}: stream failed: {error_message(payload)}")
                    for choice in chunk.get("choices") or []:
                        delta = (choice.get("delta") or {}).get("content")
                        if delta:
                            yield delta
            except httpx.HTTPError as exc:
                raise GenerateError(f"{ep.url}: stream broke off: {type(exc).__name__}: {exc}") from exc
            finally:
                await resp.aclose()

    # ------------------------------------------------------------------------------- internals
    def _client(self) -> tuple[httpx.AsyncClient, asyncio.Semaphore]:
        """The HTTP client and concurrency gate, made on first use (call on the home loop only)."""
        if self._http is None or self._sem is None:
            headers = {"Authorization": f"Bearer {self.api_key}"} if self.api_key else {}
            timeout = httpx.Timeout(self.timeout_s, connect=min(self.timeout_s, 5.0))
            limits = httpx.Limits(max_connections=self.max_in_flight * 2,
                                  max_keepalive_connections=self.max_in_flight)
            self._http = httpx.AsyncClient(timeout=timeout, headers=headers, limits=limits,
                                           transport=self._transport)
            self._sem = asyncio.Semaphore(self.max_in_flight)
            self.clients_made += 1
        return self._http, self._sem

    def _order(self) -> list[Endpoint]:
        """Endpoints to try, round-robin: those up first, then those down (soonest back first)."""
        n = len(self.endpoints)
        start = self._rr % n
        self._rr += 1
        rotated = self.endpoints[start:] + self.endpoints[:start]
        now = time.monotonic()
        up = [e for e in rotated if e.is_up(now)]
        down = sorted((e for e in rotated if not e.is_up(now)), key=lambda e: e.down_until)
        return up + down

    def _mark_down(self, ep: Endpoint, reason: str) -> None:
        ep.failures += 1
        ep.down_until = time.monotonic() + self.down_s
        log.warning("generator endpoint %s marked down for %.0f s: %s", ep.url, self.down_s, reason)

    async def _send(self, client: httpx.AsyncClient, ep: Endpoint, body: dict[str, Any],
                    stream: bool) -> httpx.Response:
        """One POST to one endpoint; raises :class:`_Retryable` or :class:`GenerateError`."""
        url = f"{ep.url}/chat/completions"
        try:
            resp = await client.send(client.build_request("POST", url, json=body), stream=stream)
        except httpx.TransportError as exc:  # refused, reset, timed out
            self._mark_down(ep, f"{type(exc).__name__}: {exc}")
            raise _Retryable(f"{url}: {type(exc).__name__}: {exc}") from exc
        if resp.status_code < 400:
            ep.failures = 0
            return resp
        text = (await resp.aread()).decode("utf-8", "replace")
        await resp.aclose()
        msg = f"{url}: HTTP {resp.status_code}: {error_message(text)}"
        if resp.status_code >= 500:
            self._mark_down(ep, msg)
            raise _Retryable(msg)
        if resp.status_code in (408, 429):
            raise _Retryable(msg)
        raise GenerateError(f"the generator server refused the request: {msg}")

    async def _post(self, client: httpx.AsyncClient, body: dict[str, Any],
                    stream: bool) -> tuple[Endpoint, httpx.Response]:
        """POST with failover across endpoints and ``retries`` backed-off rounds."""
        errors: list[str] = []
        for attempt in range(self.retries + 1):
            if attempt:
                delay = self.backoff_s * 2 ** (attempt - 1) * (0.5 + random.random())
                log.info("generator: all endpoints failed, retry %d/%d in %.2f s", attempt,
                         self.retries, delay)
                await asyncio.sleep(delay)
            for ep in self._order():
                try:
                    return ep, await self._send(client, ep, body, stream)
                except _Retryable as exc:
                    errors.append(str(exc))
        raise GenerateError(f"no generator endpoint answered after {self.retries + 1} rounds; "
                            f"last error: {errors[-1] if errors else 'none'}")

    # --------------------------------------------------------------------------------- closing
    async def _close_client(self) -> None:
        http, self._http, self._sem = self._http, None, None
        if http is not None:
            await http.aclose()

    async def aclose(self) -> None:
        """Close the HTTP client and stop the transport's loop (a later request starts both again)."""
        if not self.home.started:
            return
        await self.home.arun(self._close_client())
        if self.home.in_loop_thread():
            self.home.stop()
        else:
            await asyncio.to_thread(self.home.stop)

    def close(self) -> None:
        """Sync :meth:`aclose`, from any thread not running an event loop of this transport."""
        if self.home.started:
            self.home.run(self._close_client())
            self.home.stop()
