"""Prompt texts live in ``prompts/`` as files; this module only reads them."""

from __future__ import annotations

from functools import cache
from importlib import resources

from rag.errors import ConfigError


@cache
def load_prompt(name: str) -> str:
    """Text of ``prompts/<name>`` (name includes the extension, e.g. ``e5v_text.txt``).

    A single trailing newline (editors add one) is stripped; everything else is kept verbatim."""
    ref = resources.files("prompts").joinpath(name)
    if not ref.is_file():
        raise ConfigError(f"prompt file prompts/{name} not found")
    text = ref.read_text(encoding="utf-8")
    return text[:-1] if text.endswith("\n") else text
