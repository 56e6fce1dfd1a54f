"""STREAM-21's gate against a plain reference, and the buffer limits' checks (the
buffer itself runs against the real Redis in tests/integration/api/test_buffer.py)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from datanexus.api.buffer import BufferLimits, Hysteresis
from datanexus.errors import InvalidArgument


@given(
    st.integers(1, 100),
    st.lists(st.tuples(st.booleans(), st.integers(0, 200)), max_size=60),
)
def test_gate_matches_the_reference(high: int, steps: list[tuple[bool, int]]) -> None:
    gate = Hysteresis(high)
    paused = False
    for manual, level in steps:
        if manual:
            if level < high:
                paused = False
            assert gate.resume(level) == (not paused)
        else:
            if level >= high:
                paused = True
            elif level < high / 2:
                paused = False
            assert gate.update(level) == paused
        assert not (paused and not gate.paused)
        if level >= high and not manual:
            assert gate.paused, "always paused at >= the threshold"


@pytest.mark.parametrize(
    ("kwargs", "where"),
    [
        ({"batch_events": 0}, "batch_events"),
        ({"max_events": 0}, "max_events"),
        ({"max_concurrent_flushes": 0}, "max_concurrent_flushes"),
        ({"flush_interval_s": 0.0}, "flush_interval_s"),
        ({"flush_interval_s": float("nan")}, "flush_interval_s"),
    ],
)
def test_bad_limits_are_refused_naming_the_field(kwargs: dict[str, float], where: str) -> None:
    with pytest.raises(InvalidArgument, match=where):
        BufferLimits(**kwargs)  # type: ignore[arg-type]
