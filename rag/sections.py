"""Bases of the config sections, and the tagged union of the sections that name a ``backend``.

A section with a ``backend`` (``embed``, ``store``, ``generate``) validates as the model its backend
registered (``EMBEDDERS.register("vllm", ..., config=VllmEmbedConfig)``); a backend registered
without one reads only the shared settings and gets the section's own class. So ``embed.url``
exists only on ``VllmEmbedConfig``, and code that reads it narrows (``isinstance``) or is the
vLLM embedder's factory, which receives that model.

Why the registry picks the member and not ``Annotated[Union[...], Field(discriminator="backend")]``:
a static union lists its members in ``rag/config.py``, a second edit for every new backend; the
registry line already names the model, so a new backend stays one module plus one line.
"""

from __future__ import annotations

import importlib
from collections.abc import Mapping
from typing import Any, ClassVar, Self

from pydantic import BaseModel, ConfigDict, ModelWrapValidatorHandler, model_validator
from pydantic_core import InitErrorDetails, PydanticCustomError, ValidationError

from ingest.backends import Registry
from rag.errors import ConfigError


class Section(BaseModel):
    """Base of every config section: unknown keys are refused."""

    model_config = ConfigDict(extra="forbid")


class BackendSection(Section):
    """Base of a section whose ``backend`` chooses the model it validates as (see the module doc).

    ``EmbedConfig.model_validate(data)``, a profile and ``--set embed.backend=X`` give the backend's
    model; ``__init__`` builds only its own class: ``EdgeStoreConfig(path=...)``, not
    ``StoreConfig(path=...)`` (refused, naming the class to build)."""

    backends: ClassVar[str] = ""
    """``"module:REGISTRY"`` of the section's backends; imported when first validated (the
    registries' modules import the sections, so they cannot be imported here)."""

    @classmethod
    def root(cls) -> type[BackendSection]:
        """The section's own class (``EmbedConfig``), which every backend's model subclasses."""
        return next(c for c in cls.__mro__ if BackendSection in c.__bases__)

    @classmethod
    def registry(cls) -> Registry[Any]:
        """The registry of the section's backends (:attr:`backends`)."""
        module, _, name = cls.root().backends.partition(":")
        registry: Registry[Any] = getattr(importlib.import_module(module), name)
        return registry

    @classmethod
    def model_of(cls, backend: str) -> type[BackendSection]:
        """The model ``backend`` validates as; an unknown name fails, listing the known ones."""
        root = cls.root()
        model = cls.registry().entry(backend).config or root
        if not (isinstance(model, type) and issubclass(model, root)):
            raise TypeError(f"{root.__name__}: backend {backend!r} registered {model!r}, not a subclass")
        return model

    @classmethod
    def _backend_in(cls, data: Mapping[str, Any]) -> str:
        return str(data.get("backend", cls.model_fields["backend"].default))

    def __init__(self, /, **data: Any) -> None:
        # The tagged union picks a class before validating; __init__ already has one, so it
        # builds only the class its backend reads (pydantic cannot swap self for another model).
        backend = type(self)._backend_in(data)
        try:
            model = type(self).model_of(backend)
        except ConfigError:
            model = type(self)  # the unknown name fails in validation, with its key
        if model is not type(self):
            raise ConfigError(f"{self.registry().section}.backend {backend!r} reads {model.__name__}: "
                              f"build {model.__name__}(...) or {self.root().__name__}.model_validate(...)")
        super().__init__(**data)

    @model_validator(mode="wrap")
    @classmethod
    def _as_backend_model(cls, data: Any, handler: ModelWrapValidatorHandler[Self]) -> Self:
        if not isinstance(data, Mapping):
            return handler(data)  # an instance passes as it is
        backend = cls._backend_in(data)
        try:
            model = cls.model_of(backend)
        except ConfigError as exc:
            raise _error("backend", backend, str(exc)) from None
        data = cls._own_fields(model, backend, data)
        if model is cls:
            return handler(data)
        if issubclass(model, cls):
            return model.model_validate(data)  # a subclass of cls: a Self
        raise _error("backend", backend, f"{cls.registry().section}.backend {backend!r} reads "
                     f"{model.__name__}, not {cls.__name__}")

    @classmethod
    def _own_fields(cls, model: type[BackendSection], backend: str, data: Mapping[str, Any]) -> dict[str, Any]:
        """``data`` without the settings of other backends that keep their default (a profile
        switched by ``--set embed.backend=vllm`` still spells out e5small's ``threads: 0``); one
        set to anything else is a mistake, refused naming the backends that read it."""
        registry, root = cls.registry(), cls.root()
        readers: dict[str, list[str]] = {}
        for name in registry.names():
            for field in cls.model_of(name).model_fields.keys() - root.model_fields.keys():
                readers.setdefault(field, []).append(name)
        out = {}
        for key, value in data.items():
            users = readers.get(key, [])
            if key in model.model_fields or not users:
                out[key] = value  # its own, or unknown to every backend (refused as an unknown key)
            elif value != cls.model_of(users[0]).model_fields[key].get_default(call_default_factory=True):
                section = registry.section
                raise _error(key, value, f"{section}.{key} applies to {section}.backend {' or '.join(users)}, "
                             f"not {backend!r}: remove it or set {section}.backend: {users[0]}")
        return out


def _error(key: str, value: Any, message: str) -> ValidationError:
    """A validation error at ``section.key`` (pydantic prefixes the section), so a profile's error
    names the key and its value like every other."""
    error = PydanticCustomError("backend_setting", "{message}", {"message": message})  # no template
    detail: InitErrorDetails = {"type": error, "loc": (key,), "input": value}
    return ValidationError.from_exception_data("backend settings", [detail])
