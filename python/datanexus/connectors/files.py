"""Files as a Bytewax source: JSON lines or CSV, one partition per file, resumed by byte
offset, confined to a base directory (CONN-13).

Each partition reads its file from the byte offset after the last record it returned
(the resume state), so a restart re-reads exactly the records after the snapshot. Items
are :class:`~datanexus.connectors.decode.Decoded`: the events, and a dead letter with
the reason for every record that is not valid (bad UTF-8, bad JSON, a CSV row with the
wrong number of fields...). Nothing is dropped. The files are read to their end, then
the partition ends; a last line without a newline is a record too.

CSV: the first record is the header; fields are strings, except that a ``ts`` of digits
is read as epoch ms; a quoted field may span lines. Record positions are byte offsets.
"""

from __future__ import annotations

import csv
import io
import json
import os
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Literal
from urllib.parse import unquote

from bytewax.inputs import FixedPartitionedSource, StatefulSourcePartition

from datanexus.connectors.decode import Decoded, MessageBatch, decode_batch
from datanexus.errors import InvalidArgument, PathNotAllowed
from datanexus.store.dead_letters import DeadLetter

__all__ = ["FilePartition", "FileSource", "resolve_in_base"]

SOURCE = "file"
Format = Literal["jsonl", "csv"]
_INT = re.compile(r"-?\d{1,19}")
# %2e (.), %2f (/), %5c (\), %00, also double-encoded as %252e...
_ENCODED_PATH_CHAR = re.compile(r"%(?:25)*(?:2e|2f|5c|00)", re.IGNORECASE)


def resolve_in_base(base: str | os.PathLike[str], name: str) -> Path:
    """The real path of ``name`` inside ``base``, or :class:`PathNotAllowed`: no absolute
    paths, ``..``, NUL, backslashes or percent-encoded versions of them; symlinks are
    resolved first, so one pointing outside ``base`` is refused too. Spaces are fine."""
    if not isinstance(name, str) or not name:
        raise PathNotAllowed(f"file name must be a non-empty string, got {name!r}")
    decoded = name
    for _ in range(3):  # %252e%252e → %2e%2e → ..
        decoded = unquote(decoded)
    for form in (name, decoded):
        if "\x00" in form or "\\" in form:
            raise PathNotAllowed(f"file name {name!r} contains NUL or a backslash")
        if form.startswith("/") or os.path.isabs(form):
            raise PathNotAllowed(f"file name {name!r} is absolute")
        if ".." in form.split("/"):
            raise PathNotAllowed(f"file name {name!r} leaves the base directory")
    if _ENCODED_PATH_CHAR.search(name):
        raise PathNotAllowed(f"file name {name!r} has percent-encoded path characters")
    root = Path(base).resolve(strict=True)
    path = (root / name).resolve(strict=False)
    if not path.is_relative_to(root):
        raise PathNotAllowed(f"file name {name!r} resolves outside {root}")
    return path


def _csv_value(field: str, value: str) -> str | int:
    return int(value) if field == "ts" and _INT.fullmatch(value) else value


class FilePartition(StatefulSourcePartition[Decoded, int]):
    """One file; state = byte offset of the next record."""

    def __init__(
        self,
        path: Path,
        name: str,
        fmt: Format,
        resume_state: int | None,
        *,
        flow: str,
        batch_size: int,
        require_ts: bool,
    ) -> None:
        self._file = path.open("rb")
        self._name = name
        self._fmt = fmt
        self._flow = flow
        self._batch_size = batch_size
        self._require_ts = require_ts
        self._header: list[str] | None = None
        self._header_error: str | None = None
        if fmt == "csv":
            self._read_header()
        offset = resume_state if resume_state is not None else self._file.tell()
        if offset < 0:
            raise InvalidArgument(f"resume offset must be >= 0, got {offset}")
        self._file.seek(offset)
        self._offset = offset

    def _read_header(self) -> None:
        self._file.seek(0)
        record = self._record()
        if record is None:
            return
        try:
            self._header = next(csv.reader(io.StringIO(record[1].decode("utf-8"))))
        except (UnicodeDecodeError, csv.Error, StopIteration) as error:
            self._header_error = f"unreadable CSV header: {error}"

    def _record(self) -> tuple[int, bytes] | None:
        """(offset, bytes) of the next record, or None at the end of the file."""
        start = self._file.tell()
        line = self._file.readline()
        if not line:
            return None
        if self._fmt == "csv":
            # A quoted field may contain newlines: read on while a quote is open.
            while line.count(b'"') % 2 == 1:
                more = self._file.readline()
                if not more:
                    break
                line += more
        return start, line

    def next_batch(self) -> list[Decoded]:
        positions: list[str] = []
        bodies: list[bytes] = []
        letters: list[DeadLetter] = []
        while len(positions) + len(letters) < self._batch_size:
            record = self._record()
            if record is None:
                break
            offset, raw = record
            self._offset = self._file.tell()
            text = raw.rstrip(b"\r\n")
            if not text.strip():
                continue  # blank lines separate nothing
            if self._fmt == "jsonl":
                positions.append(str(offset))
                bodies.append(text)
                continue
            body, reason, error = self._csv_body(text)
            if body is not None:
                positions.append(str(offset))
                bodies.append(body)
            else:
                letters.append(
                    DeadLetter(SOURCE, self._name, str(offset), "decode", reason, error, text)
                )
        if not positions and not letters:
            raise StopIteration
        decoded = decode_batch(
            MessageBatch(SOURCE, self._name, positions, bodies, self._offset),
            flow=self._flow,
            require_ts=self._require_ts,
        )
        decoded.dead_letters.extend(letters)
        return [decoded]

    def _csv_body(self, text: bytes) -> tuple[bytes | None, str, str]:
        if self._header is None:
            return None, "csv_header", self._header_error or "no header"
        try:
            row = next(csv.reader(io.StringIO(text.decode("utf-8"), newline="")))
        except UnicodeDecodeError as error:
            return None, "invalid_utf8", str(error)
        except csv.Error as error:
            return None, "invalid_csv", str(error)
        if len(row) != len(self._header):
            return None, "csv_field_count", f"{len(row)} fields, header has {len(self._header)}"
        event = {f: _csv_value(f, v) for f, v in zip(self._header, row, strict=True)}
        return json.dumps(event, ensure_ascii=False).encode(), "", ""

    def snapshot(self) -> int:
        return self._offset

    def close(self) -> None:
        self._file.close()


class FileSource(FixedPartitionedSource[Decoded, int]):
    """Records of the files ``names`` (relative to ``base``) in format ``fmt``, one
    partition per file. Names are checked at construction (:func:`resolve_in_base`)."""

    def __init__(
        self,
        base: str | os.PathLike[str],
        names: Sequence[str],
        *,
        fmt: Format = "jsonl",
        flow: str = "files",
        batch_size: int = 1000,
        require_ts: bool = True,
    ) -> None:
        if fmt not in ("jsonl", "csv"):
            raise InvalidArgument(f"fmt must be 'jsonl' or 'csv', got {fmt!r}")
        self._paths = {name: resolve_in_base(base, name) for name in names}
        self._fmt: Format = fmt
        self._flow = flow
        self._batch_size = batch_size
        self._require_ts = require_ts

    def list_parts(self) -> list[str]:
        return list(self._paths)

    def build_part(self, step_id: str, for_part: str, resume_state: int | None) -> FilePartition:
        if for_part not in self._paths:
            raise InvalidArgument(f"unknown partition {for_part!r}")
        return FilePartition(
            self._paths[for_part],
            for_part,
            self._fmt,
            resume_state,
            flow=self._flow,
            batch_size=self._batch_size,
            require_ts=self._require_ts,
        )
