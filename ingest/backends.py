"""Registries of backends keyed by name: one ``register`` line per backend.

An entry names its factory as ``"module:callable"`` (imported only when the backend is built, so
heavy dependencies load lazily) and its own pydantic config model: the settings only it reads (a
mixin of the flat config section, so YAML and ``--set`` keys stay ``embed.url``, ``store.url``). A
setting that belongs to another backend's model is refused with the two names
(:meth:`Registry.check_fields`). ``ingest/`` and
``rag/`` share this one class (``rag.registry`` re-exports it); ``ingest`` must not import ``rag``.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

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
    """The backend's own settings (a mixin of its config section); None: it reads only shared ones."""

    @property
    def fields(self) -> frozenset[str]:
        """Names of the settings in :attr:`config`."""
        return frozenset(self.config.model_fields) if self.config is not None else frozenset()


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

    def check_fields(self, name: str, given: Mapping[str, Any]) -> None:
        """Refuse settings in ``given`` (fields set to a non-default value) that other backends read
        and ``name`` does not: ``embed.url`` with ``embed.backend: minilm`` is a mistake, not a no-op."""
        if name not in self._entries:
            return  # the unknown name fails where it is built, listing the known ones
        own = self._entries[name].fields
        specific = {f: e for e in self._entries.values() for f in e.fields}
        for field in sorted(given):
            if field in specific and field not in own:
                users = sorted(e.name for e in self._entries.values() if field in e.fields)
                raise ConfigError(f"{self.section}.{field} applies to {self.section}.backend "
                                  f"{' or '.join(users)}, not {name!r}: remove it or set "
                                  f"{self.section}.backend: {users[0]}")
