"""Validating events against a tenant's JSON Schema, safely (PIPE-9).

Tenants write these schemas, so building a validator must never reach the network or
the file system and validating must run in time linear in the event:

* ``pattern`` runs on the linear-time ``regex`` engine (jsonschema-rs ``RegexOptions``),
  not the backtracking fancy-regex default: a pattern that needs backtracking
  (backreferences, lookaround) is refused when the validator is built, and
  ``^(x+x+)+y$`` over 5 000 ``x`` takes microseconds.
* ``$ref`` must be local (``#``, ``#/$defs/...``): any other reference is refused with
  :class:`InvalidSchema` before jsonschema-rs sees the schema, and the retriever given to
  jsonschema-rs refuses every URI as a second line of defence, so nothing is fetched.
* the schema may not pass :data:`MAX_SCHEMA_BYTES` (canonical JSON) nor
  :data:`MAX_SCHEMA_DEPTH` levels of nesting (:class:`SchemaLimitExceeded`);
* it must be a valid draft 2020-12 schema (checked against the meta-schema at build,
  :class:`InvalidSchema` naming the keyword); ``format`` is an annotation only.

Each reason :meth:`SchemaValidator.errors` returns starts with the JSON pointer of the
failing place of the event (``/items/0/price: "x" is not of type "number"``; the root is
``/``), so a dead-lettered event says where it is wrong.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, NoReturn

import jsonschema_rs

from datanexus.errors import InvalidSchema

from .canonical import (
    MAX_SCHEMA_BYTES,
    MAX_SCHEMA_DEPTH,
    SUBSCHEMA,
    SUBSCHEMA_LIST,
    SUBSCHEMA_MAP,
    Schema,
    canonical_text,
    check_schema_document,
)

__all__ = ["SchemaValidator", "json_pointer"]


def json_pointer(parts: Iterable[str | int]) -> str:
    """The RFC 6901 pointer of a path (``["items", 0, "price"]`` → ``/items/0/price``;
    the empty path → ``/``)."""
    escaped = [str(p).replace("~", "~0").replace("/", "~1") for p in parts]
    return "/" + "/".join(escaped) if escaped else "/"


#: Longest reason kept: messages quote the failing value, which may be a huge string.
MAX_REASON_CHARS = 300


def _clip(message: str) -> str:
    if len(message) <= MAX_REASON_CHARS:
        return message
    return message[: MAX_REASON_CHARS - 1] + "…"


def _refuse(uri: str) -> NoReturn:
    raise InvalidSchema(f"$ref {uri!r} is not local; schemas may only refer to themselves")


def _check_refs(schema: Schema) -> None:
    """Refuse every ``$ref``/``$dynamicRef`` that is not ``#...`` and every ``$id`` that
    would move the base URI (a relative ``$ref`` would then resolve elsewhere)."""
    stack: list[tuple[Any, str]] = [(schema, "")]
    while stack:
        node, where = stack.pop()
        if not isinstance(node, dict):
            continue
        for key in ("$ref", "$dynamicRef"):
            if key in node:
                target = node[key]
                if not isinstance(target, str) or not target.startswith("#"):
                    raise InvalidSchema(
                        f"{key} {target!r} at {where or '/'} is not local; only '#' and "
                        "'#/...' references into the same schema are allowed"
                    )
        if "$id" in node and isinstance(node["$id"], str) and not node["$id"].startswith("#"):
            raise InvalidSchema(
                f"$id {node['$id']!r} at {where or '/'} is not allowed: a tenant schema has "
                "no base URI of its own"
            )
        for key, value in node.items():
            if key in SUBSCHEMA:
                stack.append((value, f"{where}/{key}"))
            elif key in SUBSCHEMA_LIST and isinstance(value, list):
                stack.extend((v, f"{where}/{key}/{i}") for i, v in enumerate(value))
            elif key in SUBSCHEMA_MAP and isinstance(value, dict):
                stack.extend((v, f"{where}/{key}/{k}") for k, v in value.items())


class SchemaValidator:
    """A compiled, safe validator of events against one JSON Schema (draft 2020-12).

    Build errors: :class:`InvalidType` (not a dict or bool), :class:`InvalidSchema`
    (invalid schema, non-local ``$ref``, a pattern the linear-time engine refuses),
    :class:`SchemaLimitExceeded` (size or depth). Validating never raises for any JSON
    event; a non-JSON Python value (a set) is reported as a reason, not raised.
    Instances are immutable and safe to share between threads.
    """

    def __init__(
        self,
        schema: Schema,
        *,
        max_bytes: int = MAX_SCHEMA_BYTES,
        max_depth: int = MAX_SCHEMA_DEPTH,
    ) -> None:
        checked = check_schema_document(schema, max_depth=max_depth)
        canonical_text(checked, max_bytes=max_bytes)
        _check_refs(checked)
        try:
            self._validator = jsonschema_rs.Draft202012Validator(
                checked,
                retriever=_refuse,
                pattern_options=jsonschema_rs.RegexOptions(),
                validate_formats=False,
            )
        except jsonschema_rs.ValidationError as error:
            where = json_pointer(error.instance_path)
            raise InvalidSchema(
                f"not a valid JSON Schema (draft 2020-12) at {where}: {error.message}"
            ) from None
        except (jsonschema_rs.ReferencingError, ValueError) as error:
            raise InvalidSchema(f"schema cannot be compiled: {error}") from None
        self._schema = checked

    @property
    def schema(self) -> Schema:
        return self._schema

    def errors(self, event: object) -> list[str]:
        """Every reason ``event`` is invalid, each ``"<json pointer>: <message>"``, in
        the validator's order; [] when valid. This is the pipeline's validation step
        (a ``Callable[[dict], list[str]]``)."""
        try:
            return [
                f"{json_pointer(e.instance_path)}: {_clip(e.message)}"
                for e in self._validator.iter_errors(event)
            ]
        except (TypeError, ValueError) as error:
            return [f"/: not a JSON value ({error})"]

    __call__ = errors

    def is_valid(self, event: object) -> bool:
        """Whether ``event`` is valid (stops at the first error)."""
        try:
            return bool(self._validator.is_valid(event))
        except (TypeError, ValueError):
            return False

    def split(self, events: Iterable[Any]) -> tuple[list[Any], list[tuple[Any, list[str]]]]:
        """``(valid, invalid)``: the valid events in order, and each invalid one in order
        with its reasons (for the dead-letter table)."""
        valid: list[Any] = []
        invalid: list[tuple[Any, list[str]]] = []
        for event in events:
            if self.is_valid(event):
                valid.append(event)
            else:
                invalid.append((event, self.errors(event)))
        return valid, invalid
