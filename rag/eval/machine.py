"""What the numbers were measured on: recorded with every ``mmrag eval`` and ``mmrag bench`` run."""

from __future__ import annotations

import contextlib
import os
import platform
from typing import Any


def machine_info() -> dict[str, Any]:
    """What the numbers were measured on."""
    info: dict[str, Any] = {"platform": platform.platform(), "python": platform.python_version(),
                            "cpus": os.cpu_count(), "processor": platform.processor() or platform.machine()}
    with contextlib.suppress(OSError):
        info["loadavg"] = [round(x, 2) for x in os.getloadavg()]
    try:
        with open("/proc/meminfo", encoding="ascii") as fh:
            info["mem_gb"] = round(int(fh.readline().split()[1]) / 2**20, 1)
    except (OSError, ValueError, IndexError):
        pass
    return info
