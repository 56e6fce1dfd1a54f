"""The plan cache (QUERY-11): checked, compiled queries by (normalised query, tenant,
schema version, catalog version).

The same query text (up to whitespace, keyword case and other differences sqlglot
normalises away) of the same tenant gets the very same :class:`Plan` object back. The
cache holds at most ``max_size`` plans and evicts the least recently used. Changing the
catalog's version of a pipeline (its spec changed) misses naturally; :meth:`invalidate`
empties the cache and bumps the schema version by exactly one. Thread-safe.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable
from typing import TypedDict

from datanexus.errors import InvalidArgument
from datanexus.query.planner import Plan

__all__ = ["PlanCache", "PlanCacheStats"]

_Key = tuple[str, str, int, str, int]


class PlanCacheStats(TypedDict):
    size: int
    max: int
    version: int
    hits: int
    misses: int


class PlanCache:
    def __init__(self, max_size: int = 1000) -> None:
        if not isinstance(max_size, int) or isinstance(max_size, bool) or max_size < 1:
            raise InvalidArgument(f"PlanCache max_size must be an int ≥ 1, not {max_size!r}")
        self._max = max_size
        self._plans: OrderedDict[_Key, Plan] = OrderedDict()
        self._lock = threading.Lock()
        self._version = 0
        self._hits = 0
        self._misses = 0

    @property
    def version(self) -> int:
        return self._version

    def get_or_build(
        self,
        normalized: str,
        tenant: str,
        stream: str,
        catalog_version: int,
        build: Callable[[], Plan],
    ) -> Plan:
        """The cached plan for the key, else ``build()`` stored and returned (a build
        that raises stores nothing)."""
        with self._lock:
            key: _Key = (normalized, tenant, self._version, stream, catalog_version)
            plan = self._plans.get(key)
            if plan is not None:
                self._plans.move_to_end(key)
                self._hits += 1
                return plan
            self._misses += 1
            version = self._version
        plan = build()
        with self._lock:
            if version != self._version:
                return plan  # invalidated while building: do not store a stale plan
            existing = self._plans.get(key)
            if existing is not None:
                return existing
            self._plans[key] = plan
            if len(self._plans) > self._max:
                self._plans.popitem(last=False)
        return plan

    def invalidate(self) -> None:
        """Forget every plan and bump the schema version by one."""
        with self._lock:
            self._plans.clear()
            self._version += 1

    def stats(self) -> PlanCacheStats:
        with self._lock:
            return {
                "size": len(self._plans),
                "max": self._max,
                "version": self._version,
                "hits": self._hits,
                "misses": self._misses,
            }
