"""Backends plug in by one registry line: names are unique, unknown names and settings meant for
another backend fail with the names, and every shipped profile still loads as its YAML says."""

from __future__ import annotations

from typing import Any

import pytest
import yaml

from ingest.backends import Registry
from rag.config import Settings, load_settings, profile_names
from rag.embed.base import EMBEDDERS
from rag.errors import ConfigError
from rag.generate.base import GENERATORS
from rag.rerank import RERANKERS
from rag.store.base import STORES


def test_a_name_registered_twice_is_refused() -> None:
    reg: Registry[Any] = Registry("widget")
    reg.register("a", "json:loads")
    with pytest.raises(ConfigError, match=r"widget backend 'a' is already registered \(json:loads\)"):
        reg.register("a", "json:dumps")
    assert reg.factory("a")("[1]") == [1]
    with pytest.raises(ConfigError, match="unknown widget backend 'b'; known: a"):
        reg.factory("b")


def test_shipped_registries_hold_one_entry_per_backend() -> None:
    assert STORES.names() == ["edge", "local", "server"]
    assert STORES.entry("local").target != STORES.entry("server").target  # two backends, no switch inside
    assert {"e5v", "vllm", "e5small", "minilm"} <= set(EMBEDDERS.names())
    assert GENERATORS.names() == ["extractive", "openai"]
    assert {"none", "embedding"} <= set(RERANKERS.names())


@pytest.mark.parametrize(("override", "message"), [
    ({"embed.url": "http://h:8001/v1"}, r"embed\.url applies to embed\.backend vllm, not 'e5small'"),
    ({"embed.batch_tokens": 8192}, r"embed\.batch_tokens applies to embed\.backend e5v, not 'e5small'"),
    ({"store.shard_number": 3}, r"store\.shard_number applies to store\.backend server, not 'edge'"),
    ({"store.url": "http://h:6333"}, r"store\.url applies to store\.backend server, not 'edge'"),
    ({"generate.urls": ["http://h:8000/v1"]}, r"generate\.urls applies to generate\.backend openai"),
])
def test_a_setting_for_another_backend_is_refused(override: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        load_settings("cpu", override, environ={})


def test_the_same_settings_pass_with_their_backend() -> None:
    s = load_settings("cpu", {"embed.backend": "vllm", "embed.url": "http://h:8001/v1",
                              "store.backend": "server", "store.url": "http://h:6333", "store.shard_number": 3,
                              "generate.backend": "openai", "generate.urls": ["http://h:8000/v1"]}, environ={})
    assert (s.embed.url, s.store.shard_number, s.generate.urls) == ("http://h:8001/v1", 3, ["http://h:8000/v1"])
    # A value equal to the default is no mistake (a profile may spell a default out).
    assert load_settings("cpu", {"store.url": "", "embed.batch_tokens": 4096}, environ={}).store.url == ""


def _flatten(data: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in data.items():
        if isinstance(value, dict) and not prefix:  # sections only: a field's own dict is one value
            out |= _flatten(value, f"{prefix}{key}.")
        else:
            out[f"{prefix}{key}"] = value
    return out


@pytest.mark.parametrize("name", profile_names())
def test_every_shipped_profile_loads_to_what_its_yaml_says(name: str) -> None:
    """Each key of configs/<name>.yaml is in effect, and every other field keeps its default."""
    from importlib import resources

    raw = yaml.safe_load(resources.files("configs").joinpath(f"{name}.yaml").read_text(encoding="utf-8"))
    loaded = _flatten(load_settings(name, environ={}).model_dump(mode="json"))
    defaults = _flatten(Settings().model_dump(mode="json"))
    given = _flatten(raw)
    for key, value in loaded.items():
        expected = given.get(key, defaults[key]) if key != "profile" else name
        assert value == expected or (isinstance(value, float) and value == float(expected)), key


def test_an_unknown_store_backend_names_the_known_ones() -> None:
    with pytest.raises(ConfigError, match="unknown store backend 'redis'; known: edge, local, server"):
        load_settings("cpu", {"store.backend": "redis"}, environ={})


def test_each_entry_carries_its_own_config_model_and_the_section_holds_it() -> None:
    from rag.config import EmbedConfig, GenerateConfig, StoreConfig

    for registry, section in ((EMBEDDERS, EmbedConfig), (STORES, StoreConfig), (GENERATORS, GenerateConfig)):
        for name in registry.names():
            model = registry.entry(name).config
            if model is not None:
                assert issubclass(section, model), (name, model)  # its keys stay `section.field`
    assert STORES.entry("server").fields == {"url", "api_key", "shard_number", "replication_factor",
                                             "write_consistency_factor"}
    assert EMBEDDERS.entry("minilm").config is None  # reads only shared settings
