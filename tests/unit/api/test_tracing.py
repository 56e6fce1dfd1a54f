"""OBS-3 and OBS-4: traceparent parsing, child spans, correlation ids in context."""

from __future__ import annotations

import asyncio
import re

from hypothesis import given
from hypothesis import strategies as st

from datanexus.api.tracing import (
    child_of,
    correlation_id,
    current_correlation_id,
    parse_traceparent,
    pick_correlation_id,
)

hexes = st.text(alphabet="0123456789abcdef", min_size=1, max_size=40)


@given(st.text(max_size=80))
def test_any_header_parses_or_is_none(header: str) -> None:
    span = parse_traceparent(header)
    if span is not None:
        assert re.fullmatch(r"[0-9a-f]{32}", span.trace_id)


@given(
    st.text("0123456789abcdef", min_size=32, max_size=32),
    st.text("0123456789abcdef", min_size=16, max_size=16),
    st.booleans(),
)
def test_child_keeps_trace_parents_on_span_and_gets_new_id(
    trace: str, span: str, sampled: bool
) -> None:
    header = f"00-{trace}-{span}-{'01' if sampled else '00'}"
    parent = parse_traceparent(header)
    if trace == "0" * 32 or span == "0" * 16:
        assert parent is None
        return
    assert parent is not None
    child = child_of(parent)
    assert child.trace_id == trace
    assert child.parent_span_id == span
    assert child.span_id != span
    assert child.sampled is sampled
    assert parse_traceparent(child.traceparent) is not None


def test_bad_headers_start_a_new_root() -> None:
    for bad in [
        None,
        "",
        "00-ABCDEF" + "0" * 26 + "-00f067aa0ba902b7-01",
        "ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
        "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7",
        "00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01",
    ]:
        assert parse_traceparent(bad) is None
        root = child_of(parse_traceparent(bad))
        assert root.parent_span_id is None
        assert re.fullmatch(r"00-[0-9a-f]{32}-[0-9a-f]{16}-01", root.traceparent)


def test_correlation_id_is_echoed_only_when_sane() -> None:
    assert pick_correlation_id("req-1:a.b_c") == "req-1:a.b_c"
    for bad in (None, "", "x" * 129, "a b", "a\nb", "é"):
        assert re.fullmatch(r"[0-9a-f]{32}", pick_correlation_id(bad))


def test_correlation_id_follows_each_task_and_never_leaks() -> None:
    async def request(name: str) -> tuple[str, str]:
        token = correlation_id.set(name)
        try:
            await asyncio.sleep(0.01)
            inside = current_correlation_id()
            await asyncio.sleep(0.01)
            return inside, current_correlation_id()
        finally:
            correlation_id.reset(token)

    async def main() -> list[tuple[str, str]]:
        return list(await asyncio.gather(*(request(f"r{i}") for i in range(20))))

    results = asyncio.run(main())
    assert results == [(f"r{i}", f"r{i}") for i in range(20)]
    assert current_correlation_id() == "-"
