"""The language of a question, for the words an answer is written in (prompts, abstention).

Only what mmrag writes in has to be told apart: Korean and English (the fallback). A question is
Korean when at least half of its words that hold letters hold Hangul: ``영업이익은 얼마인가?`` and
``HX-7720-K 교체 주기는?`` are Korean, ``What is 영업이익?`` is English.
"""

from __future__ import annotations

from typing import Literal

from ingest.text.hangul import has_hangul

Language = Literal["en", "ko"]
LANGUAGES: tuple[Language, ...] = ("en", "ko")
"""Languages with their own prompts and fixed sentences; ``en`` is the fallback."""


def question_language(text: str) -> Language:
    """``ko`` when at least half the lettered words of ``text`` hold Hangul, else ``en``."""
    words = [w for w in text.split() if any(c.isalpha() for c in w)]
    korean = sum(has_hangul(w) for w in words)
    return "ko" if korean and 2 * korean >= len(words) else "en"
