"""The query engine's catalog: one tenant's pipeline as its ``pipelines`` row describes it
(the streams FROM may name, their group-by dims, measured fields and stored
granularities)."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import psycopg
from psycopg import sql

from datanexus.errors import StreamNotFound

__all__ = ["Catalog", "load_catalog"]

_DIGEST_NAMES = frozenset({"digest", "tdigest", "quantile", "percentile"})
_HLL_NAMES = frozenset({"hll", "distinct"})


@dataclass(frozen=True)
class Catalog:
    """What one pipeline of one tenant exposes to queries."""

    tenant: str
    name: str
    version: int
    dims: tuple[str, ...]
    metrics: Mapping[str, frozenset[str]] = field(default_factory=dict)
    """Measured field → the sketches/aggregates its rollup rows store (catalog names:
    ``"sum"``, ``"min"``, ``"digest"``, ``"hll"``, ``"p99"`` …)."""
    granularities: tuple[int, ...] = (60_000, 3_600_000, 86_400_000)

    def has_digest(self, field_name: str) -> bool:
        stored = self.metrics.get(field_name, frozenset())
        return bool(stored & _DIGEST_NAMES) or any(
            s.startswith("p") and s[1:2].isdigit() for s in stored
        )

    def has_hll(self, field_name: str) -> bool:
        return bool(self.metrics.get(field_name, frozenset()) & _HLL_NAMES)


def _metrics(raw: Any) -> dict[str, frozenset[str]]:
    if isinstance(raw, str):
        raw = json.loads(raw)
    if not isinstance(raw, dict):
        return {}
    out: dict[str, frozenset[str]] = {}
    for name, stored in raw.items():
        if isinstance(stored, list):
            out[str(name)] = frozenset(str(s).lower() for s in stored)
        else:
            out[str(name)] = frozenset()
    return out


def load_catalog(cur: psycopg.Cursor[Any], schema: str, tenant: str, stream: str) -> Catalog:
    """The catalog row of ``stream`` for ``tenant``. A stream that does not exist and one
    that belongs to another tenant raise the same :class:`StreamNotFound`: the answer
    never reveals other tenants' pipeline names."""
    cur.execute(
        sql.SQL(
            "SELECT version, dims, metrics, granularities FROM {t}"
            " WHERE tenant_id = %s AND name = %s"
        ).format(t=sql.Identifier(schema, "pipelines")),
        (tenant, stream),
    )
    row = cur.fetchone()
    if row is None:
        raise StreamNotFound(f"stream {stream!r} not found: FROM must name one of your pipelines")
    version, dims, metrics, granularities = row
    levels = tuple(sorted({int(g) for g in (granularities or ()) if int(g) > 0}))
    return Catalog(
        tenant=tenant,
        name=stream,
        version=int(version),
        dims=tuple(str(d) for d in (dims or ())),
        metrics=_metrics(metrics),
        granularities=levels or (60_000,),
    )
