"""The tables ``datanexus demo`` prints, read back from PostgreSQL with the query language.

Every figure comes from :func:`datanexus.query.run_query` over the stored rollups, the
way a user would ask: the hour tables read the hour rollups compaction built from the
minutes (percentiles from merged t-digests, distinct users from merged HyperLogLogs),
the minute table reads minute rollups directly.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

import psycopg
from rich import box
from rich.console import Console
from rich.table import Table

from datanexus.config import Settings
from datanexus.query import QueryResult, run_query
from datanexus.store.embedded import Services

__all__ = ["REPORT_QUERIES", "print_report"]

DAY = "2025-03-03"


def _incident_window() -> tuple[str, str]:
    # The web model's eu-west-1 incident spans 35 %..41 % of the day (08:24 to 09:50).
    start = datetime.fromisoformat(f"{DAY}T08:20:00+00:00")
    return start.isoformat(), (start + timedelta(minutes=15)).isoformat()


_INCIDENT = _incident_window()
_WHOLE_DAY = f"time >= '{DAY}T00:00:00Z' AND time < '2025-03-04T00:00:00Z'"

REPORT_QUERIES: dict[str, tuple[str, str]] = {
    "web_hourly": (
        "Web requests per hour (all regions, from hour rollups)",
        "SELECT time, count(), sum(is_error), p50(latency_ms), p95(latency_ms),"
        " p99(latency_ms), distinct(user_id) FROM web"
        f" WHERE {_WHOLE_DAY}"
        " GROUP BY time(1h) ORDER BY time",
    ),
    "web_incident": (
        "eu-west-1 per minute during the incident (minute rollups)",
        "SELECT time, count(), sum(is_error), p50(latency_ms), p99(latency_ms),"
        " distinct(user_id) FROM web WHERE region = 'eu-west-1'"
        f" AND time >= '{_INCIDENT[0]}' AND time < '{_INCIDENT[1]}'"
        " GROUP BY time(1m) ORDER BY time",
    ),
    "web_regions": (
        "Web requests per region over the day",
        "SELECT region, count(), sum(is_error), p99(latency_ms), distinct(user_id)"
        f" FROM web WHERE {_WHOLE_DAY} GROUP BY region ORDER BY region",
    ),
    "payments": (
        "Payments per currency and status over the day",
        "SELECT currency, status, count(), sum(amount), p99(amount), distinct(merchant)"
        f" FROM payments WHERE {_WHOLE_DAY} GROUP BY currency, status ORDER BY currency, status",
    ),
    "iot": (
        "IoT readings per site, every 6 hours",
        "SELECT time, site, count(), avg(reading_temperature), p95(reading_temperature),"
        " min(reading_battery), distinct(device) FROM iot"
        f" WHERE {_WHOLE_DAY} GROUP BY time(6h), site ORDER BY time, site",
    ),
}


def _cell(column: str, value: Any, count: Any) -> str:
    if value is None:
        return "—"
    if isinstance(value, datetime):
        return value.strftime("%H:%M")
    if column.startswith("sum(is_error)") and isinstance(count, int) and count:
        return f"{value / count:.2%}"
    if column.startswith("distinct("):
        return f"{value:,.0f}"
    if isinstance(value, float):
        return f"{value:,.1f}"
    if isinstance(value, int):
        return f"{value:,}"
    return str(value)


_HEADERS = {
    "count()": "events",
    "sum(is_error)": "5xx rate",
    "distinct(user_id)": "users ≈",
    "distinct(merchant)": "merchants ≈",
    "distinct(device)": "devices ≈",
    "avg(reading_temperature)": "mean °C",
    "p95(reading_temperature)": "p95 °C",
    "min(reading_battery)": "min battery %",
}


def _header(column: str) -> str:
    if column in _HEADERS:
        return _HEADERS[column]
    # p99(latency_ms) → "p99 latency_ms": narrow columns read better without parentheses.
    name, _, rest = column.partition("(")
    return f"{name} {rest.rstrip(')')}".strip() if rest else column


def render(title: str, result: QueryResult) -> Table:
    """A rich table of ``result``: counts with separators, rates as percentages,
    approximate columns marked ≈ with their error bound in the caption."""
    table = Table(title=title, box=box.SIMPLE_HEAVY, title_justify="left")
    columns: Sequence[str] = result.columns
    for column in columns:
        table.add_column(
            _header(column),
            justify="left"
            if column in ("time", "region", "currency", "status", "site")
            else "right",
        )
    count_at = columns.index("count()") if "count()" in columns else None
    for row in result.rows:
        count = row[count_at] if count_at is not None else None
        table.add_row(*(_cell(c, v, count) for c, v in zip(columns, row, strict=True)))
    bounds = ", ".join(f"{c} ±{e:.1%}" for c, e in sorted(result.errors.items()))
    granularity = f"{result.granularity_ms // 60_000} min rollups"
    if result.granularity_ms >= 3_600_000:
        granularity = f"{result.granularity_ms // 3_600_000} h rollups"
    table.caption = f"{len(result.rows)} rows from {granularity}" + (
        f"; error bounds {bounds}" if bounds else ""
    )
    return table


def print_report(settings: Settings, services: Services, out: Console) -> None:
    """Run :data:`REPORT_QUERIES` for the settings' tenant and print them, then say what
    to try next."""
    with psycopg.connect(services.database_url) as conn:
        for title, text in REPORT_QUERIES.values():
            result = run_query(conn, settings.tenant, text, schema=settings.schema)
            out.print(render(title, result))
    out.print(
        "\n[bold]Next:[/]\n"
        '  .venv/bin/datanexus query "SELECT time, p99(latency_ms) FROM web'
        " WHERE region = 'us-east-1' GROUP BY time(15m) ORDER BY time\"\n"
        "  .venv/bin/datanexus status          # pipelines, lag, dead letters\n"
        "  .venv/bin/datanexus pipeline preview pipelines/payments.toml\n"
        "  .venv/bin/datanexus serve           # HTTP API: ingestion, query, live results\n"
        "  data stays in .datanexus/ (embedded servers); delete it to start afresh"
    )
