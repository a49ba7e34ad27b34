"""The folder layout is the architecture: imports point down only."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    out: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out |= {a.name.split(".")[0] for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            out.add(node.module.split(".")[0])
    return out


def test_ingest_never_imports_rag() -> None:
    offenders = [str(p.relative_to(ROOT)) for p in (ROOT / "ingest").rglob("*.py") if "rag" in _imports(p)]
    assert offenders == []


def test_prompts_and_configs_hold_no_code() -> None:
    for folder in ("prompts", "configs"):
        code = [p.name for p in (ROOT / folder).iterdir() if p.suffix == ".py" and p.stat().st_size > 0]
        assert code == [], f"{folder}/ must hold data files only: {code}"


def test_import_rag_is_light() -> None:
    import subprocess
    import sys

    out = subprocess.run([sys.executable, "-c", "import rag, sys; print('torch' in sys.modules)"],
                         capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
