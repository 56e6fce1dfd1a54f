"""The answer of a query, and its JSON image for the result cache."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

__all__ = ["QueryResult", "result_from_json", "result_to_json"]

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


@dataclass(frozen=True)
class QueryResult:
    """One page of a query's answer.

    ``rows`` hold the columns' values in order: ``time`` as an aware UTC datetime (the
    bucket start), dims as their JSON values, measures as int (counts) or float, None
    where a group has no value. ``granularity_ms`` is the stored granularity the planner
    read; ``errors`` maps each approximate column to its error bound: for ``pNN`` the
    rank error (a fraction of the count), for ``distinct`` the relative standard error
    1.04/√(2^p). ``next_cursor`` continues after the last row (None: this is the last
    page); ``total`` counts all rows of the answer, all pages together.
    """

    columns: list[str]
    rows: list[tuple[Any, ...]]
    granularity_ms: int
    errors: dict[str, float] = field(default_factory=dict)
    next_cursor: str | None = None
    total: int = 0

    @property
    def has_more(self) -> bool:
        return self.next_cursor is not None


def _encode(value: Any) -> Any:
    if isinstance(value, datetime):
        return {"$ts": (value - _EPOCH) // timedelta(microseconds=1)}
    return value


def _decode(value: Any) -> Any:
    if isinstance(value, dict) and "$ts" in value:
        return _EPOCH + timedelta(microseconds=value["$ts"])
    return value


def result_to_json(result: QueryResult) -> str:
    return json.dumps(
        {
            "columns": result.columns,
            "rows": [[_encode(v) for v in row] for row in result.rows],
            "granularity_ms": result.granularity_ms,
            "errors": result.errors,
            "next_cursor": result.next_cursor,
            "total": result.total,
        },
        separators=(",", ":"),
        ensure_ascii=False,
    )


def result_from_json(text: str | bytes) -> QueryResult:
    data = json.loads(text)
    return QueryResult(
        columns=list(data["columns"]),
        rows=[tuple(_decode(v) for v in row) for row in data["rows"]],
        granularity_ms=int(data["granularity_ms"]),
        errors={str(k): float(v) for k, v in data["errors"].items()},
        next_cursor=data["next_cursor"],
        total=int(data["total"]),
    )
