"""API keys: ``Authorization: Bearer KEY``, each key bound to one tenant.

With no keys configured the server is open (meant for loopback use): requests act as the
``default`` tenant for ingest and see every tenant's documents.

``/health`` and ``/metrics`` take a key optionally (:meth:`KeyRing.viewer`): ``server.metrics_key``
shows every tenant's counts, an API key its tenant's own, no key nothing per tenant.
"""

from __future__ import annotations

import hmac
from dataclasses import dataclass

from rag.config import ServerConfig

OPEN_TENANT = "default"


class AuthError(Exception):
    """Missing or unknown API key (HTTP 401)."""


@dataclass(frozen=True)
class Principal:
    """Who is calling."""

    tenant: str
    """Ingest is tagged with this tenant."""
    restricted: bool
    """Whether search, ask, jobs and deletes are limited to ``tenant`` (False only in open mode)."""

    @property
    def search_tenant(self) -> str | None:
        """The tenant filter for retrieval: ``None`` (all) in open mode."""
        return self.tenant if self.restricted else None


@dataclass(frozen=True)
class Viewer:
    """Who reads ``/health`` or ``/metrics``, where a key is optional."""

    operator: bool
    """Holds ``server.metrics_key``."""
    all_tenants: bool
    """May see counts of every tenant: the operator, or anyone on an open server."""
    tenant: str | None = None
    """Otherwise the API key's tenant, whose own counts it may see; None: no tenant data at all."""


class KeyRing:
    """Resolves bearer tokens to principals in constant time per key."""

    def __init__(self, cfg: ServerConfig) -> None:
        self._keys = [(key.encode(), tenant) for key, tenant in cfg.api_keys.items()]
        for key, tenant in self._keys:
            if not key.strip() or not tenant.strip():
                raise ValueError("server.api_keys: keys and tenants must be non-empty strings")
        if cfg.metrics_key is not None and not cfg.metrics_key.strip():
            raise ValueError("server.metrics_key: must be a non-empty string when set")
        if cfg.metrics_key is not None and cfg.metrics_key in cfg.api_keys:
            raise ValueError("server.metrics_key: must differ from every API key")
        self._metrics_key = cfg.metrics_key.encode() if cfg.metrics_key else None

    @property
    def enabled(self) -> bool:
        return bool(self._keys)

    @property
    def metrics_protected(self) -> bool:
        """Whether ``/metrics`` needs ``server.metrics_key``."""
        return self._metrics_key is not None

    def viewer(self, authorization: str | None) -> Viewer:
        """What a caller of ``/health`` or ``/metrics`` may see; a key that is given must be valid
        (raises :class:`AuthError`)."""
        if authorization and self._metrics_key is not None:
            scheme, _, token = authorization.partition(" ")
            if scheme.lower() == "bearer" and hmac.compare_digest(token.strip().encode(), self._metrics_key):
                return Viewer(operator=True, all_tenants=True)
        if not self._keys:
            return Viewer(operator=False, all_tenants=True)
        if not authorization:
            return Viewer(operator=False, all_tenants=False)
        return Viewer(operator=False, all_tenants=False, tenant=self.authenticate(authorization).tenant)

    def authenticate(self, authorization: str | None) -> Principal:
        """The principal for an ``Authorization`` header value; raises :class:`AuthError`."""
        if not self._keys:
            return Principal(OPEN_TENANT, restricted=False)
        if not authorization:
            raise AuthError("missing API key: send 'Authorization: Bearer <key>'")
        scheme, _, token = authorization.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise AuthError("malformed Authorization header: expected 'Bearer <key>'")
        given = token.strip().encode()
        tenant: str | None = None
        for key, owner in self._keys:  # compare against every key: timing reveals nothing
            if hmac.compare_digest(given, key):
                tenant = owner
        if tenant is None:
            raise AuthError("invalid API key")
        return Principal(tenant, restricted=True)
