"""The settings that only one backend reads: one model per backend, a subclass of its section
(:mod:`rag.config`), named by the backend's registry entry (``config=``).

A section validates as the model of its ``backend`` (:mod:`rag.sections`), so a profile keeps
writing ``embed.url`` or ``store.shard_number``, and such a field with another backend is refused.
A subclass re-declares ``backend`` only to default to its own name (``VllmEmbedConfig()`` is a
``vllm`` section).
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from rag.config import EmbedConfig, GenerateConfig, StoreConfig


class E5VEmbedConfig(EmbedConfig):
    """The ``embed`` section of the ``e5v`` embedder (E5-V on transformers)."""

    backend: str = "e5v"
    """Registry name (this model's)."""

    dtype: Literal["auto", "float32", "float16", "bfloat16"] = "auto"
    """``auto``: bfloat16 on GPU, float32 on CPU."""
    quantization: Literal["none", "4bit", "8bit"] = "none"
    """bitsandbytes loading on GPU (E5-V backend only)."""
    batch_tokens: int = Field(default=4096, ge=64)
    """Token budget of one forward batch; images count their image tokens."""


class VllmEmbedConfig(EmbedConfig):
    """The ``embed`` section of the ``vllm`` embedder (a vLLM pooling server)."""

    backend: str = "vllm"
    """Registry name (this model's)."""

    url: str = ""
    """Base URL of a vLLM pooling server (backend ``vllm``), e.g. ``http://127.0.0.1:8001/v1``."""
    timeout_s: float = Field(default=60, gt=0)
    """Seconds one request to the pooling server (backend ``vllm``) may take."""
    max_in_flight: int = Field(default=4, ge=1)
    """Requests open at once to the pooling server (backend ``vllm``), across all callers."""


class OnnxEmbedConfig(EmbedConfig):
    """The ``embed`` section of the ONNX runtimes: ``minilm-int8``, and ``e5small`` (a subclass)."""

    backend: str = "minilm-int8"
    """Registry name (this model's)."""

    threads: int = Field(default=0, ge=0)
    """Intra-op threads of the ONNX runtimes (``e5small``, ``minilm-int8``); 0: one per CPU core.
    Their idle threads sleep rather than spin, so they yield the cores to the parse workers
    (``ingest.workers``) while those run; set it to the cores minus the workers when parsing
    (OCR-heavy folders) is the larger share."""
    max_tokens: int = Field(default=512, ge=8, le=512)
    """Model window of the ONNX runtimes, specials included: longer texts are cut (their characters
    well past the window before tokenising, the tokens at the window)."""


class E5SmallEmbedConfig(OnnxEmbedConfig):
    """The ``embed`` section of the ``e5small`` embedder (the ONNX runtime's settings and its own)."""

    backend: str = "e5small"
    """Registry name (this model's)."""

    model_cache: str = "~/.cache/mmrag/models"
    """Folder of runtime files built once from shipped weights (the int8 ONNX of ``e5small``)."""


class EdgeStoreConfig(StoreConfig):
    """The ``store`` section of the ``edge`` store (Qdrant Edge, embedded)."""

    backend: str = "edge"
    """Registry name (this model's)."""

    optimize_after: int | None = Field(default=20_000, ge=1)
    """Embedded Edge index: an ingest run ends with an HNSW build when at least this many points
    are not in the graph yet (they are searched exactly until then). The build holds the whole
    process while it runs, so a server stops answering meanwhile (its cost and the exact search's:
    docs/benchmarks.md, "Store"). None: never after an ingest (run ``mmrag optimize`` when convenient)."""


class ServerStoreConfig(StoreConfig):
    """The ``store`` section of the ``server`` store (a Qdrant server or cluster)."""

    backend: str = "server"
    """Registry name (this model's)."""

    url: str = ""
    """Base URL of the Qdrant server or cluster (backend ``server``), e.g. ``http://127.0.0.1:6333``."""
    api_key: str = ""
    """API key of the Qdrant server (backend ``server``); empty: none."""
    shard_number: int = Field(default=1, ge=1)
    """Shards of a collection created on a cluster (backend ``server``; applied at creation only)."""
    replication_factor: int = Field(default=1, ge=1)
    """Copies of each shard on a cluster (backend ``server``; applied at creation only)."""
    write_consistency_factor: int = Field(default=1, ge=1)
    """Replicas that must acknowledge a write (backend ``server``; applied at creation only)."""

    @model_validator(mode="after")
    def _has_url(self) -> ServerStoreConfig:
        if not self.url:
            raise ValueError("store.backend is 'server' but store.url is empty")
        return self


class OpenAIGenerateConfig(GenerateConfig):
    """The ``generate`` section of the ``openai`` generator (vLLM or any OpenAI-compatible server)."""

    backend: str = "openai"
    """Registry name (this model's)."""

    urls: list[str] = Field(default_factory=list)
    """Base URLs of OpenAI-compatible servers, e.g. ``http://127.0.0.1:8000/v1``; several are replicas."""
    api_key: str = "EMPTY"
    """Bearer key sent to the chat servers (backend ``openai``); vLLM accepts any without ``--api-key``."""
    timeout_s: float = Field(default=120, gt=0)
    """Seconds one chat request may take (backend ``openai``); connecting gets at most 5 of them."""
    retries: int = Field(default=2, ge=0)
    """Extra rounds over every endpoint after all of them failed (backend ``openai``), with backoff."""
    model: str = ""
    """Model name served at ``urls`` (backend ``openai``); empty: the first model ``/v1/models`` lists."""
    max_tokens: int = Field(default=512, ge=1)
    """Most tokens the model writes for one answer."""
    temperature: float = Field(default=0.0, ge=0, le=2)
    """Sampling temperature; 0 answers the same question the same way."""
    max_images: int = Field(default=4, ge=0)
    """Images sent with one request (the model's limit per prompt)."""
    image_side: int = Field(default=672, ge=14)
    """Longest side of an evidence image sent to the model, in pixels (aspect ratio kept)."""
    context_tokens: int = Field(default=4096, ge=256)
    """Prompt budget; lowest-ranked evidence is dropped first."""
    tokens_per_image: int = Field(default=2928, ge=1)
    """What one image costs in the model's context (LLaVA-NeXT anyres at 672 px: 2928)."""


class ExtractiveGenerateConfig(GenerateConfig):
    """The ``generate`` section of the ``extractive`` generator (no model: quotes evidence)."""

    backend: str = "extractive"
    """Registry name (this model's)."""

    max_sentences: int = Field(default=3, ge=1)
    """Extractive backend: sentences quoted."""
