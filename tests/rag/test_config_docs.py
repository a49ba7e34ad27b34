"""Every config field says what it does: a docstring right under it (the README sends readers here)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def _undocumented(path: Path) -> list[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    out = []
    for cls in (n for n in tree.body if isinstance(n, ast.ClassDef)):
        for node, after in zip(cls.body, [*cls.body[1:], None], strict=True):
            if not (isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name)):
                continue
            name = node.target.id
            if name.startswith("_") or name == "model_config":
                continue
            if not (isinstance(after, ast.Expr) and isinstance(after.value, ast.Constant)
                    and isinstance(after.value.value, str)):
                out.append(f"{cls.name}.{name}")
    return out


@pytest.mark.parametrize("module", ["rag/config.py", "rag/backend_settings.py", "ingest/config.py"])
def test_every_config_field_has_a_docstring(module: str) -> None:
    assert _undocumented(ROOT / module) == []
