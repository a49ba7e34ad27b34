"""Prometheus metrics in the text exposition format, hand-rolled (no dependency).

``mmrag_http_requests_total{method,route,status}``, ``mmrag_http_request_duration_seconds{route}``,
``mmrag_stage_duration_seconds{stage}`` (retrieve, generate, search, ingest.<stage>),
``mmrag_ingest_jobs_total{status}``, ``mmrag_http_requests_in_flight`` and gauges added at render time.

What tenants do (job counts, ingest stage timings, gauges registered ``per_tenant``) is left out of
``render(tenant_data=False)``: the text a caller without the metrics key gets on a server with keys.
"""

from __future__ import annotations

import bisect
import threading
from collections.abc import Callable, Iterable

BUCKETS: tuple[float, ...] = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)

Labels = tuple[tuple[str, str], ...]


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def _fmt_labels(labels: Labels, extra: tuple[str, str] | None = None) -> str:
    pairs = [*labels, extra] if extra else list(labels)
    if not pairs:
        return ""
    return "{" + ",".join(f'{k}="{_escape(v)}"' for k, v in pairs) + "}"


def _fmt_value(v: float) -> str:
    return repr(float(v)) if v != int(v) else f"{int(v)}"


class _Histogram:
    def __init__(self) -> None:
        self.counts = [0] * (len(BUCKETS) + 1)  # last slot: above the largest bucket
        self.sum = 0.0
        self.count = 0

    def observe(self, seconds: float) -> None:
        self.counts[bisect.bisect_left(BUCKETS, seconds)] += 1
        self.sum += seconds
        self.count += 1

    def lines(self, name: str, labels: Labels) -> Iterable[str]:
        cumulative = 0
        for bound, n in zip(BUCKETS, self.counts, strict=False):
            cumulative += n
            yield f"{name}_bucket{_fmt_labels(labels, ('le', repr(bound)))} {cumulative}"
        yield f"{name}_bucket{_fmt_labels(labels, ('le', '+Inf'))} {self.count}"
        yield f"{name}_sum{_fmt_labels(labels)} {self.sum!r}"
        yield f"{name}_count{_fmt_labels(labels)} {self.count}"


class Metrics:
    """Thread-safe counters and histograms of one server."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._requests: dict[Labels, int] = {}
        self._latency: dict[Labels, _Histogram] = {}
        self._stages: dict[Labels, _Histogram] = {}
        self._jobs: dict[Labels, int] = {}
        self._in_flight = 0
        self._gauges: dict[str, tuple[str, Callable[[], dict[str, float]], str, bool]] = {}

    def request_started(self) -> None:
        with self._lock:
            self._in_flight += 1

    def request_finished(self, method: str, route: str, status: int, seconds: float) -> None:
        """Count one HTTP request by its route template (``/v1/jobs/{job_id}``), not its raw path."""
        with self._lock:
            self._in_flight -= 1
            key: Labels = (("method", method), ("route", route), ("status", str(status)))
            self._requests[key] = self._requests.get(key, 0) + 1
            self._latency.setdefault((("route", route),), _Histogram()).observe(seconds)

    def observe_stage(self, stage: str, seconds: float) -> None:
        with self._lock:
            self._stages.setdefault((("stage", stage),), _Histogram()).observe(seconds)

    def count_job(self, status: str) -> None:
        with self._lock:
            key: Labels = (("status", status),)
            self._jobs[key] = self._jobs.get(key, 0) + 1

    def gauge(self, name: str, help_text: str, read: Callable[[], dict[str, float]], label: str,
              per_tenant: bool = False) -> None:
        """Register a gauge read at render time: ``read()`` maps a ``label`` value to a number.
        ``per_tenant``: it tells what tenants do, shown only with ``render(tenant_data=True)``."""
        self._gauges[name] = (help_text, read, label, per_tenant)

    def render(self, tenant_data: bool = True) -> str:
        """The exposition text for ``GET /metrics``; ``tenant_data=False`` leaves out job counts,
        ingest timings and per-tenant gauges."""
        out: list[str] = []
        with self._lock:
            out += ["# HELP mmrag_http_requests_total HTTP requests by method, route and status.",
                    "# TYPE mmrag_http_requests_total counter"]
            out += [f"mmrag_http_requests_total{_fmt_labels(k)} {v}"
                    for k, v in sorted(self._requests.items())]
            out += ["# HELP mmrag_http_request_duration_seconds HTTP request latency by route.",
                    "# TYPE mmrag_http_request_duration_seconds histogram"]
            for k, h in sorted(self._latency.items()):
                out += h.lines("mmrag_http_request_duration_seconds", k)
            out += ["# HELP mmrag_stage_duration_seconds Seconds spent per pipeline stage.",
                    "# TYPE mmrag_stage_duration_seconds histogram"]
            for k, h in sorted(self._stages.items()):
                if tenant_data or not dict(k)["stage"].startswith("ingest."):
                    out += h.lines("mmrag_stage_duration_seconds", k)
            if tenant_data:
                out += ["# HELP mmrag_ingest_jobs_total Finished ingest jobs by outcome.",
                        "# TYPE mmrag_ingest_jobs_total counter"]
                out += [f"mmrag_ingest_jobs_total{_fmt_labels(k)} {v}" for k, v in sorted(self._jobs.items())]
            out += ["# HELP mmrag_http_requests_in_flight HTTP requests being served.",
                    "# TYPE mmrag_http_requests_in_flight gauge",
                    f"mmrag_http_requests_in_flight {self._in_flight}"]
            gauges = [(n, g) for n, g in self._gauges.items() if tenant_data or not g[3]]
        for name, (help_text, read, label, _) in gauges:
            out += [f"# HELP {name} {help_text}", f"# TYPE {name} gauge"]
            out += [f"{name}{_fmt_labels(((label, k),))} {_fmt_value(v)}" for k, v in sorted(read().items())]
        return "\n".join(out) + "\n"
