"""``POST /v1/chat/completions``: OpenAI chat completions answered by the pipeline, with citations.

The last message (the user's) is the question; earlier user and assistant turns are the history the
pipeline uses to make a follow-up stand alone. Streaming answers are server-sent events in OpenAI's
chunk format (:func:`stream_chat`).
"""

from __future__ import annotations

import logging
from collections.abc import AsyncGenerator, AsyncIterator

from fastapi import APIRouter
from fastapi.responses import JSONResponse, Response, StreamingResponse

from rag.errors import MmragError
from rag.generate.chat import ChatTurn
from rag.records import Answer
from rag.server.errors import INTERNAL_ERROR, ApiError, error_body, mmrag_error_status
from rag.server.metrics import Metrics
from rag.server.protocol import (
    AssistantMessage,
    ChatCompletion,
    ChatCompletionChunk,
    ChatCompletionRequest,
    ChatMessage,
    Choice,
    ChunkChoice,
    Delta,
    MmragExtra,
    completion_id,
    now,
)
from rag.server.state import MODEL_ID, PrincipalDep, ServerState, StateDep, request_filter

log = logging.getLogger(__name__)

MAX_QUESTION_CHARS = 10_000
MAX_TURN_CHARS = 20_000
"""Earlier turns are cut to their last characters: condensing reads only the end of each."""

router = APIRouter()


@router.post("/v1/chat/completions", response_model=ChatCompletion, tags=["openai"])
async def chat(req: ChatCompletionRequest, st: StateDep, who: PrincipalDep) -> Response:
    """OpenAI chat completions. The last message (the user's) is the question; earlier user and
    assistant turns are history that turns a follow-up into a standalone question; system messages
    are ignored (mmrag's own system prompt applies). ``stream: true`` answers with
    ``chat.completion.chunk`` events; citations and evidence come in ``mmrag`` (on the last chunk
    when streaming)."""
    if req.model != MODEL_ID:
        raise ApiError(404, f"model {req.model!r} does not exist; this server serves {MODEL_ID!r}", "model")
    question, history = split_conversation(req.messages)
    flt = request_filter(who, req.mmrag)
    if req.stream:
        return await stream_chat(st, req.model, st.pipeline.astream(question, flt=flt, history=history))
    answer = await st.pipeline.aask(question, flt=flt, history=history)
    observe_answer(st.metrics, answer)
    choice = Choice(message=AssistantMessage(content=answer.text))
    body = ChatCompletion(model=req.model, choices=[choice], mmrag=answer_extra(answer))
    return JSONResponse(body.model_dump(mode="json"))


def split_conversation(messages: list[ChatMessage]) -> tuple[str, list[ChatTurn]]:
    """The question (last message, which must be the user's) and the earlier user/assistant turns."""
    last = messages[-1]
    where = f"messages.{len(messages) - 1}"
    if last.role != "user":
        raise ApiError(400, f"the last message must have role 'user', got {last.role!r}", f"{where}.role")
    if last.has_images():
        raise ApiError(400, "images in the question are not supported: ask in text; retrieval finds "
                       "the document images", f"{where}.content")
    question = last.text().strip()
    if not question:
        raise ApiError(400, "the last user message is empty", f"{where}.content")
    if len(question) > MAX_QUESTION_CHARS:
        raise ApiError(400, f"the question has {len(question)} characters; at most {MAX_QUESTION_CHARS} "
                       "are accepted", f"{where}.content")
    history = [ChatTurn(role=m.role, content=m.text()[-MAX_TURN_CHARS:]) for m in messages[:-1]
               if m.role in ("user", "assistant") and m.text()]
    return question, history


def answer_extra(answer: Answer) -> MmragExtra:
    """What an answer carries beyond OpenAI's fields: citations, evidence, timings."""
    return MmragExtra(abstained=answer.abstained, citations=answer.citations, evidence=answer.evidence,
                      dropped_citations=answer.dropped_citations, support_issue=answer.support_issue,
                      seconds=answer.seconds)


def observe_answer(metrics: Metrics, answer: Answer) -> None:
    """Record the answer's stage timings."""
    for stage, seconds in answer.seconds.items():
        metrics.observe_stage(stage, seconds)


def _sse(data: str) -> bytes:
    return f"data: {data}\n\n".encode()


async def stream_chat(st: ServerState, model: str, parts: AsyncIterator[str | Answer]) -> Response:
    """SSE in OpenAI's chunk format. The first part is awaited here, so retrieval errors still get
    a real status code; a failure after that is sent as an ``error`` event, then the stream ends."""
    cid, created = completion_id(), now()
    iterator = aiter(parts)
    try:
        first: str | Answer | None = await anext(iterator)
    except StopAsyncIteration:
        first = None

    def chunk(delta: Delta, finish: bool = False, extra: MmragExtra | None = None) -> bytes:
        choice = ChunkChoice(delta=delta, finish_reason="stop" if finish else None)
        body = ChatCompletionChunk(id=cid, created=created, model=model, mmrag=extra, choices=[choice])
        return _sse(body.model_dump_json(exclude_none=True))

    async def events() -> AsyncIterator[bytes]:
        yield chunk(Delta(role="assistant", content=""))
        part = first
        try:
            while part is not None:
                if isinstance(part, Answer):
                    observe_answer(st.metrics, part)
                    yield chunk(Delta(), finish=True, extra=answer_extra(part))
                elif part:
                    yield chunk(Delta(content=part))
                part = await anext(iterator, None)
        except MmragError as exc:
            log.error("stream %s failed: %s: %s", cid, type(exc).__name__, exc)
            yield _sse(error_body(mmrag_error_status(exc), str(exc)).model_dump_json())
        except Exception:
            log.exception("stream %s failed", cid)
            yield _sse(error_body(500, INTERNAL_ERROR).model_dump_json())
        finally:  # also on a client that hung up: stop the generator (and its model request) now
            if isinstance(iterator, AsyncGenerator):
                await iterator.aclose()
        yield b"data: [DONE]\n\n"

    return StreamingResponse(events(), media_type="text/event-stream",
                             headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"})
