"""OBS-5 / CONN-7: the shared redaction rules, by property and by example."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from datanexus.api import logs
from datanexus.redaction import REDACTED, is_secret_key, redact, redact_payload, redact_text

SECRET_WORDS = ["password", "Pass", "db_password", "secret", "TOKEN", "Authorization",
                "api_key", "X-Api-Key", "apikey", "cookie"]  # fmt: skip
MARKED_TEXT = [
    "dnx_" + "ab" * 32,
    "Bearer abc.def",
    "postgresql://u:hunter2@db/x",
    "password=pw1",
    "token: t0k",
    '{"password": "hunter2"}',
    '"api_key":"k1", "x": 1',
]

keys = st.one_of(st.text(max_size=8), st.sampled_from(SECRET_WORDS))
texts = st.one_of(
    st.text(max_size=30),
    st.sampled_from(MARKED_TEXT),
    st.builds("{} {}".format, st.sampled_from(MARKED_TEXT), st.text(max_size=10)),
)
scalars = st.one_of(st.none(), st.booleans(), st.integers(), st.floats(allow_nan=False), texts)
values = st.recursive(
    scalars,
    lambda inner: st.one_of(st.lists(inner, max_size=4), st.dictionaries(keys, inner, max_size=4)),
    max_leaves=20,
)


def _no_value_under_a_secret_key(value: Any) -> bool:
    if isinstance(value, dict):
        return all(
            (v == REDACTED) if is_secret_key(k) else _no_value_under_a_secret_key(v)
            for k, v in value.items()
        )
    if isinstance(value, list):
        return all(_no_value_under_a_secret_key(v) for v in value)
    return True


@given(values)
def test_redaction_is_idempotent(value: Any) -> None:
    once = redact(value)
    assert redact(once) == once


@given(values)
def test_no_value_is_left_under_a_secret_key(value: Any) -> None:
    assert _no_value_under_a_secret_key(redact(value))


# Keys and strings from an alphabet that cannot spell a secret marker.
plain_keys = st.text("abcdfghjlmnqruvwxyz_ 0123456789", max_size=8)
plain_scalars = st.one_of(
    st.none(), st.booleans(), st.integers(), st.text("abcdefgxyz 01.,", max_size=20)
)
plain_values = st.recursive(
    plain_scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4), st.dictionaries(plain_keys, inner, max_size=4)
    ),
    max_leaves=20,
)  # fmt: skip


@given(plain_values)
def test_structures_without_secrets_are_left_equal(value: Any) -> None:
    assert redact(value) == value
    body = json.dumps(value).encode()
    assert redact_payload(body) == body, "a clean body is stored byte for byte"


@given(values)
def test_payload_of_json_is_the_redacted_value(value: Any) -> None:
    body = json.dumps(value).encode()
    out = redact_payload(body)
    assert json.loads(out) == redact(value)
    assert redact_payload(out) == out


@given(st.binary(max_size=80), st.sampled_from(MARKED_TEXT), st.binary(max_size=20))
def test_undecodable_payloads_are_kept_and_their_text_redacted(
    head: bytes, marked: str, tail: bytes
) -> None:
    body = head + b"\xff" + marked.encode() + b" " + tail
    out = redact_payload(body)
    assert redact_payload(out) == out
    for secret in (b"hunter2", b"pw1", b"t0k", b"k1", b"abc.def", b"ab" * 32):
        if secret in marked.encode() and secret not in head + tail:
            assert secret not in out


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        (b'{"password":"hunter2","a":1}', b'{"password":"[REDACTED]","a":1}'),
        (b'{"user": {"Api-Key": ["k", 2]}, "n": 1}', b'{"user":{"Api-Key":"[REDACTED]"},"n":1}'),
        (b'{"password":"hun', b'{"password":"[REDACTED]"'),  # cut off mid-string
        (b'{oops "token": 123, "x": 2}', b'{oops "token": "[REDACTED]", "x": 2}'),
        (b'\xff\xfe{"secret":"s\\"q"}\x00', b'\xff\xfe{"secret":"[REDACTED]"}\x00'),
        (
            b'{"password":"s","password":"[REDACTED]"}',  # parsing would hide the first
            b'{"password":"[REDACTED]"}',
        ),
        (b'{"note": "hunter2"}', b'{"note": "hunter2"}'),  # an innocent name: not caught
        (b'{"x": NaN, "a": [1.5e300, "ok"]}', b'{"x": NaN, "a": [1.5e300, "ok"]}'),
        (b"", b""),
    ],
)
def test_payload_examples(body: bytes, expected: bytes) -> None:
    assert redact_payload(body) == expected


def test_text_patterns_and_the_logs_use_the_same_function() -> None:
    assert logs.redact is redact
    assert redact_text("Bearer abc, ok") == "Bearer [REDACTED], ok"
    assert redact_text("redis://:pw@h:1/0") == "redis://:***@h:1/0"
    assert redact({"a": ("x", {"cookie": {"deep": 1}})}) == {"a": ["x", {"cookie": REDACTED}]}
