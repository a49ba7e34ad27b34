"""Load a QA set: one JSON object a line,
``{id, question, answer, doc, pages, evidence_type, answerable, answer_format, source}``.

``doc`` is a file name relative to the documents folder, ``pages`` are 1-based evidence pages and
``evidence_type`` is a list drawn from text, layout, table, chart, image. Bad input fails with a
:class:`DatasetError` that names the file, the line and the field.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from rag.errors import MmragError

EvidenceType = Literal["text", "layout", "table", "chart", "image"]
EVIDENCE_TYPES: tuple[EvidenceType, ...] = ("text", "layout", "table", "chart", "image")


class DatasetError(MmragError):
    """A QA file is missing, unreadable or holds a bad line."""


class QAItem(BaseModel):
    """One question with its gold answer and evidence pages."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    id: str = Field(min_length=1)
    question: str = Field(min_length=1)
    answer: str
    """Gold answer; ``"Not answerable"`` for unanswerable questions. Numbers are read as strings."""
    doc: str = Field(min_length=1)
    """File name of the document, relative to the documents folder."""
    pages: list[int] = Field(default_factory=list)
    """1-based evidence pages; may be empty for unanswerable questions."""
    evidence_type: list[EvidenceType] = Field(default_factory=list)
    answerable: bool = True
    answer_format: str = ""
    """``Str``, ``Int``, ``Float``, ``List`` or ``None`` in MMLongBench-Doc; free text otherwise."""
    source: str = ""

    @field_validator("answer", mode="before")
    @classmethod
    def _answer_as_text(cls, value: Any) -> Any:
        if isinstance(value, bool):
            return "Yes" if value else "No"
        if isinstance(value, int | float):
            return str(value)
        if isinstance(value, list):
            return str([str(v) for v in value])
        return value

    @field_validator("pages")
    @classmethod
    def _pages_positive(cls, value: list[int]) -> list[int]:
        bad = [p for p in value if p < 1]
        if bad:
            raise ValueError(f"pages are 1-based, got {bad}")
        return sorted(set(value))

    @property
    def has_evidence(self) -> bool:
        """Answerable with at least one evidence page: the questions retrieval metrics score."""
        return self.answerable and bool(self.pages)


def _describe(exc: ValidationError) -> str:
    parts = []
    for err in exc.errors():
        loc = ".".join(str(p) for p in err["loc"]) or "(line)"
        if err["type"] == "missing":
            parts.append(f"{loc}: missing")
        else:
            parts.append(f"{loc}={err.get('input')!r}: {err['msg']}")
    return "; ".join(parts)


def parse_lines(lines: Iterable[str], source: str = "<qa>") -> list[QAItem]:
    """Parse JSONL lines (blank lines and lines starting with ``#`` are skipped). Duplicate ids fail."""
    items: list[QAItem] = []
    seen: dict[str, int] = {}
    for lineno, line in enumerate(lines, start=1):
        text = line.strip()
        if not text or text.startswith("#"):
            continue
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise DatasetError(f"{source}:{lineno}: not valid JSON: {exc.msg} (column {exc.colno})") from None
        if not isinstance(data, dict):
            raise DatasetError(f"{source}:{lineno}: expected a JSON object, got {type(data).__name__}")
        try:
            item = QAItem.model_validate(data)
        except ValidationError as exc:
            raise DatasetError(f"{source}:{lineno}: {_describe(exc)}") from None
        if item.id in seen:
            raise DatasetError(f"{source}:{lineno}: duplicate id {item.id!r} (first on line {seen[item.id]})")
        seen[item.id] = lineno
        items.append(item)
    return items


def load_qa(path: str | Path, limit: int | None = None) -> list[QAItem]:
    """Read a QA JSONL file; ``limit`` keeps the first N questions."""
    p = Path(path)
    if limit is not None and limit < 1:
        raise DatasetError(f"limit must be at least 1, got {limit}")
    try:
        with p.open(encoding="utf-8") as fh:
            items = parse_lines(fh, str(p))
    except FileNotFoundError:
        raise DatasetError(f"{p}: QA file not found") from None
    except UnicodeDecodeError as exc:
        raise DatasetError(f"{p}: not UTF-8 text ({exc.reason} at byte {exc.start})") from None
    if not items:
        raise DatasetError(f"{p}: holds no questions")
    return items[:limit] if limit is not None else items
