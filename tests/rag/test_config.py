"""Profiles load, validate, and take environment and explicit overrides in that order."""

from __future__ import annotations

from pathlib import Path

import pytest

from rag.config import Settings, env_overrides, load_settings, profile_names
from rag.errors import ConfigError


@pytest.mark.parametrize("name", ["cpu", "default", "test"])
def test_shipped_profiles_load(name: str) -> None:
    s = load_settings(name, environ={})
    assert isinstance(s, Settings)
    assert s.profile == name


def test_profiles_listed() -> None:
    assert {"cpu", "default", "test"} <= set(profile_names())


def test_env_overrides_store_path(tmp_path: Path) -> None:
    s = load_settings("cpu", environ={"MMRAG__STORE__PATH": str(tmp_path / "ix"), "MMRAG__RETRIEVE__K": "9"})
    assert s.store.path == str(tmp_path / "ix")
    assert s.retrieve.k == 9
    assert s.media_dir == tmp_path / "ix" / "media"


def test_explicit_overrides_beat_environment() -> None:
    s = load_settings("cpu", {"retrieve.k": 3}, environ={"MMRAG__RETRIEVE__K": "9"})
    assert s.retrieve.k == 3


def test_env_parsing() -> None:
    assert env_overrides({"MMRAG__INGEST__OCR": "none", "OTHER": "x", "MMRAG__EMBED__CACHE": "false"}) == {
        "ingest.ocr": "none", "embed.cache": False}


def test_unknown_key_names_the_key(tmp_path: Path) -> None:
    f = tmp_path / "bad.yaml"
    f.write_text("store:\n  pathh: /x\n")
    with pytest.raises(ConfigError, match=r"bad\.yaml: store\.pathh: unknown key"):
        load_settings(f, environ={})


def test_bad_value_names_key_and_value() -> None:
    with pytest.raises(ConfigError, match=r"retrieve\.k=0"):
        load_settings("cpu", {"retrieve.k": 0}, environ={})
    with pytest.raises(ConfigError, match=r"embed\.device='tpu'"):
        load_settings("cpu", environ={"MMRAG__EMBED__DEVICE": "tpu"})


def test_contradictory_store_settings_refused() -> None:
    with pytest.raises(ConfigError, match=r"store\.url"):
        load_settings("cpu", {"store.backend": "server"}, environ={})
    with pytest.raises(ConfigError, match=r"set store\.backend: server"):
        load_settings("cpu", {"store.url": "http://q:6333"}, environ={})


def test_unknown_profile_lists_the_shipped_ones() -> None:
    with pytest.raises(ConfigError, match=r"unknown profile 'gpuu'.*cpu"):
        load_settings("gpuu", environ={})


def test_missing_file_and_bad_yaml(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="not found"):
        load_settings(tmp_path / "nope.yaml", environ={})
    f = tmp_path / "broken.yaml"
    f.write_text("store: [unclosed\n")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_settings(f, environ={})
