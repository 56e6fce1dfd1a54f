"""Request bodies with NUL characters are refused before any route runs (a PostgreSQL
text column cannot hold them: schemathesis found a 500 on POST /v1/teams)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError

from datanexus.api.models import StrictModel, nul_path


class Body(StrictModel):
    name: str
    tags: tuple[str, ...] = ()
    meta: dict[str, str] | None = None


@pytest.mark.parametrize(
    "data",
    [
        {"name": "a\x00b"},
        {"name": "ok", "tags": ["x", "\x00"]},
        {"name": "ok", "meta": {"k\x00": "v"}},
    ],
)
def test_nul_anywhere_is_refused(data: dict[str, object]) -> None:
    with pytest.raises(ValidationError, match="NUL"):
        Body.model_validate(data)


@given(st.recursive(st.text(), lambda inner: st.lists(inner) | st.dictionaries(st.text(), inner)))
def test_nul_path_finds_exactly_the_strings_with_nul(value: object) -> None:
    def has_nul(v: object) -> bool:
        if isinstance(v, str):
            return "\x00" in v
        if isinstance(v, list):
            return any(has_nul(x) for x in v)
        if isinstance(v, dict):
            return any("\x00" in k or has_nul(x) for k, x in v.items())
        return False

    assert (nul_path(value) is not None) == has_nul(value)
