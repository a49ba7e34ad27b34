"""E5-V on a vLLM pooling server, over HTTP (``/v1/embeddings``).

The server runs the E5-V recipe (last token, normalised) with vLLM's batching:

    python -m vllm.entrypoints.openai.api_server --model royokong/e5-v --runner pooling \\
        --convert embed --pooler-config '{"pooling_type":"LAST","use_activation":true}' \\
        --chat-template prompts/e5v_embed.jinja

Texts go as plain ``input`` strings under E5-V's text prompt (the tokenizer adds the BOS). Images
can only go as chat ``messages``; the chat path adds no special tokens, so the server must render
messages with ``prompts/e5v_embed.jinja`` (BOS + the text verbatim). Both paths then tokenise
exactly what the transformers runner (:mod:`rag.embed.e5v.transformers`) does, and the two runners share one
space id: an index built by one is queried by the other. :meth:`VllmPoolingEmbedder.from_config`
checks the template with the server's ``/tokenize`` before anything is embedded.

One HTTP client per embedder, on the embedder's own event loop (a :class:`~rag.aio.LoopThread`):
sync calls from ingest and search threads and async calls from any loop share its connections and
its ``max_in_flight`` gate. :meth:`VllmPoolingEmbedder.close` closes it and stops that loop.
"""

from __future__ import annotations

import asyncio
import base64
import io
import json
import logging
import weakref
from collections.abc import Sequence
from typing import Any

import httpx
import numpy as np
from PIL import Image

from rag.aio import LoopThread
from rag.backend_settings import VllmEmbedConfig
from rag.embed.base import l2_normalise
from rag.embed.e5v.recipe import DEFAULT_MODEL, E5VSpace, fit_image, image_prompt, text_prompt
from rag.errors import ConfigError, EmbedError, MissingPartError

logger = logging.getLogger(__name__)


MAX_ATTEMPTS = 4
"""Tries per request; 5xx answers, 429 and transport errors (timeouts included) are retried."""
BACKOFF_S = 0.5
"""First wait between tries; doubled each time."""
POOLER_CONFIG = json.dumps({"pooling_type": "LAST", "use_activation": True})


def serve_command(model: str) -> str:
    """The command that starts a pooling server this embedder can use."""
    return (f"python -m vllm.entrypoints.openai.api_server --model {model} --runner pooling --convert embed "
            f"--pooler-config '{POOLER_CONFIG}' --chat-template prompts/e5v_embed.jinja")


def image_data_url(image: Image.Image) -> str:
    """``data:image/png;base64,...`` of an image (PNG: lossless, so both runners see the same pixels)."""
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


class VllmPoolingEmbedder(E5VSpace):
    """E5-V through a vLLM pooling server. Build with :meth:`from_config`, which checks the server.

    Texts are sent ``max_batch`` to a request, images one to a request (``messages`` carry one
    conversation); at most ``max_in_flight`` requests are open at once (across all callers) and vLLM
    batches them. ``loop``: the event loop thread that owns the HTTP client (default: one of its own);
    the embedder stops it when closed.
    """

    def __init__(
        self,
        url: str,
        *,
        served_model: str,
        model_name: str,
        dim: int,
        timeout_s: float = 60.0,
        max_in_flight: int = 4,
        max_batch: int = 32,
        image_side: int = 672,
        transport: httpx.AsyncBaseTransport | None = None,
        loop: LoopThread | None = None,
    ) -> None:
        if not url:
            raise ConfigError("embed.url is empty: set it to the vLLM server's API root, "
                              "e.g. http://127.0.0.1:8001/v1")
        if dim < 1:
            raise ValueError(f"dim must be >= 1, got {dim}")
        if max_in_flight < 1 or max_batch < 1:
            raise ValueError(f"max_in_flight and max_batch must be >= 1, got {max_in_flight} and {max_batch}")
        self.url = url.rstrip("/")
        self.served_model = served_model
        self._model_name = model_name
        self._dim = dim
        self.timeout_s = timeout_s
        self.max_in_flight = max_in_flight
        self.max_batch = max_batch
        self.image_side = image_side
        self._transport = transport
        """Custom HTTP transport (tests mount a fake server here); None: the network."""
        self._home = loop or LoopThread("mmrag-vllm-embed")
        weakref.finalize(self, self._home.stop)  # an embedder dropped unclosed leaves no thread behind
        # Both live on self._home's loop only, made there on first use.
        self._http: httpx.AsyncClient | None = None
        self._limit: asyncio.Semaphore | None = None
        self.clients_made = 0
        """HTTP clients made so far: one per embedder, again only after a close (tests, metrics)."""

    @classmethod
    def from_config(cls, cfg: VllmEmbedConfig) -> VllmPoolingEmbedder:
        """Registry factory (backend ``vllm``): finds the served model, checks that chat messages are
        rendered as E5-V needs, and learns the dimension from a first embedding."""
        if not cfg.url:
            raise ConfigError("embed.backend is 'vllm' but embed.url is empty: set it to the server's API "
                              "root, e.g. http://127.0.0.1:8001/v1")
        home = LoopThread("mmrag-vllm-embed")
        try:
            return home.run(cls._connect(cfg, home))
        except BaseException:
            home.stop()
            raise

    @classmethod
    async def _connect(cls, cfg: VllmEmbedConfig, home: LoopThread) -> VllmPoolingEmbedder:
        url = cfg.url.rstrip("/")
        async with httpx.AsyncClient(timeout=cfg.timeout_s) as client:
            try:
                response = await client.get(f"{url}/models")
            except httpx.TransportError:
                raise MissingPartError(f"no vLLM server at {url}: start one with "
                                       f"`{serve_command(cfg.model or DEFAULT_MODEL)}`") from None
            if response.status_code != 200:
                raise MissingPartError(f"{url}/models answered {response.status_code}: {url} is not the API "
                                       f"root of a vLLM server (start one with "
                                       f"`{serve_command(cfg.model or DEFAULT_MODEL)}`)")
            served, root = _pick_model(url, response.json().get("data", []), cfg.model)
            model_name = cfg.model or root or served
            await _check_chat_template(client, url, served)
            embedder = cls(url, served_model=served, model_name=model_name, dim=1, timeout_s=cfg.timeout_s,
                           max_in_flight=cfg.max_in_flight, max_batch=cfg.max_batch, image_side=cfg.image_side,
                           loop=home)
            first = await embedder._post(client, asyncio.Semaphore(1), {"input": [text_prompt("")]})
        embedder._dim = len(first[0])
        logger.info("vLLM pooling server %s serves %s (%s), dim %d", url, served, model_name, embedder.dim)
        return embedder

    # -- Embedder protocol ------------------------------------------------------------------------

    def embed_texts(self, texts: Sequence[str]) -> np.ndarray:
        """Passages under E5-V's text prompt. Shape (n, dim), float32, unit rows."""
        return self._home.run(self._gather(self._text_bodies(texts)))

    def embed_images(self, images: Sequence[Image.Image]) -> np.ndarray:
        """Images under E5-V's image prompt, longest side fitted to ``image_side``. Shape (n, dim)."""
        return self._home.run(self._gather(self._image_bodies(images)))

    def close(self) -> None:
        """Close the HTTP client and stop the embedder's loop (a later call starts both again)."""
        if self._home.started:
            self._home.run(self._close_client())
            self._home.stop()

    # -- async core -------------------------------------------------------------------------------

    async def aembed_texts(self, texts: Sequence[str]) -> np.ndarray:
        """Async :meth:`embed_texts`, from any event loop."""
        return await self._home.arun(self._gather(self._text_bodies(texts)))

    async def aembed_images(self, images: Sequence[Image.Image]) -> np.ndarray:
        """Async :meth:`embed_images`, from any event loop."""
        return await self._home.arun(self._gather(self._image_bodies(images)))

    def _text_bodies(self, texts: Sequence[str]) -> list[dict[str, Any]]:
        prompts = [text_prompt(t) for t in texts]
        return [{"input": prompts[i:i + self.max_batch]} for i in range(0, len(prompts), self.max_batch)]

    def _image_bodies(self, images: Sequence[Image.Image]) -> list[dict[str, Any]]:
        prompt = image_prompt()
        return [{"messages": [{"role": "user", "content": [
            {"type": "image_url", "image_url": {"url": image_data_url(fit_image(im, self.image_side))}},
            {"type": "text", "text": prompt},
        ]}]} for im in images]

    def _client(self) -> tuple[httpx.AsyncClient, asyncio.Semaphore]:
        """The HTTP client and in-flight gate, made on first use (call on the home loop only)."""
        if self._http is None or self._limit is None:
            self._http = httpx.AsyncClient(timeout=self.timeout_s, transport=self._transport,
                                           limits=httpx.Limits(max_keepalive_connections=self.max_in_flight))
            self._limit = asyncio.Semaphore(self.max_in_flight)
            self.clients_made += 1
        return self._http, self._limit

    async def _close_client(self) -> None:
        http, self._http, self._limit = self._http, None, None
        if http is not None:
            await http.aclose()

    async def _gather(self, bodies: list[dict[str, Any]]) -> np.ndarray:
        if not bodies:
            return np.zeros((0, self.dim), dtype=np.float32)
        client, limit = self._client()
        parts = await asyncio.gather(*(self._post(client, limit, body) for body in bodies))
        vectors = np.asarray([row for part in parts for row in part], dtype=np.float32)  # (n, dim)
        if vectors.shape[1] != self.dim:
            raise EmbedError(f"the server at {self.url} returned {vectors.shape[1]}-dim vectors, "
                             f"expected {self.dim}")
        return l2_normalise(vectors)  # (n, dim)

    async def _post(self, client: httpx.AsyncClient, limit: asyncio.Semaphore,
                    body: dict[str, Any]) -> list[list[float]]:
        payload = {"model": self.served_model, "encoding_format": "float", **body}
        delay = BACKOFF_S
        for attempt in range(1, MAX_ATTEMPTS + 1):
            try:
                async with limit:
                    response = await client.post(f"{self.url}/embeddings", json=payload)
            except httpx.TransportError as exc:
                problem = f"{type(exc).__name__}: {exc}"
            else:
                if response.status_code == 200:
                    data = sorted(response.json()["data"], key=lambda d: d["index"])
                    return [d["embedding"] for d in data]
                if response.status_code < 500 and response.status_code != 429:
                    raise EmbedError(f"{self.url}/embeddings refused the request "
                                     f"({response.status_code}): {response.text[:500]}")
                problem = f"HTTP {response.status_code}: {response.text[:200]}"
            if attempt == MAX_ATTEMPTS:
                raise EmbedError(f"{self.url}/embeddings failed {MAX_ATTEMPTS} times; last: {problem}")
            logger.warning("embedding request failed (%s); retry %d in %.1f s", problem, attempt, delay)
            await asyncio.sleep(delay)
            delay *= 2
        raise AssertionError("unreachable")


def _pick_model(url: str, models: list[dict[str, Any]], wanted: str) -> tuple[str, str]:
    """(served name, root path) of the model to use: the one named ``wanted`` (by served name or
    by the path it was loaded from), else the only one served."""
    if not models:
        raise MissingPartError(f"the vLLM server at {url} serves no model: start it with "
                               f"`{serve_command(wanted or DEFAULT_MODEL)}`")
    for entry in models:
        if wanted and wanted in (entry.get("id"), entry.get("root")):
            return str(entry["id"]), str(entry.get("root") or "")
    if len(models) == 1:
        entry = models[0]
        if wanted:
            logger.info("embed.model %r is served at %s as %r", wanted, url, entry["id"])
        return str(entry["id"]), str(entry.get("root") or "")
    names = ", ".join(str(m.get("id")) for m in models)
    raise ConfigError(f"the vLLM server at {url} serves several models ({names}); set embed.model to one")


async def _check_chat_template(client: httpx.AsyncClient, url: str, served: str) -> None:
    """Refuse a server whose chat rendering of an E5-V prompt differs from the plain prompt's
    tokens: its image vectors would not be E5-V's."""
    root = url.removesuffix("/v1")
    prompt = text_prompt("check")
    try:
        plain = await client.post(f"{root}/tokenize", json={"model": served, "prompt": prompt})
        chat = await client.post(f"{root}/tokenize", json={
            "model": served, "messages": [{"role": "user", "content": prompt}],
            "add_generation_prompt": False})
    except httpx.TransportError as exc:
        raise MissingPartError(f"the vLLM server at {url} stopped answering ({exc})") from None
    if plain.status_code != 200 or chat.status_code != 200:
        logger.warning("%s/tokenize unavailable (%d, %d): cannot check the server's chat template",
                       root, plain.status_code, chat.status_code)
        return
    if plain.json()["tokens"] != chat.json()["tokens"]:
        raise ConfigError(f"the vLLM server at {url} wraps chat messages in its own template, so image "
                          "embeddings would not follow E5-V's prompt: restart it with "
                          "--chat-template prompts/e5v_embed.jinja")
