"""Hangul ranges and the one shared Kiwi analyser (loaded lazily, once per process).

Kiwi (``kiwipiepy``) ships its model in the ``kiwipiepy_model`` package, so it works offline.
Loading takes about 1 s and about 220 MB of memory (typo and multi-word dictionaries off), so it
happens only when a text actually holds Hangul: English-only folders never pay for it.
"""

from __future__ import annotations

import re
import threading
import warnings
from importlib import metadata
from typing import Any

from ingest.errors import ConfigError

HANGUL_CLASS = "\uac00-\ud7a3\u1100-\u11ff\u3130-\u318f\ua960-\ua97f\ud7b0-\ud7ff"
"""Syllables, conjoining jamo (and extensions), compatibility jamo."""
HANGUL_RUN = re.compile(f"[{HANGUL_CLASS}]+")
_HAS_HANGUL = re.compile(f"[{HANGUL_CLASS}]")

_lock = threading.Lock()
_kiwi: Any = None


def has_hangul(text: str) -> bool:
    """Whether ``text`` holds any Hangul character."""
    return _HAS_HANGUL.search(text) is not None


def kiwi_version() -> str:
    """``major.minor`` of the installed kiwipiepy: part of the keyword tokenizer's identity."""
    try:
        version = metadata.version("kiwipiepy")
    except metadata.PackageNotFoundError:
        return "none"
    return ".".join(version.split(".")[:2])


def kiwi() -> Any:
    """The process-wide Kiwi instance, built on first use.

    Built under a lock and then only read: Kiwi's author documents that one instance built in one
    thread may analyse from many (bab2min/Kiwi#145)."""
    global _kiwi
    if _kiwi is None:
        with _lock:
            if _kiwi is None:
                try:
                    from kiwipiepy import Kiwi
                except ImportError as exc:
                    raise ConfigError("Korean text needs the Kiwi analyser: pip install 'kiwipiepy>=0.24,<0.25' "
                                      f"(a core dependency of mmrag): {exc}") from exc

                with warnings.catch_warnings():
                    warnings.simplefilter("ignore", DeprecationWarning)
                    # num_workers=0: single-threaded (since 0.21); the callers bring their own parallelism.
                    instance = Kiwi(num_workers=0, load_typo_dict=False, load_multi_dict=False)
                instance.tokenize("")  # Kiwi finishes loading on the first call: pay it here, once
                _kiwi = instance
    return _kiwi
