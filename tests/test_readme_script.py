"""The README's Python example, verbatim, run the way people run it: saved as ``example.py`` with no
``if __name__ == "__main__":`` guard, and fed to ``python -`` on stdin (a heredoc). Each runs in a
fresh interpreter on a small folder (two PDFs, so the CPU profile's two parse workers start) and
must print the answer with its citation, not the abstain sentence."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from rag.generate.prompting import abstain_sentence
from tests.pdfs import write_report

REPO_ROOT = Path(__file__).resolve().parents[1]
TIMEOUT_S = 300


def readme_example() -> str:
    """The README's ``python`` block that builds a ``Pipeline`` from the ``cpu`` profile."""
    blocks = re.findall(r"```python\n(.*?)```", (REPO_ROOT / "README.md").read_text(encoding="utf-8"), re.S)
    (example,) = [b for b in blocks if 'Pipeline.from_config("cpu")' in b]
    assert "__main__" not in example
    assert '"reports/"' in example and "What was revenue in Europe in 2025?" in example
    return example


@pytest.fixture
def workdir(tmp_path: Path) -> Path:
    """A working directory holding ``reports/``: the folder the example ingests (its index goes to
    ``.mmrag/`` here too, the profile's relative default)."""
    write_report(tmp_path / "reports" / "annual_2025.pdf",
                 {1: "Revenue in Europe in 2025 was 48.2 million euros, up 9 percent on 2024.",
                  2: "Revenue in Asia in 2025 was 31.5 million euros."}, "Annual report 2025")
    write_report(tmp_path / "reports" / "hr.pdf", {1: "Headcount grew to 812 employees."}, "HR report")
    return tmp_path


def run_python(args: list[str], cwd: Path, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MMRAG__")}
    env["PYTHONPATH"] = os.pathsep.join([str(REPO_ROOT), env.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    env["HF_HUB_OFFLINE"] = "1"
    return subprocess.run([sys.executable, *args], cwd=cwd, input=stdin, capture_output=True, text=True,
                          env=env, timeout=TIMEOUT_S, check=False)


def assert_answers(proc: subprocess.CompletedProcess[str]) -> None:
    detail = f"exit {proc.returncode}\nstdout:\n{proc.stdout[-2000:]}\nstderr:\n{proc.stderr[-4000:]}"
    assert proc.returncode == 0, detail
    assert abstain_sentence() not in proc.stdout, detail
    assert "48.2" in proc.stdout, detail
    assert "annual_2025.pdf" in proc.stdout, detail  # the citation's file
    assert "parser crashed" not in proc.stderr, detail


def test_readme_example_saved_as_a_script_answers(workdir: Path) -> None:
    (workdir / "example.py").write_text(readme_example(), encoding="utf-8")
    assert_answers(run_python(["example.py"], workdir))


def test_readme_example_fed_on_stdin_answers(workdir: Path) -> None:
    assert_answers(run_python(["-"], workdir, stdin=readme_example()))
