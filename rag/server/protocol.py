"""Every request and response of the HTTP face, as pydantic models.

The chat models follow OpenAI's ``/v1/chat/completions`` schema closely enough for the official
clients; mmrag's own data (citations, evidence, abstention) travels in an extra ``mmrag`` field.
Requests in OpenAI's schema ignore unknown fields (clients add new ones every release); mmrag's own
requests refuse them, so a typo fails loudly.
"""

from __future__ import annotations

import time
import uuid
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from ingest.records import ItemKind
from rag.records import Citation, DateRange, Evidence, IngestReport


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class _Open(BaseModel):
    model_config = ConfigDict(extra="ignore")


# ------------------------------------------------------------------------------------------ errors
class ErrorBody(BaseModel):
    """What went wrong, in OpenAI's error shape so its clients surface ``message``."""

    message: str
    type: str
    """``invalid_request_error``, ``authentication_error``, ``permission_error``, ``not_found_error``,
    ``request_too_large``, ``unavailable_error`` or ``server_error``."""
    code: int
    """The HTTP status."""
    param: str | None = None
    """The request field at fault, when there is one (``messages.0.content``)."""


class ErrorResponse(BaseModel):
    """The body of every 4xx/5xx answer."""

    error: ErrorBody


# ---------------------------------------------------------------------------------- shared options
class FilterOptions(_Strict):
    """Narrows retrieval. The tenant never comes from here: it comes from the API key."""

    files: list[str] = Field(default_factory=list)
    """Exact absolute paths of files to search; empty: all of the tenant's files."""
    kinds: list[ItemKind] = Field(default_factory=list)
    tags: list[str] = Field(default_factory=list)
    """A hit must carry at least one of these tags."""
    file_globs: list[str] = Field(default_factory=list)
    """``fnmatch`` patterns on the absolute path (united with ``files``)."""
    modified: DateRange | None = None
    """``{"since": ISO date, "until": ISO date}``: files modified in this range."""
    created: DateRange | None = None
    """Documents whose stated creation date is in this range."""


# ------------------------------------------------------------------------------------------- chat
class TextPart(_Open):
    """A text part of a multi-part message."""

    type: Literal["text"]
    text: str


class ImagePart(_Open):
    """An image part; accepted in history, refused in the question (retrieval is by text)."""

    type: Literal["image_url"]
    image_url: dict[str, object]


class ChatMessage(_Open):
    """One turn of a conversation."""

    role: Literal["system", "developer", "user", "assistant", "tool"]
    content: str | list[TextPart | ImagePart] | None = None

    def text(self) -> str:
        """The message's text, multi-part content joined by newlines (image parts skipped)."""
        if self.content is None:
            return ""
        if isinstance(self.content, str):
            return self.content
        return "\n".join(p.text for p in self.content if isinstance(p, TextPart))

    def has_images(self) -> bool:
        return isinstance(self.content, list) and any(isinstance(p, ImagePart) for p in self.content)


class ChatCompletionRequest(_Open):
    """OpenAI's request. The last ``user`` message is the question; earlier turns are history.
    Sampling fields are accepted for compatibility; the profile's generator settings apply."""

    model: str = Field(min_length=1)
    messages: list[ChatMessage] = Field(min_length=1)
    stream: bool = False
    n: int = Field(default=1, ge=1, le=1)
    """Only one choice is produced."""
    temperature: float | None = Field(default=None, ge=0, le=2)
    max_tokens: int | None = Field(default=None, ge=1)
    user: str | None = None
    mmrag: FilterOptions | None = None
    """mmrag's extension: narrow retrieval (``extra_body={"mmrag": {...}}`` in the openai client)."""


class AssistantMessage(BaseModel):
    role: Literal["assistant"] = "assistant"
    content: str


class Choice(BaseModel):
    index: int = 0
    message: AssistantMessage
    finish_reason: Literal["stop", "length"] = "stop"


class MmragExtra(BaseModel):
    """mmrag's part of a chat answer: what the answer cites and what it was given."""

    abstained: bool
    citations: list[Citation]
    evidence: list[Evidence]
    dropped_citations: list[int] = Field(default_factory=list)
    support_issue: str | None = None
    """Why the evidence check replaced or flagged the answer (:attr:`rag.records.Answer.support_issue`)."""
    seconds: dict[str, float] = Field(default_factory=dict)


def completion_id() -> str:
    """A fresh ``chatcmpl-...`` id."""
    return f"chatcmpl-{uuid.uuid4().hex}"


def now() -> int:
    return int(time.time())


class ChatCompletion(BaseModel):
    """OpenAI's ``chat.completion`` object plus ``mmrag``."""

    id: str = Field(default_factory=completion_id)
    object: Literal["chat.completion"] = "chat.completion"
    created: int = Field(default_factory=now)
    model: str
    choices: list[Choice]
    mmrag: MmragExtra


class Delta(BaseModel):
    role: Literal["assistant"] | None = None
    content: str | None = None


class ChunkChoice(BaseModel):
    index: int = 0
    delta: Delta
    finish_reason: Literal["stop", "length"] | None = None


class ChatCompletionChunk(BaseModel):
    """OpenAI's ``chat.completion.chunk``; the final chunk carries ``mmrag``."""

    id: str
    object: Literal["chat.completion.chunk"] = "chat.completion.chunk"
    created: int
    model: str
    choices: list[ChunkChoice]
    mmrag: MmragExtra | None = None


class ModelCard(BaseModel):
    id: str
    object: Literal["model"] = "model"
    created: int
    owned_by: str = "mmrag"


class ModelList(BaseModel):
    object: Literal["list"] = "list"
    data: list[ModelCard]


# ----------------------------------------------------------------------------------------- search
class SearchRequest(FilterOptions):
    """``POST /v1/search``."""

    query: str = Field(min_length=1, max_length=10_000)
    k: int | None = Field(default=None, ge=1, le=100)
    """Evidence items returned; ``None``: the profile's ``retrieve.k``."""

    @field_validator("query")
    @classmethod
    def _not_blank(cls, v: str) -> str:
        if not v.strip():
            raise ValueError("query is blank")
        return v


class SearchResponse(BaseModel):
    evidence: list[Evidence]
    seconds: float


# ----------------------------------------------------------------------------------------- ingest
JobStatus = Literal["queued", "running", "done", "failed"]


class IngestRequest(_Strict):
    """``POST /v1/ingest``: files or folders under one of ``server.ingest_roots``. Relative paths are
    taken relative to the first root."""

    paths: list[str] = Field(min_length=1, max_length=1000)
    tags: list[str] = Field(default_factory=list, max_length=64)


class Job(BaseModel):
    """A background ingest job, as ``GET /v1/jobs/{id}`` shows it."""

    id: str
    status: JobStatus
    tenant: str
    paths: list[str]
    tags: list[str] = Field(default_factory=list)
    created: float
    started: float | None = None
    finished: float | None = None
    queue_position: int | None = None
    """Jobs ahead of this one while it is queued."""
    files_done: int | None = None
    """Files parsed and indexed so far (new or changed ones), once the job is running."""
    files_total: int | None = None
    """Files the job has to parse and index (new or changed ones), once discovery is over."""
    report: IngestReport | None = None
    error: str | None = None


# -------------------------------------------------------------------------------------- documents
class DeleteRequest(_Strict):
    """``DELETE /v1/documents``: absolute paths of ingested files."""

    paths: list[str] = Field(min_length=1, max_length=1000)


class DeleteResponse(BaseModel):
    deleted: dict[str, int]
    """Path -> points removed."""
    not_found: list[str] = Field(default_factory=list)
    """Paths this tenant has no points for."""


class Health(BaseModel):
    status: Literal["ok"] = "ok"
    profile: str
    embedder: str
    generator: str
    jobs: dict[str, int] | None = None
    """Jobs by status: every tenant's with the metrics key (or on an open server), the caller's own
    with an API key, none (null) without a key."""
    auth: bool
    """Whether API keys are required."""
