"""The settings that only one backend reads, one pydantic model per backend (the registry entry of
the backend names it), and the base of every config section.

The sections of :mod:`rag.config` inherit these models, so a profile keeps writing ``embed.url`` or
``store.shard_number``; the registry refuses such a field when the section's ``backend`` is another.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from rag.errors import ConfigError
from rag.registry import Registry


class Section(BaseModel):
    """Base of every config section: unknown keys are refused."""

    model_config = ConfigDict(extra="forbid")

    def explicit(self) -> dict[str, Any]:
        """Fields set to something other than their default (what a profile or override changed)."""
        fields = type(self).model_fields
        return {name: getattr(self, name) for name in self.model_fields_set
                if getattr(self, name) != fields[name].get_default(call_default_factory=True)}


def check_backend_fields(registry: Registry[Any], section: Section, backend: str) -> None:
    """A field only other backends read is a mistake: refuse it, naming the backends it belongs to."""
    try:
        registry.check_fields(backend, section.explicit())
    except ConfigError as exc:
        raise ValueError(str(exc)) from None


class E5VEmbedFields(Section):
    """Settings only the ``e5v`` embedder (E5-V on transformers) reads."""

    dtype: Literal["auto", "float32", "float16", "bfloat16"] = "auto"
    """``auto``: bfloat16 on GPU, float32 on CPU."""
    quantization: Literal["none", "4bit", "8bit"] = "none"
    """bitsandbytes loading on GPU (E5-V backend only)."""
    batch_tokens: int = Field(default=4096, ge=64)
    """Token budget of one forward batch; images count their image tokens."""


class VllmEmbedFields(Section):
    """Settings only the ``vllm`` embedder (a vLLM pooling server) reads."""

    url: str = ""
    """Base URL of a vLLM pooling server (backend ``vllm``), e.g. ``http://127.0.0.1:8001/v1``."""
    timeout_s: float = Field(default=60, gt=0)
    """Seconds one request to the pooling server (backend ``vllm``) may take."""
    max_in_flight: int = Field(default=4, ge=1)
    """Requests open at once to the pooling server (backend ``vllm``), across all callers."""


class OnnxEmbedFields(Section):
    """Settings of the ONNX runtimes (``e5small``, ``minilm-int8``)."""

    threads: int = Field(default=0, ge=0)
    """Intra-op threads of the ONNX runtimes (``e5small``, ``minilm-int8``); 0: one per CPU core.
    Their idle threads sleep rather than spin, so they yield the cores to the parse workers
    (``ingest.workers``) while those run; set it to the cores minus the workers when parsing
    (OCR-heavy folders) is the larger share."""
    max_tokens: int = Field(default=512, ge=8, le=512)
    """Model window of the ONNX runtimes, specials included: longer texts are cut (their characters
    well past the window before tokenising, the tokens at the window)."""


class E5SmallEmbedFields(OnnxEmbedFields):
    """Settings only the ``e5small`` embedder reads (beside the ONNX runtime's)."""

    model_cache: str = "~/.cache/mmrag/models"
    """Folder of runtime files built once from shipped weights (the int8 ONNX of ``e5small``)."""


class EdgeStoreFields(Section):
    """Settings only the ``edge`` store (Qdrant Edge, embedded) reads."""

    optimize_after: int | None = Field(default=20_000, ge=1)
    """Embedded Edge index: an ingest run ends with an HNSW build when at least this many points
    are not in the graph yet (they are searched exactly until then). The build holds the whole
    process while it runs, so a server stops answering meanwhile (its cost and the exact search's:
    docs/benchmarks.md, "Store"). None: never after an ingest (run ``mmrag optimize`` when convenient)."""


class ServerStoreFields(Section):
    """Settings only the ``server`` store (a Qdrant server or cluster) reads."""

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


class OpenAIGenerateFields(Section):
    """Settings only the ``openai`` generator (vLLM or any OpenAI-compatible server) reads."""

    urls: list[str] = Field(default_factory=list)
    """Base URLs of OpenAI-compatible servers, e.g. ``http://127.0.0.1:8000/v1``; several are replicas."""
    api_key: str = "EMPTY"
    """Bearer key sent to the chat servers (backend ``openai``); vLLM accepts any without ``--api-key``."""
    timeout_s: float = Field(default=120, gt=0)
    """Seconds one chat request may take (backend ``openai``); connecting gets at most 5 of them."""
    retries: int = Field(default=2, ge=0)
    """Extra rounds over every endpoint after all of them failed (backend ``openai``), with backoff."""


class ExtractiveGenerateFields(Section):
    """Settings only the ``extractive`` generator reads."""

    max_sentences: int = Field(default=3, ge=1)
    """Extractive backend: sentences quoted."""
