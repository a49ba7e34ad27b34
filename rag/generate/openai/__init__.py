"""The ``openai`` generator backend: :mod:`.generator` (prompts, the Generator protocol) over
:mod:`.transport` (replicas, failover, one HTTP client on its own loop)."""

from rag.generate.openai.generator import OpenAIChatGenerator
from rag.generate.openai.transport import ChatResult, ReplicaTransport, discover_models, normalise_url

__all__ = ["ChatResult", "OpenAIChatGenerator", "ReplicaTransport", "discover_models", "normalise_url"]
