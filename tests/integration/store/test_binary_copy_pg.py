"""The native binary COPY encoder against the real PostgreSQL: what goes in comes back."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from datanexus.binary_copy import write_rows

ROW = st.tuples(
    st.none()
    | st.text(alphabet=st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00")),
    st.none() | st.binary(max_size=3000),
    st.none() | st.integers(-(2**63), 2**63 - 1),
    st.none() | st.floats(allow_nan=False),
    st.none() | st.integers(-62_135_596_800_000, 253_402_300_799_999),  # years 1..9999
)


@settings(
    max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(rows=st.lists(ROW, max_size=50))
def test_rows_round_trip_through_copy(pg: psycopg.Connection[Any], rows: list[Any]) -> None:
    with pg.transaction(), pg.cursor() as cur:
        cur.execute(
            "CREATE TEMP TABLE t (a text, b bytea, c int8, d float8, e timestamptz) ON COMMIT DROP"
        )
        with cur.copy("COPY t FROM STDIN (FORMAT BINARY)") as copy:
            write_rows(copy, rows, ["text", "bytea", "int8", "float8", "timestamptz_ms"])
        back = cur.execute("SELECT a, b, c, d, e FROM t").fetchall()
    epoch = datetime(1970, 1, 1, tzinfo=UTC)
    want = [
        (a, b, c, d, None if e is None else epoch + timedelta(milliseconds=e))
        for a, b, c, d, e in rows
    ]
    assert sorted(back, key=repr) == sorted(want, key=repr)
