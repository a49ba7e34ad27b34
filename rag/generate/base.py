"""The Generator protocol: evidence in, text with [n] citations out."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from typing import Protocol, runtime_checkable

from rag.backend_settings import ExtractiveGenerateConfig, OpenAIGenerateConfig
from rag.config import GenerateConfig
from rag.records import Evidence
from rag.registry import Registry


@runtime_checkable
class Generator(Protocol):
    """Writes an answer that cites evidence as [1], [2], ... (1-based positions in ``evidence``).

    The async methods may be awaited from any event loop and from several threads at once (the
    pipeline's loop, a server's, a caller's ``asyncio.run``): a generator that holds loop-bound
    state (an HTTP client) keeps it on one loop of its own (:class:`~rag.aio.LoopThread`)."""

    def select(self, question: str, evidence: Sequence[Evidence]) -> list[Evidence]:
        """The evidence this generator will be shown (its prompt budget may drop the lowest-ranked);
        [n] in the answer is the n-th item of this list."""
        ...

    def astream(self, question: str, evidence: Sequence[Evidence]) -> AsyncIterator[str]:
        """The answer as text deltas ([n] cites ``evidence[n - 1]``); with no evidence, the abstain
        sentence in the question's language. The pipeline joins them and resolves the citations."""
        ...

    async def aclose(self) -> None:
        """Release connections (and any event loop the generator keeps for them); awaited from any
        event loop, once, when the owner (a :class:`~rag.pipeline.Pipeline`) closes."""
        ...


GENERATORS: Registry[Generator] = Registry("generator", "generate")
GENERATORS.register("extractive", "rag.generate.extractive:ExtractiveGenerator.from_config",
                    config=ExtractiveGenerateConfig)
GENERATORS.register("openai", "rag.generate.openai.generator:OpenAIChatGenerator.from_config",
                    config=OpenAIGenerateConfig)


def build_generator(cfg: GenerateConfig) -> Generator:
    """Build the configured generator once, at start-up."""
    return GENERATORS.factory(cfg.backend)(cfg)
