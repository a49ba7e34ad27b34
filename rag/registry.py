"""Registries of backends keyed by name. Adding a backend is a module plus one ``register`` line."""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import Generic, TypeVar

from rag.errors import ConfigError

T = TypeVar("T")


class Registry(Generic[T]):
    """Maps a name to ``"module:factory"``; modules are imported only when their backend is used,
    so heavy dependencies (torch, vLLM clients) load lazily."""

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self._entries: dict[str, str] = {}

    def register(self, name: str, target: str) -> None:
        self._entries[name] = target

    def names(self) -> list[str]:
        return sorted(self._entries)

    def factory(self, name: str) -> Callable[..., T]:
        target = self._entries.get(name)
        if target is None:
            raise ConfigError(f"unknown {self.kind} backend {name!r}; known: {', '.join(self.names())}")
        module_name, _, attr = target.partition(":")
        obj: object = importlib.import_module(module_name)
        for part in attr.split("."):  # "Class.from_config" resolves through the class
            obj = getattr(obj, part)
        factory: Callable[..., T] = obj  # type: ignore[assignment]
        return factory
