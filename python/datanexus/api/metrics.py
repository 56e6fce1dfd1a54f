"""Prometheus metrics of the API with bounded label cardinality (OBS-1).

Labels come only from :data:`ALLOWED_LABELS`: the HTTP method (one of the standard
methods, else ``OTHER``), the status code, the route *template* (``/v1/streams/{stream}/
events``, never the path with ids; ``<unmatched>`` for paths that match no route) and a
stage. Tenant, key, event and pipeline ids never become labels. Each app has its own
registry, so two apps in one process (tests) do not share counters.
"""

from __future__ import annotations

from collections.abc import Sequence

from prometheus_client import CollectorRegistry, Counter, Histogram

from datanexus.errors import InvalidArgument

__all__ = ["ALLOWED_LABELS", "ApiMetrics", "method_label"]

ALLOWED_LABELS = frozenset({"method", "status", "route", "stage"})
_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})


def method_label(method: str) -> str:
    return method if method in _METHODS else "OTHER"


def _labels(names: Sequence[str]) -> list[str]:
    bad = set(names) - ALLOWED_LABELS
    if bad:
        raise InvalidArgument(f"metric labels {sorted(bad)} are not in {sorted(ALLOWED_LABELS)}")
    return list(names)


class ApiMetrics:
    """The API's collectors in their own registry (exposed at ``/metrics``)."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        r = self.registry
        self.requests = Counter(
            "datanexus_http_requests",
            "HTTP requests by method, route template and status",
            _labels(["method", "route", "status"]),
            registry=r,
        )
        self.latency = Histogram(
            "datanexus_http_request_duration_seconds",
            "HTTP request latency by method and route template",
            _labels(["method", "route"]),
            registry=r,
        )
        self.events = Counter(
            "datanexus_ingest_events",
            "Events by ingestion stage (accepted, rejected, published)",
            _labels(["stage"]),
            registry=r,
        )
        self.rate_limited = Counter(
            "datanexus_rate_limited",
            "Requests refused with 429, by stage (requests, events)",
            _labels(["stage"]),
            registry=r,
        )
        self.rate_limit_fail_open = Counter(
            "datanexus_rate_limit_fail_open",
            "Requests let through because Redis could not be asked",
            registry=r,
        )
        self.live_dropped = Counter(
            "datanexus_live_coalesced",
            "Live updates replaced by a newer value before a slow client took them",
            registry=r,
        )
