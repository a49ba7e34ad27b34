"""The records of an evaluation run: per-question results and the summaries built from them.

Everything here is a pydantic model, so ``questions.jsonl`` and ``summary.json`` are these models
dumped as JSON (:mod:`rag.eval.report`).
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from rag.eval import metrics as m

SYSTEM = "mmrag"
"""The name the pipeline's own runs carry beside the baselines'."""
UNTYPED = "untyped"
"""Group of answerable questions that carry no evidence type (FinanceBench)."""
UNANSWERABLE = "unanswerable"
SCOPES = ("doc", "corpus")
"""``doc``: every search restricted to the question's document; ``corpus``: over the whole index."""

class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid")


class SystemRun(_Model):
    """One system's page ranking for one question, and its scores."""

    pages: list[int] = Field(default_factory=list)
    """Distinct pages of the question's document, best first."""
    hits: list[tuple[str, int]] = Field(default_factory=list)
    """Whole-corpus scope: the distinct ``(file, page)`` pairs retrieved, best first (any file)."""
    seconds: float = 0.0
    error: str | None = None
    metrics: dict[str, float] = Field(default_factory=dict)
    """``recall@k``, ``hit@k``, ``ndcg@k``, ``rr``; empty when the question has no evidence pages."""


class QuestionResult(_Model):
    """Everything measured for one question."""

    id: str
    doc: str
    question: str
    gold: str
    answerable: bool
    evidence_type: list[str]
    pages: list[int]
    retrieval: dict[str, SystemRun] = Field(default_factory=dict)
    answer: str = ""
    abstained: bool = False
    cited: list[tuple[str, int]] = Field(default_factory=list)
    """Distinct cited ``(file name, page)`` pairs."""
    exact_match: float | None = None
    f1: float | None = None
    contains: float | None = None
    citation_precision: float | None = None
    citation_recall: float | None = None
    seconds: dict[str, float] = Field(default_factory=dict)
    """The answer's stage timings (``retrieve``, ``generate``) and ``ask`` (wall time)."""
    error: str | None = None

    @property
    def has_evidence(self) -> bool:
        return self.answerable and bool(self.pages)


class AnswerSummary(_Model):
    """Answer quality over answerable questions."""

    n: int
    exact_match: float | None
    f1: float | None
    contains: float | None


class GroupSummary(_Model):
    """Scores of one group of questions (all, one evidence type, one document)."""

    n: int
    n_retrieval: int
    """Questions scored for retrieval: answerable, with evidence pages."""
    retrieval: dict[str, dict[str, float | None]]
    """system -> metric -> mean."""
    answers: AnswerSummary
    abstention: m.AbstentionScores
    citation_precision: float | None
    citation_recall: float | None
    errors: int


class Latency(_Model):
    """Seconds of one stage over all questions."""

    n: int
    p50: float | None
    p95: float | None
    mean: float | None


class Miss(_Model):
    """A question whose evidence pages the pipeline did not retrieve at all."""

    id: str
    doc: str
    evidence_type: list[str]
    pages: list[int]
    retrieved: list[int]
    """The pipeline's first pages."""
    found_by: list[str]
    """Baselines that did retrieve an evidence page."""


class EvalSummary(_Model):
    """The whole run."""

    meta: dict[str, Any]
    overall: GroupSummary
    by_evidence_type: dict[str, GroupSummary]
    by_doc: dict[str, GroupSummary]
    latency: dict[str, Latency]
    indexing: dict[str, Any]
    misses: list[Miss] = Field(default_factory=list)
    """Questions where the pipeline found no evidence page in its top ``max(k)``: the work list."""

