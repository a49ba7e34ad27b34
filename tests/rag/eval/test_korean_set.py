"""The Korean evaluation set builds, and its questions point at pages that hold their answers."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pymupdf

from rag.eval.dataset import load_qa

SET = Path(__file__).parents[3] / "scripts" / "korean_eval"


def _build(out: Path) -> list[Path]:
    spec = importlib.util.spec_from_file_location("korean_eval_build", SET / "build.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.build(out)


def test_every_question_names_a_built_document_and_a_page_with_its_answer(tmp_path: Path) -> None:
    docs = {p.name: p for p in _build(tmp_path)}
    items = load_qa(SET / "qa.jsonl")
    assert len(items) >= 30
    assert sum(not q.answerable for q in items) >= 4
    assert any(all(ord(ch) < 128 for ch in q.question) for q in items)  # English questions too
    for q in items:
        assert q.doc in docs, q.id
        doc = pymupdf.open(docs[q.doc])
        for page in q.pages:
            assert page <= doc.page_count, q.id
            text = doc[page - 1].get_text().replace("\n", " ")
            if q.doc == "isms_notice_scan.pdf":
                assert text.strip() == ""  # image-only: the answer is in pixels
            elif q.evidence_type != ["table"]:
                assert q.answer.split()[0] in text, q.id
