"""Printing a :class:`QueryResult` for people and scripts: ``table``, ``json``, ``csv``
(what ``datanexus query "SELECT …" --format …`` prints)."""

from __future__ import annotations

import csv
import io
import json
import math
from datetime import UTC, datetime
from typing import Any

from datanexus.errors import InvalidArgument
from datanexus.query.result import QueryResult

__all__ = ["FORMATS", "format_result"]

FORMATS = ("table", "json", "csv")


def _plain(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.astimezone(UTC).isoformat().replace("+00:00", "Z")
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def _cell(value: Any) -> str:
    value = _plain(value)
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return repr(value)
    return str(value)


def format_result(result: QueryResult, fmt: str = "table") -> str:
    """``result`` as text. ``json``: one object with ``columns``, ``rows`` (lists),
    ``granularity_ms``, ``errors``, ``next_cursor``, ``total``; times are RFC 3339 UTC
    strings, missing values null. ``csv``: a header row then one line per row (RFC 4180
    quoting, missing values empty). ``table``: aligned columns for a terminal, numbers
    right-aligned, then a line with the row count, granularity and error bounds.
    Another ``fmt`` raises :class:`InvalidArgument`."""
    if fmt == "json":
        return json.dumps(
            {
                "columns": result.columns,
                "rows": [[_plain(v) for v in row] for row in result.rows],
                "granularity_ms": result.granularity_ms,
                "errors": result.errors,
                "next_cursor": result.next_cursor,
                "total": result.total,
            },
            ensure_ascii=False,
            allow_nan=False,
        )
    if fmt == "csv":
        out = io.StringIO()
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow(result.columns)
        writer.writerows([_cell(v) for v in row] for row in result.rows)
        return out.getvalue()
    if fmt == "table":
        return _table(result)
    raise InvalidArgument(f"unknown format {fmt!r}; expected one of {', '.join(FORMATS)}")


def _table(result: QueryResult) -> str:
    cells = [[_cell(v) for v in row] for row in result.rows]
    widths = [len(c) for c in result.columns]
    for row in cells:
        widths = [max(w, len(c)) for w, c in zip(widths, row, strict=True)]
    numeric = [
        all(isinstance(row[i], int | float) or row[i] is None for row in result.rows)
        and bool(result.rows)
        for i in range(len(result.columns))
    ]

    def line(values: list[str]) -> str:
        parts = [
            v.rjust(w) if num else v.ljust(w)
            for v, w, num in zip(values, widths, numeric, strict=True)
        ]
        return "  ".join(parts).rstrip()

    lines = [line(result.columns), "  ".join("-" * w for w in widths)]
    lines.extend(line(row) for row in cells)
    footer = f"({len(result.rows)} of {result.total} rows, granularity {result.granularity_ms} ms"
    if result.errors:
        bounds = ", ".join(f"{k} ±{v:.3g}" for k, v in result.errors.items())
        footer += f"; error bounds: {bounds}"
    if result.next_cursor:
        footer += "; more rows: pass the cursor"
    lines.append(footer + ")")
    return "\n".join(lines) + "\n"
