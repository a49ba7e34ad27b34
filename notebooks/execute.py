"""Run the notebooks top to bottom and save them with their outputs (``python notebooks/execute.py [names]``).

Outputs are kept small and reproducible: temporary folders become ``<tmp>`` and execution timing
metadata is dropped, so a re-run changes only what the notebook really shows.
"""

from __future__ import annotations

import argparse
import logging
import re
import tempfile
from pathlib import Path

import nbclient
import nbformat

HERE = Path(__file__).resolve().parent
NAMES = ["quickstart", "evaluate"]
# tempfile.mkdtemp folders as the notebooks name them (``mmrag-quickstart-…``), on any OS's temp dir.
_TMP = re.compile(re.escape(tempfile.gettempdir()) + r"/mmrag-[a-z]+-[A-Za-z0-9_]+")

log = logging.getLogger("notebooks")


def execute(nb: nbformat.NotebookNode, cwd: Path, timeout: int = 900) -> nbformat.NotebookNode:
    """Execute ``nb`` in place in a fresh ``python3`` kernel started in ``cwd``; raises on a failing cell."""
    nbclient.NotebookClient(nb, timeout=timeout, kernel_name="python3",
                            resources={"metadata": {"path": str(cwd)}}).execute()
    return nb


def scrub(nb: nbformat.NotebookNode) -> nbformat.NotebookNode:
    """Drop timing metadata and replace temporary folders in text outputs by ``<tmp>``."""
    for cell in nb.cells:
        cell.metadata.pop("execution", None)
        for out in cell.get("outputs", []):
            if "text" in out:
                out["text"] = _TMP.sub("<tmp>", out["text"])
            for mime, value in out.get("data", {}).items():
                if mime.startswith("text/") and isinstance(value, str):
                    out["data"][mime] = _TMP.sub("<tmp>", value)
    return nb


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("names", nargs="*", default=NAMES, help="notebooks to run (default: all)")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    for name in args.names:
        path = HERE / f"{name}.ipynb"
        nb = nbformat.read(path, as_version=4)
        with tempfile.TemporaryDirectory(prefix="mmrag-nbrun-") as cwd:
            execute(nb, Path(cwd))
        nbformat.write(scrub(nb), path)
        log.info("%s: saved with outputs (%d kB)", path.name, path.stat().st_size // 1024)


if __name__ == "__main__":
    main()
