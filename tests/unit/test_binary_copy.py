"""The native binary COPY encoder against a plain struct-based reference of the format."""

from __future__ import annotations

import math
import struct
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from datanexus._native import copy_binary
from datanexus.binary_copy import SIGNATURE, TRAILER
from datanexus.errors import InvalidArgument, InvalidType

KINDS = ["text", "bytea", "int8", "float8", "timestamptz_ms"]
PG_EPOCH_US = 946_684_800_000_000


def reference(rows: list[tuple[Any, ...]], kinds: list[str]) -> bytes:
    out = bytearray()
    for row in rows:
        out += struct.pack("!h", len(row))
        for kind, v in zip(kinds, row, strict=True):
            if v is None:
                out += struct.pack("!i", -1)
            elif kind == "text":
                b = v.encode()
                out += struct.pack("!i", len(b)) + b
            elif kind == "bytea":
                out += struct.pack("!i", len(v)) + v
            elif kind == "int8":
                out += struct.pack("!iq", 8, v)
            elif kind == "float8":
                out += struct.pack("!id", 8, float(v))
            else:
                out += struct.pack("!iq", 8, v * 1000 - PG_EPOCH_US)
    return bytes(out)


def value(kind: str) -> st.SearchStrategy[Any]:
    strategies: dict[str, st.SearchStrategy[Any]] = {
        "text": st.text(alphabet=st.characters(blacklist_categories=("Cs",))),
        "bytea": st.binary(max_size=300),
        "int8": st.integers(-(2**63), 2**63 - 1),
        "float8": st.floats(allow_nan=False) | st.integers(-(2**53), 2**53),
        "timestamptz_ms": st.integers(-(2**40), 2**40),
    }
    return st.none() | strategies[kind]


@st.composite
def table(draw: st.DrawFn) -> tuple[list[str], list[tuple[Any, ...]]]:
    kinds = draw(st.lists(st.sampled_from(KINDS), min_size=1, max_size=6))
    rows = draw(st.lists(st.tuples(*(value(k) for k in kinds)), max_size=20))
    return kinds, rows


@given(table())
def test_equals_the_reference_encoding(t: tuple[list[str], list[tuple[Any, ...]]]) -> None:
    kinds, rows = t
    assert copy_binary(rows, kinds) == reference(rows, kinds)


def test_nan_and_infinities_keep_their_bits() -> None:
    got = copy_binary([(math.nan,), (math.inf,), (-0.0,)], ["float8"])
    assert got == reference([(math.nan,), (math.inf,), (-0.0,)], ["float8"])


def test_stream_framing_is_postgres_own() -> None:
    assert SIGNATURE == b"PGCOPY\n\xff\r\n\x00" + b"\x00" * 8
    assert struct.unpack("!h", TRAILER) == (-1,)


@pytest.mark.parametrize(
    ("row", "kinds", "message"),
    [
        ((True,), ["int8"], "row 0, column 0: expected int"),
        ((1.5,), ["int8"], "expected int"),
        (("1",), ["float8"], "expected float"),
        ((b"x",), ["text"], "expected str"),
        (("x",), ["bytea"], "expected bytes"),
        ((2**63,), ["int8"], "out of int8 range"),
        ((2**62,), ["timestamptz_ms"], "out of timestamptz range"),
        (("\ud800",), ["text"], "surrogates not allowed"),  # not UTF-8: PostgreSQL refuses it
    ],
)
def test_a_wrong_value_names_row_and_column(
    row: tuple[Any, ...], kinds: list[str], message: str
) -> None:
    with pytest.raises(InvalidType, match=message):
        copy_binary([row], kinds)


def test_shape_errors() -> None:
    with pytest.raises(InvalidArgument, match='column type "jsonb"'):
        copy_binary([(1,)], ["jsonb"])
    with pytest.raises(InvalidArgument, match="row 0: 2 values for 1 columns"):
        copy_binary([(1, 2)], ["int8"])
    with pytest.raises(InvalidType, match="row 0: expected a tuple"):
        copy_binary([[1]], ["int8"])
