"""A profile whose parts are not there fails at start with one sentence, not a stack trace."""

from __future__ import annotations

from pathlib import Path

import pytest

from rag.cli import main


def _stats_error(capsys: pytest.CaptureFixture[str], tmp_path: Path, *extra: str) -> str:
    code = main(["optimize", "--index", str(tmp_path / "ix"), *extra])  # builds every part (stats loads none)
    err = capsys.readouterr().err.strip().splitlines()[-1]
    assert code == 2
    assert err.startswith("mmrag: error: ")
    return err


def test_gpu_profile_without_gpu(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    pytest.importorskip("torch")
    import torch

    if torch.cuda.is_available():
        pytest.skip("this machine has a GPU")
    err = _stats_error(capsys, tmp_path, "--config", "default")
    assert "no GPU" in err and "embed.device" in err


def test_weights_not_downloadable(capsys: pytest.CaptureFixture[str], tmp_path: Path,
                                  monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    err = _stats_error(capsys, tmp_path, "--config", "default", "--set", "embed.device=cpu",
                       "--set", "embed.dtype=float32")
    assert "royokong/e5-v" in err and "embed.model" in err


def test_no_generation_server_at_url(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    err = _stats_error(capsys, tmp_path, "--config", "cpu", "--set", "generate.backend=openai",
                       "--set", "generate.urls=['http://127.0.0.1:9/v1']")
    assert "no OpenAI-compatible server at http://127.0.0.1:9/v1" in err
