"""Settings validation and secrets kept out of repr."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from datanexus.api.settings import ApiSettings


def test_password_never_in_repr() -> None:
    s = ApiSettings(database_url="postgresql://u:s3cret@h/db", redis_url="redis://:pw9@r:6379/0")
    assert "s3cret" not in repr(s)
    assert "pw9" not in repr(s)
    assert "u:***@h" in repr(s)


@pytest.mark.parametrize(
    "kwargs",
    [
        {"db_schema": "Bad-Schema"},
        {"cors_origins": ("*",)},
        {"cors_origins": ("evil",)},
        {"rate_limit_requests": 0},
        {"unknown": 1},
    ],
)
def test_bad_settings_fail_naming_the_key(kwargs: dict[str, object]) -> None:
    with pytest.raises((ValidationError, ValueError)):
        ApiSettings(database_url="postgresql://x", redis_url="redis://x", **kwargs)


def test_stream20_buffer_defaults_and_checks() -> None:
    s = ApiSettings(database_url="postgresql://x", redis_url="redis://x")
    assert (s.buffer_batch_events, s.buffer_flush_interval_s) == (1000, 5.0)
    assert (s.buffer_max_events, s.buffer_max_concurrent_flushes) == (5000, 3)
    for bad, where in [
        ({"buffer_batch_events": 0}, "buffer_batch_events"),
        ({"buffer_flush_interval_s": 0}, "buffer_flush_interval_s"),
        ({"buffer_flush_interval_s": float("inf")}, "buffer_flush_interval_s"),
        ({"buffer_max_concurrent_flushes": 0}, "buffer_max_concurrent_flushes"),
        ({"buffer_batch_events": 6000}, "buffer_batch_events"),
    ]:
        with pytest.raises(ValueError, match=where):
            ApiSettings(database_url="postgresql://x", redis_url="redis://x", **bad)
