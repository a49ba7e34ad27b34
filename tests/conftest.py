"""Session-wide fixtures: a tiny real LLaVA-NeXT checkpoint and real vLLM CPU servers serving it.

- ``tiny_llava_dir``: a randomly initialised LLaVA-NeXT (E5-V's architecture) with its tokenizer
  and processor, built once into ``.cache/tiny/llava-next`` (reused across sessions).
- ``vllm_chat_server``: a :class:`~rag.testing.vllm_server.VllmServer` serving it for chat
  completions as model ``tiny``; ``.url`` is ``http://127.0.0.1:PORT/v1``.
- ``vllm_embed_server``: the same model on vLLM's pooling runner with the E5-V recipe.

The servers need ``.venv-vllm`` (``scripts/setup-vllm-cpu.sh .venv-vllm``); without it their tests
are skipped, unless ``MMRAG_REQUIRE_VLLM=1`` (CI), where a missing venv fails them.
``MMRAG_VLLM_PYTHON`` points at another interpreter; ``MMRAG_VLLM_STARTUP_S`` (default 240) is how
long a server may take to answer ``/health`` (about 30 s on an idle 2-core machine, 100 s when busy).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from rag.testing.tiny import build_tiny_llava
from rag.testing.vllm_server import DEFAULT_PYTHON, VllmServer, resolve_python

REPO_ROOT = Path(__file__).resolve().parents[1]
TINY_CACHE = REPO_ROOT / ".cache" / "tiny"

os.environ.setdefault("HF_HUB_OFFLINE", "1")  # tests never download weights


@pytest.fixture(scope="session")
def tiny_llava_dir() -> Path:
    """Folder of the tiny LLaVA-NeXT checkpoint (built on first use, a few seconds)."""
    return build_tiny_llava(TINY_CACHE / "llava-next", seed=0)


def _vllm_python() -> Path:
    python = resolve_python(os.environ.get("MMRAG_VLLM_PYTHON", DEFAULT_PYTHON))
    if not python.exists():
        reason = f"no vLLM environment at {python}: run scripts/setup-vllm-cpu.sh .venv-vllm"
        if os.environ.get("MMRAG_REQUIRE_VLLM") == "1":
            pytest.fail(f"MMRAG_REQUIRE_VLLM=1 but {reason}", pytrace=False)
        pytest.skip(reason)
    return python


def _serve(model_dir: Path, mode: str) -> Iterator[VllmServer]:
    startup_s = float(os.environ.get("MMRAG_VLLM_STARTUP_S", "240"))
    server = VllmServer(model_dir, python=_vllm_python(), mode=mode,  # type: ignore[arg-type]
                        startup_timeout_s=startup_s)
    with server:
        yield server


@pytest.fixture(scope="session")
def vllm_chat_server(tiny_llava_dir: Path) -> Iterator[VllmServer]:
    """A real vLLM server answering ``/v1/chat/completions`` for model ``tiny`` (about 30-50 s to start)."""
    yield from _serve(tiny_llava_dir, "generate")


@pytest.fixture(scope="session")
def vllm_embed_server(tiny_llava_dir: Path) -> Iterator[VllmServer]:
    """A real vLLM pooling server answering ``/v1/embeddings`` for model ``tiny`` with the E5-V recipe."""
    yield from _serve(tiny_llava_dir, "embed")
