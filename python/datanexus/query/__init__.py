"""The query engine: a SQL dialect over the rollups (see docs/query.md).

    SELECT p99(latency_ms), distinct(user_id), count() FROM web
    WHERE region IN ('eu', 'us') AND time >= now() - interval '6 hours'
    GROUP BY time(5m), region ORDER BY time LIMIT 500

Text is parsed with sqlglot into a tree, checked against an allow-list and the tenant's
pipeline catalog, planned onto the coarsest stored granularity that answers it, fetched
with one parameterised SQL statement (no user text in SQL), and merged in Python with
the native sketches. No Bytewax and no direct native imports here.
"""

from __future__ import annotations

from datanexus.query.batch import run_queries
from datanexus.query.execute import DEFAULT_LIMIT, MAX_LIMIT, run_query
from datanexus.query.format import format_result
from datanexus.query.plan_cache import PlanCache
from datanexus.query.result import QueryResult
from datanexus.query.result_cache import QueryCache

__all__ = [
    "DEFAULT_LIMIT",
    "MAX_LIMIT",
    "PlanCache",
    "QueryCache",
    "QueryResult",
    "format_result",
    "run_queries",
    "run_query",
]
