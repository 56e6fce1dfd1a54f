"""Test data for the query integration tests: a pipeline catalog row, and rollup rows
built from raw events in plain Python, so every answer can be compared with a reference
computed from the same raw values."""

from __future__ import annotations

import json
import math
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import psycopg

from datanexus.sketches import HyperLogLog, TDigest
from datanexus.store.rollups import RollupRow, write_rollups

MINUTE = 60_000
HOUR = 3_600_000
DAY = 86_400_000
# 2024-05-01T00:00:00Z: a day boundary, so hour and day rollups align.
T0 = 1_714_521_600_000
COMPRESSION = 100.0
PRECISION = 12


@dataclass
class Event:
    ts_ms: int
    dims: dict[str, Any]
    values: dict[str, Any] = field(default_factory=dict)


def series_of(dims: dict[str, Any]) -> str:
    return json.dumps(dims, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def build_rollups(
    tenant: str,
    pipeline: str,
    events: Iterable[Event],
    granularity_ms: int,
    *,
    digest_fields: Sequence[str] = (),
    hll_fields: Sequence[str] = (),
    revision: int = 1,
) -> list[RollupRow]:
    """The rollup rows a flow would write for ``events``: one '*' row per (series,
    window) and one row per measured field present."""
    windows: dict[tuple[str, int], list[Event]] = defaultdict(list)
    for e in events:
        windows[(series_of(e.dims), e.ts_ms - e.ts_ms % granularity_ms)].append(e)
    rows: list[RollupRow] = []
    for (series, start), evs in windows.items():
        rows.append(
            RollupRow(tenant, pipeline, series, granularity_ms, start, revision, len(evs), 0.0)
        )
        fields = sorted({f for e in evs for f in e.values})
        for f in fields:
            vals = [e.values[f] for e in evs if e.values.get(f) is not None]
            if f in hll_fields:
                hll = HyperLogLog(PRECISION)
                hll.add_many(vals)
                rows.append(
                    RollupRow(
                        tenant,
                        pipeline,
                        series,
                        granularity_ms,
                        start,
                        revision,
                        len(vals),
                        0.0,
                        hll=hll.to_bytes(),
                        metric=f,
                    )
                )
                continue
            n = len(vals)
            mean = math.fsum(vals) / n
            m2 = math.fsum((v - mean) ** 2 for v in vals)
            digest = None
            if f in digest_fields:
                d = TDigest(COMPRESSION)
                d.add_many(vals)
                digest = d.to_bytes()
            rows.append(
                RollupRow(
                    tenant,
                    pipeline,
                    series,
                    granularity_ms,
                    start,
                    revision,
                    n,
                    math.fsum(vals),
                    min(vals),
                    max(vals),
                    mean,
                    m2,
                    digest,
                    metric=f,
                )
            )
    return rows


@dataclass
class QueryDb:
    conn: psycopg.Connection[Any]
    schema: str
    tenant: str

    def add_pipeline(
        self,
        name: str,
        dims: Sequence[str],
        metrics: dict[str, list[str]],
        granularities: Sequence[int] = (MINUTE, HOUR, DAY),
        tenant: str | None = None,
        version: int = 1,
    ) -> None:
        self.conn.execute(
            f'INSERT INTO "{self.schema}".pipelines'
            " (tenant_id, name, version, spec, dims, metrics, granularities)"
            " VALUES (%s, %s, %s, %s, %s, %s::jsonb, %s)",
            (
                tenant or self.tenant,
                name,
                version,
                "# test",
                list(dims),
                json.dumps(metrics),
                list(granularities),
            ),
        )

    def write(self, rows: Sequence[RollupRow]) -> None:
        write_rollups(self.conn, self.schema, rows)

    def set_watermark(self, granularity_ms: int, watermark_ms: int) -> None:
        self.conn.execute(
            f'UPDATE "{self.schema}".compaction_levels SET watermark ='
            " timestamptz 'epoch' + %s * interval '1 millisecond' WHERE granularity_ms = %s",
            (watermark_ms, granularity_ms),
        )
