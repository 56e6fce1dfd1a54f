"""The time-series store on PostgreSQL: schema migrations, the bulk writers the
connectors' sinks use, time partitions, retention, compaction and tenant scoping. No
Bytewax here: platform modules use this package directly."""

from __future__ import annotations

from datanexus.store.compaction import CompactionReport, LevelReport, compact
from datanexus.store.merge import Moments, chan_merge, merge_rows
from datanexus.store.migrations import migrate
from datanexus.store.partitions import (
    RAW_EVENTS,
    ROLLUPS,
    Maintenance,
    Partition,
    PartitionScheme,
    default_rows,
    ensure_all,
    ensure_partitions,
    list_partitions,
)
from datanexus.store.resort import resort_closed_raw
from datanexus.store.retention import RetentionReport, retain
from datanexus.store.rollups import RollupRow, upsert_rollups, write_rollups
from datanexus.store.tenancy import current_tenant, tenant_scope
from datanexus.store.zone_days import compact_zone_day, zone_day_bounds

__all__ = [
    "RAW_EVENTS",
    "ROLLUPS",
    "CompactionReport",
    "LevelReport",
    "Maintenance",
    "Moments",
    "Partition",
    "PartitionScheme",
    "RetentionReport",
    "RollupRow",
    "chan_merge",
    "compact",
    "compact_zone_day",
    "current_tenant",
    "default_rows",
    "ensure_all",
    "ensure_partitions",
    "list_partitions",
    "merge_rows",
    "migrate",
    "resort_closed_raw",
    "retain",
    "tenant_scope",
    "upsert_rollups",
    "write_rollups",
    "zone_day_bounds",
]
