"""Chat: turn a follow-up question and the conversation so far into one standalone question.

Retrieval needs a question that stands alone ("And in 2022?" finds nothing). With a chat
model (anything with :meth:`ChatModel.achat`, e.g. :class:`~rag.generate.openai.generator.OpenAIChatGenerator`)
the ``prompts/<lang>/condense.txt`` prompt (in the question's language) rewrites it; without one
(the extractive backend) a rule appends the salient terms of the earlier user turns to a question
that depends on them. History and question are neutralised like evidence
(:func:`rag.generate.fences.neutralise`): a turn cannot smuggle ``<|im_start|>`` or a fence into
the prompt.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Sequence
from typing import Any, Literal, Protocol, runtime_checkable

from pydantic import BaseModel, ConfigDict, Field

from ingest.text.tokens import ANAPHORA, QUESTION_STOPWORDS, chat_words, is_number_word
from rag.errors import GenerateError
from rag.generate.citations import strip_citations
from rag.generate.fences import neutralise
from rag.generate.prompting import prompt_language
from rag.prompts import load_prompt

log = logging.getLogger(__name__)

MAX_TERMS = 8
"""Context terms the rule appends at most."""
HISTORY_TURNS = 6
"""Turns of history shown to the model."""
TURN_CHARS = 600
"""Characters of one turn shown to the model."""

_FOLLOW_UP_RE = re.compile(r"^\s*(and|also|what about|how about|same|but|or|then)\b"
                           r"|^\s*(그럼|그러면|그리고|또|또는|그런데|근데|그건|그것은|그거)(?!\w)", re.IGNORECASE)
_ROLES = {"en": {"user": "User", "assistant": "Assistant"}, "ko": {"user": "사용자", "assistant": "도우미"}}
_REPLY_PREFIX_RE = re.compile(r"^(standalone question|question|독립된 질문|질문)\s*:\s*", re.IGNORECASE)


class ChatTurn(BaseModel):
    """One message of a conversation."""

    model_config = ConfigDict(extra="forbid")

    role: Literal["system", "user", "assistant"]
    content: str = Field(max_length=100_000)


@runtime_checkable
class ChatModel(Protocol):
    """Something that can reply to OpenAI-style chat messages."""

    async def achat(self, messages: list[dict[str, Any]], *, max_tokens: int | None = None) -> str: ...


def needs_context(question: str) -> bool:
    """Whether ``question`` leans on earlier turns: it starts like a follow-up ("and ...",
    "what about ..."), refers back ("it", "those", ...), or has at most two content words."""
    words = [w.lower() for w in chat_words(question)]
    content = [w for w in words if w not in QUESTION_STOPWORDS]
    return bool(_FOLLOW_UP_RE.match(question)) or any(w in ANAPHORA for w in words) or len(content) <= 2


def salient_terms(history: Sequence[ChatTurn], exclude: str = "", limit: int = MAX_TERMS,
                  numbers: bool = True) -> list[str]:
    """Content words of the user turns, most recent turn first, each once, original spelling.

    Capitalised words and words with digits (names, codes) come before plain words of the same
    turn. Words already in ``exclude`` are skipped; ``numbers=False`` skips numbers, also with a
    Korean unit or particle glued on (``2023년``, ``1,234억은``)."""
    seen = {w.lower() for w in chat_words(exclude)}
    out: list[str] = []
    for turn in reversed([t for t in history if t.role == "user"]):
        words = [w for w in chat_words(turn.content) if w.lower() not in QUESTION_STOPWORDS and len(w) > 1]
        if not numbers:
            words = [w for w in words if not is_number_word(w)]
        ranked = sorted(words, key=lambda w: not (w[0].isupper() or any(c.isdigit() for c in w)))
        for w in ranked:
            if w.lower() not in seen:
                seen.add(w.lower())
                out.append(w)
                if len(out) >= limit:
                    return out
    return out


def condense(history: Sequence[ChatTurn], question: str) -> str:
    """Rule-based standalone question: ``question`` itself, plus ``(context: ...)`` with the salient
    terms of earlier user turns when the question depends on them. Numbers of earlier turns are left
    out when the question brings its own (``"And in 2022?"`` must not drag 2023 along)."""
    question = question.strip()
    if not question or not any(t.role == "user" for t in history) or not needs_context(question):
        return question
    has_number = any(c.isdigit() for c in question)
    terms = salient_terms(history, exclude=question, numbers=not has_number)
    return f"{question} (context: {' '.join(terms)})" if terms else question


def _format_history(history: Sequence[ChatTurn], lang: str = "en") -> str:
    lines = []
    for turn in [t for t in history if t.role != "system"][-HISTORY_TURNS:]:
        text = " ".join(neutralise(strip_citations(turn.content)).split())
        if len(text) > TURN_CHARS:
            text = text[: TURN_CHARS - 1] + "…"
        lines.append(f"{_ROLES[lang][turn.role]}: {text}")
    return "\n".join(lines)


def condense_messages(history: Sequence[ChatTurn], question: str) -> list[dict[str, Any]]:
    """The chat messages of ``prompts/<lang>/condense.txt`` for ``history`` and ``question``, both
    neutralised; the language is the question's."""
    lang = prompt_language(question)
    # One pass over the template: a {question} written inside a history turn stays text.
    slots = {"{history}": _format_history(history, lang), "{question}": neutralise(question.strip())}
    prompt = re.sub(r"\{history\}|\{question\}", lambda m: slots[m.group()], load_prompt(f"{lang}/condense.txt"))
    return [{"role": "user", "content": prompt}]


def _clean(reply: str) -> str:
    lines = [ln.strip() for ln in reply.strip().splitlines() if ln.strip()]
    if not lines:
        return ""
    text = _REPLY_PREFIX_RE.sub("", lines[0])
    return text.strip().strip('"“”').strip()


async def acondense(history: Sequence[ChatTurn], question: str, model: object | None = None,
                    *, max_tokens: int = 128) -> str:
    """Standalone version of ``question``: through ``model`` when it is a :class:`ChatModel`, else
    (or if the model fails or replies with nothing) by :func:`condense`'s rule. No history: unchanged."""
    if not any(t.role == "user" for t in history) or not question.strip():
        return question.strip()
    if isinstance(model, ChatModel):
        try:
            reply = _clean(await model.achat(condense_messages(history, question), max_tokens=max_tokens))
        except GenerateError as exc:
            log.warning("condense through the chat model failed, using the rule: %s", exc)
        else:
            if reply:
                return reply
            log.info("condense: the chat model replied with nothing, using the rule")
    return condense(history, question)
