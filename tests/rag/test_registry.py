"""Backends plug in by one registry line: names are unique, unknown names and settings meant for
another backend fail with the names, and every shipped profile still loads as its YAML says."""

from __future__ import annotations

from typing import Any

import pytest
import yaml
from pydantic import ValidationError

from ingest.backends import Registry
from rag.backend_settings import (
    E5SmallEmbedConfig,
    EdgeStoreConfig,
    ExtractiveGenerateConfig,
    ServerStoreConfig,
    VllmEmbedConfig,
)
from rag.config import EmbedConfig, GenerateConfig, Settings, StoreConfig, load_settings, profile_names
from rag.embed.base import EMBEDDERS
from rag.errors import ConfigError
from rag.generate.base import GENERATORS
from rag.rerank import RERANKERS
from rag.sections import BackendSection
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
    # A value equal to the default is no mistake (a profile may spell a default out): it is dropped.
    s = load_settings("cpu", {"store.url": "", "embed.batch_tokens": 4096}, environ={})
    assert isinstance(s.store, EdgeStoreConfig) and not hasattr(s.store, "url")


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
    settings = load_settings(name, environ={})
    loaded = _flatten(settings.model_dump(mode="json"))
    # The defaults of each section as the model its backend reads (e5small's `threads` ...).
    own = {key: type(value).model_validate({}).model_dump(mode="json") for key, value in settings
           if isinstance(value, BackendSection)}
    defaults = _flatten(Settings().model_dump(mode="json") | own)
    given = _flatten(raw)
    for key, value in loaded.items():
        expected = given.get(key, defaults[key]) if key != "profile" else name
        assert value == expected or (isinstance(value, float) and value == float(expected)), key


def test_an_unknown_store_backend_names_the_known_ones() -> None:
    with pytest.raises(ConfigError, match="unknown store backend 'redis'; known: edge, local, server"):
        load_settings("cpu", {"store.backend": "redis"}, environ={})


def test_each_section_validates_as_the_model_its_backend_registered() -> None:
    for registry, section in ((EMBEDDERS, EmbedConfig), (STORES, StoreConfig), (GENERATORS, GenerateConfig)):
        for name in registry.names():
            model = registry.entry(name).config or section
            assert issubclass(model, section), (name, model)  # its keys stay `section.field`
            assert type(section.model_validate({"backend": name, **_required(name)})) is model
    assert EMBEDDERS.entry("minilm").config is None  # reads only shared settings
    assert set(ServerStoreConfig.model_fields) - set(StoreConfig.model_fields) == {
        "url", "api_key", "shard_number", "replication_factor", "write_consistency_factor"}
    s = load_settings("cpu", environ={})
    assert (type(s.embed), type(s.store), type(s.generate)) == (
        E5SmallEmbedConfig, EdgeStoreConfig, ExtractiveGenerateConfig)
    assert not hasattr(s.store, "url") and not hasattr(s.embed, "url")
    assert s.model_dump()["embed"]["threads"] == 0  # dumped as its own model, not the annotated section
    # The Ray engine ships settings to its actors as JSON: they come back as the same models.
    remote = load_settings("cpu", {"store.backend": "server", "store.url": "http://h:6333"}, environ={})
    assert Settings.model_validate_json(remote.model_dump_json()) == remote


def _required(backend: str) -> dict[str, Any]:
    return {"url": "http://h:6333"} if backend == "server" else {}


def test_switching_the_backend_revalidates_as_the_new_model() -> None:
    """cpu.yaml spells out e5small's defaults (``threads: 0`` ...): switching the backend with
    ``--set`` drops them, while a value that would change something is refused."""
    s = load_settings("cpu", {"embed.backend": "vllm", "embed.url": "http://h:8001/v1"}, environ={})
    assert isinstance(s.embed, VllmEmbedConfig) and not hasattr(s.embed, "threads")
    assert (s.embed.device, s.embed.query_batch_wait_ms) == ("cpu", 5)  # the shared ones stay
    with pytest.raises(ConfigError, match=r"embed\.threads=2: embed\.threads applies to embed\.backend "
                                          r"e5small or minilm-int8, not 'vllm'"):
        load_settings("cpu", {"embed.backend": "vllm", "embed.threads": 2}, environ={})
    with pytest.raises(ConfigError, match=r"generate\.model='llava-hf/llava-v1\.6-mistral-7b-hf': "
                                          r"generate\.model applies to generate\.backend openai, not 'extractive'"):
        load_settings("default", {"generate.backend": "extractive", "generate.urls": []}, environ={})


def test_an_unknown_embedder_fails_when_loaded() -> None:
    with pytest.raises(ConfigError, match=r"embed\.backend='e5vv': unknown embedder backend 'e5vv'; known: e5small"):
        load_settings("cpu", {"embed.backend": "e5vv"}, environ={})


def test_a_section_built_directly_must_be_its_backends_model() -> None:
    """``__init__`` cannot swap in another class: it names the one to build."""
    with pytest.raises(ConfigError, match=r"store\.backend 'edge' reads EdgeStoreConfig: build EdgeStoreConfig"):
        StoreConfig(path="x")
    assert StoreConfig(backend="local").backend == "local"  # a backend without settings of its own
    assert EdgeStoreConfig(path="x").optimize_after == 20_000
    with pytest.raises(ValidationError, match="reads E5VEmbedConfig, not VllmEmbedConfig"):
        VllmEmbedConfig.model_validate({"backend": "e5v"})
