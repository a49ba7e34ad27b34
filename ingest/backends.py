"""Registries of backends keyed by name: one ``register`` line per backend.

An entry names its factory as ``"module:callable"`` (imported only when the backend is built, so
heavy dependencies load lazily) and its own pydantic config model: a subclass of its config section
holding the settings only it reads; the section validates as that model when ``backend`` names it
(``rag.sections``: the tagged union, which also refuses a setting of another backend). ``ingest/``
and ``rag/`` share this one class (``rag.registry`` re-exports it); ``ingest`` must not import ``rag``.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Generic, TypeVar

from pydantic import BaseModel

from ingest.errors import ConfigError

T = TypeVar("T")


@dataclass(frozen=True)
class Entry:
    """One registered backend."""

    name: str
    target: str
    """``"module:callable"``; ``"Class.from_config"`` resolves through the class."""
    config: type[BaseModel] | None = None
    """The backend's own settings model (a subclass of its config section); None: it reads only
    the section's shared ones."""


class Registry(Generic[T]):
    """Backends of one kind (``embedder``, ``store`` ...), configured in the section ``section``."""

    def __init__(self, kind: str, section: str = "") -> None:
        self.kind = kind
        self.section = section or kind
        self._entries: dict[str, Entry] = {}

    def register(self, name: str, target: str, *, config: type[BaseModel] | None = None) -> None:
        """Add a backend; a name registered twice is refused (a second module would silently win)."""
        if name in self._entries:
            raise ConfigError(f"{self.kind} backend {name!r} is already registered "
                              f"({self._entries[name].target}); pick another name for {target}")
        if ":" not in target:
            raise ConfigError(f"{self.kind} backend {name!r}: target {target!r} is not 'module:callable'")
        self._entries[name] = Entry(name, target, config)

    def names(self) -> list[str]:
        return sorted(self._entries)

    def entry(self, name: str) -> Entry:
        """The entry of ``name``; an unknown name fails, listing the known ones."""
        entry = self._entries.get(name)
        if entry is None:
            raise ConfigError(f"unknown {self.kind} backend {name!r}; known: {', '.join(self.names())}")
        return entry

    def factory(self, name: str) -> Callable[..., T]:
        """The callable that builds backend ``name`` (its module imported now)."""
        module_name, _, attr = self.entry(name).target.partition(":")
        obj: object = importlib.import_module(module_name)
        for part in attr.split("."):
            obj = getattr(obj, part)
        factory: Callable[..., T] = obj  # type: ignore[assignment]
        return factory
