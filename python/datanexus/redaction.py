"""Secret redaction, shared by the API's logs (OBS-5) and the dead-letter writer (CONN-7).

Two rules, the same everywhere:

- a mapping key that looks like a secret (``password``, ``pass``, ``secret``, ``token``,
  ``authorization``, ``api_key``/``api-key``/``apikey``, ``cookie``; case-insensitive,
  anywhere in the key, so ``db_password`` and ``X-Api-Key`` count) has its value replaced
  by ``"[REDACTED]"``, whatever the value (a nested object too);
- in every string: DataNexus API keys (``dnx_`` + 64 hex digits), bearer tokens
  (``Bearer <token>``), passwords in URLs (``scheme://user:<password>@``),
  ``password=…``/``token: …``-style assignments and JSON members with a secret-like name
  (``"password": "…"``) are masked.

What is NOT caught: secrets under innocent names (``{"note": "hunter2"}``), secrets in
free text without a recognisable marker, tokens of other formats (a bare JWT or cloud key
not preceded by ``Bearer``/``token=``), and in undecodable payloads anything but the
textual patterns above (a password split across escapes, in a binary encoding, or in a
JSON member whose name is itself escaped). The key rule errs on the side of hiding:
``passenger`` and ``tokens_used`` are masked too.

:func:`redact` works on decoded values (logs, events); :func:`redact_payload` on raw
message bytes, for input that may not decode at all. Both are idempotent.
"""

from __future__ import annotations

import json
import re
from typing import Any

__all__ = ["REDACTED", "is_secret_key", "redact", "redact_payload", "redact_text"]

REDACTED = "[REDACTED]"

_SECRET_KEY = re.compile(r"(pass(word)?|secret|token|authorization|api[_-]?key|cookie)", re.I)
_SECRET_TEXT = [
    (re.compile(r"dnx_[0-9a-f]{64}"), "dnx_[REDACTED]"),
    (re.compile(r"(?i)(bearer\s+)[^\s,;\"']+"), r"\1[REDACTED]"),
    (re.compile(r"(://[^:/@\s]*:)[^@\s]*@"), r"\1***@"),
    (
        re.compile(r"(?i)\b(pass(?:word)?|pwd|secret|token|api[_-]?key)(\s*[=:]\s*)[^\s,;\"']+"),
        r"\1\2[REDACTED]",
    ),
    # A JSON member with a secret-like name, in text that is not (or not only) JSON:
    # the value (a string with escapes, unterminated in cut-off text, or a bare scalar)
    # becomes "[REDACTED]".
    (
        re.compile(
            r"(?i)(\"[^\"\\]*(?:pass|secret|token|authorization|api[_-]?key|cookie)[^\"\\]*\""
            r"\s*:\s*)(?:\"(?:[^\"\\]|\\.)*\"?|[^\s,}\]\"]+)"
        ),
        r'\1"[REDACTED]"',
    ),
]


def is_secret_key(key: object) -> bool:
    """True when ``key`` is a string named like a secret (see the module)."""
    return isinstance(key, str) and _SECRET_KEY.search(key) is not None


def redact_text(text: str) -> str:
    """``text`` with the textual secret patterns masked."""
    for pattern, replacement in _SECRET_TEXT:
        text = pattern.sub(replacement, text)
    return text


def redact(value: Any) -> Any:
    """``value`` with secrets masked: strings by :func:`redact_text`, dict values under
    secret-like keys replaced by ``"[REDACTED]"``, lists and tuples (returned as lists)
    and dict values walked recursively; anything else is returned as it is."""
    if isinstance(value, str):
        return redact_text(value)
    if isinstance(value, dict):
        return {k: REDACTED if is_secret_key(k) else redact(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [redact(v) for v in value]
    return value


class _DuplicateKey(Exception):
    pass


def _unique_pairs(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    obj = dict(pairs)
    if len(obj) != len(pairs):
        raise _DuplicateKey
    return obj


def redact_payload(payload: bytes) -> bytes:
    """A message body with secrets masked, for storing input that could not be used.

    JSON (NaN and Infinity accepted, as Python writes them) is parsed and
    :func:`redact`-ed; a body with nothing to mask is returned byte for byte as
    received, otherwise the redacted value is re-encoded as compact JSON (also when an
    object repeats a key, as parsing keeps only the last one and an earlier
    ``"password"`` must not survive). Anything else (bad JSON, not UTF-8) is masked as
    text by :func:`redact_text`; bytes that are not UTF-8 pass through unchanged
    (surrogate escapes), so an undecodable body is still stored."""
    text = payload.decode("utf-8", errors="surrogateescape")
    unique = True
    try:
        try:
            value = json.loads(text, object_pairs_hook=_unique_pairs)
        except _DuplicateKey:
            value, unique = json.loads(text), False
    except (ValueError, RecursionError):
        return redact_text(text).encode("utf-8", errors="surrogateescape")
    redacted = redact(value)
    if unique and redacted == value:
        return payload
    return json.dumps(redacted, ensure_ascii=False, separators=(",", ":")).encode(
        "utf-8", errors="surrogateescape"
    )
