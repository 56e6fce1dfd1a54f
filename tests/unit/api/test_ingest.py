"""API-3 body decoding and row checks against plain Python references."""

from __future__ import annotations

import gzip
import json
from datetime import UTC, datetime
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from datanexus.api.errors import ApiError
from datanexus.api.ingest import check_rows, decode_body
from datanexus.connectors.idempotency import idempotency_key

scalars = st.one_of(st.none(), st.booleans(), st.integers(-(2**53), 2**53), st.text(max_size=10))
events = st.dictionaries(st.text("abcdefghij", min_size=1, max_size=5), scalars, max_size=5)
NOW = datetime(2025, 1, 1, tzinfo=UTC)


@given(st.lists(events, min_size=1, max_size=20))
def test_json_ndjson_and_gzip_decode_to_the_same_rows(batch: list[dict[str, Any]]) -> None:
    as_json = json.dumps(batch).encode()
    as_ndjson = b"\n".join(json.dumps(e).encode() for e in batch)
    limit = 1 << 20
    assert decode_body(as_json, "application/json", "", limit) == batch
    assert decode_body(as_ndjson, "application/x-ndjson; charset=utf-8", "", limit) == batch
    assert decode_body(gzip.compress(as_json), "application/json", "gzip", limit) == batch


@given(st.binary(max_size=200))
def test_arbitrary_bytes_never_crash(body: bytes) -> None:
    for ctype in ("application/json", "application/x-ndjson"):
        for encoding in ("", "gzip"):
            status = None
            try:
                decode_body(body, ctype, encoding, 1 << 16)
            except ApiError as error:
                status = error.status
            assert status in (None, 400, 413)


def test_nan_and_non_arrays_are_refused() -> None:
    with pytest.raises(ApiError, match="not a JSON number"):
        decode_body(b'[{"x": NaN}]', "application/json", "", 1000)
    with pytest.raises(ApiError, match="array"):
        decode_body(b'{"x": 1}', "application/json", "", 1000)
    with pytest.raises(ApiError, match="line 2"):
        decode_body(b'{"x": 1}\n{oops', "application/x-ndjson", "", 1000)
    with pytest.raises(ApiError) as error:
        decode_body(b"[]", "application/json", "br", 1000)
    assert error.value.status == 415


def _reference(rows: list[Any], tenant: str, stream: str) -> list[str | None]:
    """Plain reference: the id each row gets, None when refused."""
    out: list[str | None] = []
    for row in rows:
        if not isinstance(row, dict) or row.get("tenant", tenant) != tenant:
            out.append(None)
            continue
        if row.get("stream", stream) != stream:
            out.append(None)
            continue
        ts = row.get("ts", int(NOW.timestamp() * 1000))
        ok_ts = (isinstance(ts, int) and not isinstance(ts, bool) and ts >= 0) or (
            isinstance(ts, str) and _aware(ts)
        )
        ident = row.get("id")
        ok_id = (
            ident is None
            or (isinstance(ident, str) and ident)
            or (isinstance(ident, int) and not isinstance(ident, bool))
        )
        if "id" in row and ident is None:
            ok_id = False
        if not ok_ts or not ok_id:
            out.append(None)
            continue
        full = {**row, "ts": ts, "tenant": tenant, "stream": stream}
        out.append(idempotency_key(full))
    return out


def _aware(text: str) -> bool:
    try:
        return datetime.fromisoformat(text).tzinfo is not None
    except ValueError:
        return False


rows_strategy = st.lists(
    st.one_of(
        st.fixed_dictionaries(
            {},
            optional={
                "ts": st.one_of(
                    st.integers(-5, 2**41),
                    st.booleans(),
                    st.sampled_from(
                        ["2025-01-01T00:00:00Z", "2025-01-01", "junk", "2025-01-01T00:00:00+02:00"]
                    ),
                ),
                "tenant": st.sampled_from(["acme", "other"]),
                "stream": st.sampled_from(["web", "orders"]),
                "id": st.one_of(st.none(), st.integers(0, 9), st.sampled_from(["", "e1"])),
                "v": scalars,
            },
        ),
        scalars,
    ),
    max_size=15,
)


@given(rows_strategy)
def test_check_rows_matches_the_reference(rows: list[Any]) -> None:
    events, results = check_rows(rows, "acme", "web", NOW)
    expected = _reference(rows, "acme", "web")
    assert [r.id if r.error is None else None for r in results] == expected
    assert [e["id"] for e in events] == [i for i in expected if i is not None]
    assert all(e["tenant"] == "acme" and e["stream"] == "web" for e in events)
