"""The notebooks: they run top to bottom on the ``cpu`` profile (slow tier), show their plots and cited
regions as images, and the copies in the repo are saved with their outputs."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

NOTEBOOKS = Path(__file__).resolve().parents[1] / "notebooks"
NAMES = ["quickstart", "evaluate"]

# Checks run in the notebook's own kernel after its cells (before a final ``pipe.close()``): they read
# the notebook's variables.
CHECKS = {
    "quickstart": [
        # The highlight is the cited chunk or table, not a frame around the whole page.
        "assert 0 < highlight_share < 0.5, highlight_share",
        "assert 0 < ko_share < 0.5, ko_share",
        # A citation of a whole page is outlined by its page's best text or table (found by search).
        "whole = Citation(n=9, id='p', file=answer.citations[0].file, page=2, kind='page',\n"
        "                 bbox=BBox(x0=0, y0=0, x1=612, y1=792))\n"
        "_, whole_share = highlight(Answer(question=answer.question, text='', abstained=False), whole)\n"
        "assert 0 < whole_share < 0.5, whole_share",
        "assert '842' in ko_answer.text, ko_answer.text",
        "assert ko_answer.citations and ko_answer.citations[0].file.endswith('hanbit_business_report_2025.pdf')",
    ],
    "evaluate": [
        "assert any(q['question'].startswith('2025년') for q in QA)",
        "assert (work / 'eval' / 'summary.json').is_file()",
    ],
}


def _code_outputs(nb: Any) -> list[dict[str, Any]]:
    return [o for cell in nb["cells"] if cell["cell_type"] == "code" for o in cell.get("outputs", [])]


def _pngs(nb: Any) -> list[dict[str, Any]]:
    return [o for o in _code_outputs(nb) if "image/png" in o.get("data", {})]


@pytest.mark.parametrize("name", NAMES)
def test_saved_notebook_has_its_outputs(name: str) -> None:
    """The repo's copy was executed and saved with outputs: every code cell ran, none failed, plots are PNGs."""
    nb = json.loads((NOTEBOOKS / f"{name}.ipynb").read_text(encoding="utf-8"))
    code = [c for c in nb["cells"] if c["cell_type"] == "code"]
    assert all(c.get("execution_count") for c in code), "a code cell was not executed before saving"
    assert not [o for o in _code_outputs(nb) if o.get("output_type") == "error"]
    assert _pngs(nb), f"{name} is saved without an image output"
    text = json.dumps(nb, ensure_ascii=False)
    assert "/tmp/mmrag-" not in text, "temporary paths left in the saved outputs"
    if name == "quickstart":
        assert "842" in text  # the Korean example's answer


@pytest.mark.slow
@pytest.mark.parametrize("name", NAMES)
def test_notebook_runs(name: str, tmp_path: Path) -> None:
    """Top to bottom in a fresh kernel (what `make demo` installs): every cell runs, plots render as PNG."""
    nbformat = pytest.importorskip("nbformat")
    nbclient = pytest.importorskip("nbclient")
    nb = nbformat.read(NOTEBOOKS / f"{name}.ipynb", as_version=4)
    n_code = sum(c.cell_type == "code" for c in nb.cells)
    for cell in nb.cells:  # outputs must come from this run, not from the saved copy
        if cell.cell_type == "code":
            cell.outputs, cell.execution_count = [], None
    at = len(nb.cells) - 1 if nb.cells[-1].source.strip() == "pipe.close()" else len(nb.cells)
    nb.cells[at:at] = [nbformat.v4.new_code_cell(check) for check in CHECKS[name]]
    client = nbclient.NotebookClient(nb, timeout=900, kernel_name="python3",
                                     resources={"metadata": {"path": str(tmp_path)}})
    client.execute()  # raises CellExecutionError on the first failing cell (checks included)
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert len(code) == n_code + len(CHECKS[name])
    assert all(c.execution_count for c in code), "a code cell did not run"
    assert not [o for o in _code_outputs(nb) if o.get("output_type") == "error"]
    assert _pngs(nb), f"{name} shows no image/png output"
