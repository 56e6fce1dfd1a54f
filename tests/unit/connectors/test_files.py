"""The file source: JSON lines and CSV, resume by byte offset, base-directory confinement."""

from __future__ import annotations

import os
from datetime import timedelta
from pathlib import Path

import bytewax.operators as op
import pytest
from bytewax.dataflow import Dataflow
from bytewax.testing import TestingSink, run_main

from datanexus.connectors.decode import Decoded
from datanexus.connectors.files import FilePartition, FileSource, resolve_in_base
from datanexus.errors import PathNotAllowed


def run(source: FileSource) -> list[Decoded]:
    out: list[Decoded] = []
    df = Dataflow("files")
    op.output("out", op.input("in", df, source), TestingSink(out))
    run_main(df, epoch_interval=timedelta(0))
    return out


def test_jsonl_every_line_is_an_event_or_a_dead_letter(tmp_path: Path) -> None:
    lines = [b'{"ts": 1, "v": 1}', b"", b"{broken", b'{"ts": 3, "v": 3}', b'{"v": 4}', b'"x"']
    (tmp_path / "daily report.jsonl").write_bytes(b"\n".join(lines))  # no final newline
    out = run(FileSource(tmp_path, ["daily report.jsonl"], batch_size=2))
    events = [e for d in out for e in d.events]
    letters = [(dl.position, dl.reason) for d in out for dl in d.dead_letters]
    assert [e["v"] for e in events] == [1, 3]
    offsets = [sum(len(x) + 1 for x in lines[:i]) for i in range(len(lines))]
    assert letters == [
        (str(offsets[2]), "invalid_json"),
        (str(offsets[4]), "invalid_ts"),
        (str(offsets[5]), "not_an_object"),
    ]
    assert out[-1].progress is not None
    assert out[-1].progress.position == sum(len(x) + 1 for x in lines) - 1


def test_csv_with_a_quoted_newline_and_a_short_row(tmp_path: Path) -> None:
    text = 'ts,city,note\n1000,Oslo,"two\nlines"\n2000,Bergen\n3000,"Trond, heim",ok\n'
    (tmp_path / "a.csv").write_text(text)
    out = run(FileSource(tmp_path, ["a.csv"], fmt="csv"))
    events = [e for d in out for e in d.events]
    assert events == [
        {"ts": 1000, "city": "Oslo", "note": "two\nlines"},
        {"ts": 3000, "city": "Trond, heim", "note": "ok"},
    ]
    [letter] = [dl for d in out for dl in d.dead_letters]
    assert letter.reason == "csv_field_count"
    assert letter.payload == b"2000,Bergen"
    assert letter.position == str(text.index("2000"))


def test_resuming_from_the_snapshot_reads_exactly_the_rest(tmp_path: Path) -> None:
    (tmp_path / "e.jsonl").write_text("".join(f'{{"ts": {i}, "n": {i}}}\n' for i in range(10)))
    part = FilePartition(
        tmp_path / "e.jsonl", "e.jsonl", "jsonl", None, flow="f", batch_size=3, require_ts=True
    )
    first = part.next_batch()[0]
    state = part.snapshot()
    part.close()
    again = FilePartition(
        tmp_path / "e.jsonl", "e.jsonl", "jsonl", state, flow="f", batch_size=100, require_ts=True
    )
    rest = again.next_batch()[0]
    with pytest.raises(StopIteration):
        again.next_batch()
    again.close()
    assert [e["n"] for e in first.events] == [0, 1, 2]
    assert [e["n"] for e in rest.events] == list(range(3, 10))


def test_csv_resume_rereads_the_header(tmp_path: Path) -> None:
    (tmp_path / "r.csv").write_text("ts,x\n1,a\n2,b\n3,c\n")
    part = FilePartition(
        tmp_path / "r.csv", "r.csv", "csv", None, flow="f", batch_size=1, require_ts=True
    )
    part.next_batch()
    state = part.snapshot()
    part.close()
    again = FilePartition(
        tmp_path / "r.csv", "r.csv", "csv", state, flow="f", batch_size=10, require_ts=True
    )
    assert again.next_batch()[0].events == [{"ts": 2, "x": "b"}, {"ts": 3, "x": "c"}]
    again.close()


@pytest.mark.parametrize(
    "name",
    [
        "../etc/passwd",
        "a/../../b",
        "/etc/passwd",
        "a\x00b",
        "a\\b",
        "%2e%2e%2fsecret",
        "%2E%2E/secret",
        "%252e%252e%252fsecret",
        "",
    ],
)
def test_names_leaving_the_base_directory_are_refused(tmp_path: Path, name: str) -> None:
    with pytest.raises(PathNotAllowed):
        resolve_in_base(tmp_path, name)


def test_symlinks_are_resolved_before_the_check(tmp_path: Path) -> None:
    base = tmp_path / "base"
    base.mkdir()
    outside = tmp_path / "secret.jsonl"
    outside.write_text("{}\n")
    os.symlink(outside, base / "link.jsonl")
    os.symlink(base / "real.jsonl", base / "inner.jsonl")
    with pytest.raises(PathNotAllowed, match="outside"):
        resolve_in_base(base, "link.jsonl")
    assert resolve_in_base(base, "inner.jsonl") == (base / "real.jsonl").resolve()
    assert resolve_in_base(base, "daily report.csv") == base.resolve() / "daily report.csv"
    assert resolve_in_base(base, "sub/dir/x.jsonl") == base.resolve() / "sub/dir/x.jsonl"
