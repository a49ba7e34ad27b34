"""``ingest`` is the bottom layer: it must never import ``rag``."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import ingest


def test_no_rag_imports_in_source() -> None:
    for path in Path(ingest.__file__).parent.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else \
                [node.module or ""] if isinstance(node, ast.ImportFrom) else []
            assert not [n for n in names if n == "rag" or n.startswith("rag.")], path


def test_importing_ingest_loads_no_rag() -> None:
    code = ("import sys, ingest.parse, ingest.discover, ingest.manifest, ingest.samples; "
            "print(sorted(m for m in sys.modules if m == 'rag' or m.startswith('rag.')))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
