"""The settings every ``mmrag`` command takes from its flags: ``--set``, ``--index``, ``--engine``."""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from typing import Any

import yaml

from rag.errors import MmragError


def parse_sets(pairs: Sequence[str]) -> dict[str, Any]:
    """``section.field=value`` pairs (``--set``) as profile overrides, values read as YAML."""
    out: dict[str, Any] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise MmragError(f"--set expects section.field=value, got {pair!r}")
        out[key.strip()] = yaml.safe_load(value) if value else value
    return out


def _overrides(args: argparse.Namespace) -> dict[str, Any]:
    out = parse_sets(args.set or [])
    if args.index:
        out["store.path"] = args.index
    if getattr(args, "engine", None):
        out["ingest.engine"] = args.engine
    if getattr(args, "ray_address", None) is not None:
        out["ray.address"] = args.ray_address
    return out
