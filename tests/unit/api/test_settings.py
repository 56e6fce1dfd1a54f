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
