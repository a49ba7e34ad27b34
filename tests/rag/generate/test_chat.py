from __future__ import annotations

import asyncio
from typing import Any

from rag.errors import GenerateError
from rag.generate.chat import ChatModel, ChatTurn, acondense, condense, condense_messages

HISTORY = [
    ChatTurn(role="user", content="What was the Oslo plant's turbine output in 2025?"),
    ChatTurn(role="assistant", content="It produced 4,200 turbines [1]."),
]


def test_follow_up_gets_the_salient_terms_of_earlier_turns() -> None:
    out = condense(HISTORY, "And in 2024?")
    assert out.startswith("And in 2024?")
    for term in ("Oslo", "turbine", "output"):
        assert term in out
    assert "2025" not in out  # the question brings its own year


def test_follow_up_without_numbers_keeps_earlier_numbers() -> None:
    out = condense(HISTORY, "What about its revenue?")
    assert "Oslo" in out and "2025" in out


def test_standalone_question_and_empty_history_are_unchanged() -> None:
    q = "How many employees does the Bergen office have in total?"
    assert condense(HISTORY, q) == q
    assert condense([], "And in 2024?") == "And in 2024?"


def test_condense_prompt_shows_history_without_citations() -> None:
    messages = condense_messages(HISTORY, "And in 2024?")
    text = messages[0]["content"]
    assert "User: What was the Oslo plant's turbine output in 2025?" in text
    assert "Assistant: It produced 4,200 turbines." in text
    assert "[1]" not in text and "Last question: And in 2024?" in text


class _Model:
    def __init__(self, reply: str | None) -> None:
        self.reply = reply
        self.seen: list[list[dict[str, Any]]] = []

    async def achat(self, messages: list[dict[str, Any]], *, max_tokens: int | None = None) -> str:
        self.seen.append(messages)
        if self.reply is None:
            raise GenerateError("down")
        return self.reply


def test_acondense_uses_a_chat_model() -> None:
    model = _Model('Standalone question: "What was the Oslo plant turbine output in 2024?"\nextra')
    assert isinstance(model, ChatModel)
    out = asyncio.run(acondense(HISTORY, "And in 2024?", model))
    assert out == "What was the Oslo plant turbine output in 2024?"
    assert len(model.seen) == 1


def test_acondense_falls_back_to_the_rule() -> None:
    for model in (_Model(None), _Model("  "), object()):
        assert asyncio.run(acondense(HISTORY, "And in 2024?", model)) == condense(HISTORY, "And in 2024?")
