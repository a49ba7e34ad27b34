"""The README works as written after its own set-up (``make demo`` installs ``.[all]``): every
``mmrag`` command line it shows parses, the set-up installs every extra those commands need, and its
Python example runs as a script."""

from __future__ import annotations

import re
import shlex
import tomllib
from pathlib import Path

from rag.cli import build_parser

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text(encoding="utf-8")


def _blocks(lang: str) -> list[str]:
    return re.findall(rf"```{lang}\n(.*?)```", README, flags=re.S)


def _mmrag_lines() -> list[str]:
    out = []
    for block in _blocks("bash"):
        for line in block.replace("\\\n", " ").splitlines():
            code = line.split("  #")[0].strip()
            if code.startswith("mmrag "):
                out.append(code)
    return out


def test_every_mmrag_command_of_the_readme_parses() -> None:
    lines = _mmrag_lines()
    assert len(lines) >= 10 and any("--scope" in x for x in lines)
    parser = build_parser()
    for line in lines:
        parser.parse_args(shlex.split(line)[1:])  # an unknown flag or command exits here, naming it


def test_the_readme_set_up_installs_every_extra_its_commands_use() -> None:
    assert "make demo" in README.split("\n## ")[0] and "make test" in README.split("\n## ")[0]
    extras = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["optional-dependencies"]
    assert extras["all"] == ["mmrag[cpu,server,llamaindex,eval,notebooks,ray]"]
    assert "'.[all]'" in (ROOT / "Makefile").read_text()  # what `make demo` installs
    assert "mmrag[all]" in extras["dev"] and any(d.startswith("playwright") for d in extras["dev"])
    # serve + openai client, LlamaIndex adapter, eval baseline + plots, notebooks, the Ray engine
    need = {"server": "fastapi", "llamaindex": "llama-index-core", "eval": "matplotlib", "notebooks": "nbclient",
            "ray": "ray[data]"}  # `--engine ray`
    for extra, package in need.items():
        assert any(d.startswith(package) for d in extras[extra]), (extra, package)

