"""PostgreSQL's binary COPY format, encoded natively for bulk writes.

psycopg's ``Copy.write_row`` dumps value by value through its adapters (about 2 us for
a 15-column rollup row here); :func:`write_rows` encodes a chunk of rows in one native
call and hands psycopg the bytes. Columns are ``text``, ``bytea``, ``int8``, ``float8``
(an int is accepted for float8; bool never is a number) or ``timestamptz_ms`` (an int
of epoch milliseconds for a ``timestamptz`` column, converted exactly: the format's
timestamptz is int8 microseconds since 2000-01-01 UTC); ``None`` is NULL.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from itertools import islice
from typing import Any

from psycopg import Copy

from datanexus._native import COPY_SIGNATURE, COPY_TRAILER, copy_binary

__all__ = ["SIGNATURE", "TRAILER", "write_rows"]

SIGNATURE = COPY_SIGNATURE
"""The start of a binary COPY stream: signature, flags, empty header extension."""
TRAILER = COPY_TRAILER
"""The end of a binary COPY stream."""

_CHUNK = 2000  # rows per native call: bounded memory, and psycopg sends while we encode


def write_rows(copy: Copy, rows: Iterable[Sequence[Any]], kinds: Sequence[str]) -> None:
    """Write ``rows`` (tuples, one value per column of ``kinds``) as the whole binary
    stream of ``copy`` (a ``COPY ... FROM STDIN (FORMAT BINARY)``). A value of the wrong
    type raises :class:`~datanexus.errors.InvalidType` naming its row (within its chunk)
    and column, and the COPY fails with it; an unknown kind raises
    :class:`~datanexus.errors.InvalidArgument`."""
    kinds = list(kinds)
    copy.write(SIGNATURE)
    it = iter(rows)
    while chunk := list(islice(it, _CHUNK)):
        copy.write(copy_binary(chunk, kinds))
    copy.write(TRAILER)
