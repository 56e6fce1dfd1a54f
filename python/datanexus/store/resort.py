"""Re-sorting closed raw-event partitions (STORE-9).

Events arrive in arrival order, interleaving every stream; a query for one stream over
a range then touches most pages of a day. Once a day is closed (the day level of
compaction has passed it, so its rollups are final and few late writes will come),
``CLUSTER`` rewrites its partition in primary-key order, (tenant_id, stream, ts, id):
each stream's events become contiguous and time-ordered. The rows themselves are
unchanged, so no answer changes. ``CLUSTER`` marks the index as the clustering one,
which is how a partition already re-sorted is recognised and skipped.
"""

from __future__ import annotations

import logging
from typing import Any

import psycopg
from psycopg import sql

from datanexus.store.partitions import RAW_EVENTS, list_partitions

__all__ = ["resort_closed_raw"]

log = logging.getLogger(__name__)

DAY_MS = 86_400_000


def resort_closed_raw(conn: psycopg.Connection[Any], schema: str, *, limit: int = 1) -> list[str]:
    """``CLUSTER`` up to ``limit`` closed raw partitions not re-sorted yet, oldest first;
    returns their names. Each holds an ACCESS EXCLUSIVE lock on its partition while it is
    rewritten (writers of that day wait), so keep ``limit`` small and run it off-peak.
    ``conn`` must not be inside a transaction: each partition is its own."""
    done: list[str] = []
    with conn.transaction():
        partitions = list_partitions(conn, schema, RAW_EVENTS)
    for partition in partitions:
        if len(done) >= limit:
            break
        with conn.transaction():
            found = conn.execute(
                sql.SQL(
                    "SELECT (SELECT watermark >= %s FROM {levels} WHERE granularity_ms = %s),"
                    " EXISTS (SELECT 1 FROM pg_index WHERE indrelid = to_regclass(%s)"
                    "  AND indisclustered),"
                    " (SELECT c.relname FROM pg_index i JOIN pg_class c"
                    "  ON c.oid = i.indexrelid"
                    "  WHERE i.indrelid = to_regclass(%s) AND i.indisprimary)"
                ).format(levels=sql.Identifier(schema, "compaction_levels")),
                (partition.end, DAY_MS, *[f'"{schema}"."{partition.name}"'] * 2),
            ).fetchone()
        if found is None or not found[0] or found[1] or found[2] is None:
            continue
        with conn.transaction():
            conn.execute(
                sql.SQL("CLUSTER {} USING {}").format(
                    sql.Identifier(schema, partition.name),
                    sql.Identifier(str(found[2])),
                )
            )
        done.append(partition.name)
        log.info("re-sorted closed raw partition %s.%s", schema, partition.name)
    return done
