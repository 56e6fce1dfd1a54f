"""Bytewax operators and stream logic built on the native core.

Modules here may import Bytewax; platform modules must not import this package.
"""

from __future__ import annotations

from datanexus._native import ShardBatch, WindowEngine, WindowResult, WindowRouter
from datanexus.stream.dedup import Deduplicator, DedupOut, dedup, dedup_scope
from datanexus.stream.dedup_keys import LocalSeenKeys, RedisSeenKeys, SeenKeys
from datanexus.stream.rollup import (
    RollupRetraction,
    RollupRows,
    canonical_series,
    rollup_measures,
    to_rollup_changes,
    to_rollup_rows,
)
from datanexus.stream.sources import PartitionedSource, SourceBatch
from datanexus.stream.window_aggregate import (
    DEFAULT_SHARDS,
    WindowAggregateOut,
    window_aggregate,
)
from datanexus.stream.window_fold import Fold
from datanexus.stream.windows import Session, Sliding, Tumbling, Window

__all__ = [
    "DEFAULT_SHARDS",
    "DedupOut",
    "Deduplicator",
    "Fold",
    "LocalSeenKeys",
    "PartitionedSource",
    "RedisSeenKeys",
    "RollupRetraction",
    "RollupRows",
    "SeenKeys",
    "Session",
    "ShardBatch",
    "Sliding",
    "SourceBatch",
    "Tumbling",
    "Window",
    "WindowAggregateOut",
    "WindowEngine",
    "WindowResult",
    "WindowRouter",
    "canonical_series",
    "dedup",
    "dedup_scope",
    "rollup_measures",
    "to_rollup_changes",
    "to_rollup_rows",
    "window_aggregate",
]
