"""Loading QA JSONL: good lines become models; bad ones fail naming the file, the line and the field."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from rag.eval.dataset import DatasetError, load_qa, parse_lines


def _row(**kw: Any) -> dict[str, Any]:
    row: dict[str, Any] = {"id": "q1", "question": "What?", "answer": "18.29%", "doc": "a.pdf",
                           "pages": [5, 3], "evidence_type": ["text", "chart"], "answerable": True,
                           "answer_format": "Float", "source": "x@1"}
    row.update(kw)
    return row


def _write(tmp_path: Path, rows: list[Any]) -> Path:
    p = tmp_path / "qa.jsonl"
    p.write_text("\n".join(r if isinstance(r, str) else json.dumps(r) for r in rows) + "\n", encoding="utf-8")
    return p


def test_load_good_file(tmp_path: Path) -> None:
    p = _write(tmp_path, [_row(), "", _row(id="q2", answer="Not answerable", pages=[], evidence_type=[],
                                           answerable=False, answer_format="None")])
    items = load_qa(p)
    assert [i.id for i in items] == ["q1", "q2"]
    assert items[0].pages == [3, 5]  # sorted
    assert items[0].has_evidence and not items[1].has_evidence
    assert load_qa(p, limit=1)[0].id == "q1"


def test_numbers_and_lists_as_answers_become_text() -> None:
    items = parse_lines([json.dumps(_row(answer=7)), json.dumps(_row(id="q2", answer=["a", 1]))])
    assert items[0].answer == "7"
    assert items[1].answer == "['a', '1']"


def test_extra_fields_are_ignored() -> None:
    assert parse_lines([json.dumps(_row(extra="x"))])[0].id == "q1"


@pytest.mark.parametrize(("line", "message"), [
    ("{not json", r"qa.jsonl:2: not valid JSON"),
    ("[1, 2]", r"qa.jsonl:2: expected a JSON object, got list"),
    (json.dumps(_row(id="q2", question="")), r"qa.jsonl:2: question=''"),
    (json.dumps({k: v for k, v in _row(id="q2").items() if k != "doc"}), r"qa.jsonl:2: doc: missing"),
    (json.dumps(_row(id="q2", pages=[0])), r"qa.jsonl:2: pages=\[0\]: Value error, pages are 1-based"),
    (json.dumps(_row(id="q2", evidence_type=["photo"])), r"qa.jsonl:2: evidence_type.0='photo'"),
    (json.dumps(_row(id="q1")), r"qa.jsonl:2: duplicate id 'q1' \(first on line 1\)"),
])
def test_bad_line_names_file_line_and_field(tmp_path: Path, line: str, message: str) -> None:
    p = _write(tmp_path, [_row(), line])
    with pytest.raises(DatasetError, match=message):
        load_qa(p)


def test_missing_empty_and_binary_files(tmp_path: Path) -> None:
    with pytest.raises(DatasetError, match=r"nope\.jsonl: QA file not found"):
        load_qa(tmp_path / "nope.jsonl")
    (tmp_path / "empty.jsonl").write_text("\n\n", encoding="utf-8")
    with pytest.raises(DatasetError, match=r"empty\.jsonl: holds no questions"):
        load_qa(tmp_path / "empty.jsonl")
    (tmp_path / "bin.jsonl").write_bytes(b"\xff\xfe\x00")
    with pytest.raises(DatasetError, match=r"bin\.jsonl: not UTF-8"):
        load_qa(tmp_path / "bin.jsonl")
    with pytest.raises(DatasetError, match="limit must be at least 1, got 0"):
        load_qa(_write(tmp_path, [_row()]), limit=0)
