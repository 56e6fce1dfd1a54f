"""Load-time type check of a spec's CEL expressions against its JSON Schema (PIPE-17).

cel-python parses CEL but has no type checker, so the check is done by evaluation on a
*probe*: an event holding one value of the declared type for every top-level property of
the schema (the first ``enum`` value, the first of several types, ``0`` / ``0.0`` /
``"0"`` / ``false`` / ``{}`` / ``[]``). The probe goes through the steps in order, as an
event would — a filter that would drop it is ignored, a step that fails on it ends the
probe — and every CEL expression met on the way (derived fields, filters, then the
routes and the routing key) is evaluated on the probe as it stands at that step. An
evaluation that fails for want of an operator for its operand types (``status + "x"``
with an integer ``status``) is a type error and fails the spec, naming the key.

Only expressions whose variables are all known on the probe are checked (fields from an
open schema or set by steps the probe could not pass stay unchecked); other failures on
the probe's made-up values (division by zero, a missing map key) are not type errors and
are left to run time.
"""

from __future__ import annotations

import copy
from collections.abc import Sequence
from typing import Any

from datanexus.errors import ConfigError, TransformError
from datanexus.pipeline.expressions import Expression, OperandTypeError
from datanexus.pipeline.steps import Step
from datanexus.pipeline.steps.logic import DeriveStep, FilterStep

__all__ = ["probe_event", "type_check"]

_SAMPLES: dict[str, Any] = {
    "integer": 0,
    "number": 0.0,
    "string": "0",
    "boolean": False,
    "object": {},
    "array": [],
    "null": None,
}


def probe_event(schema: dict[str, Any]) -> dict[str, Any]:
    """One value per top-level property of ``schema`` (see the module docstring)."""
    props = schema.get("properties")
    if not isinstance(props, dict):
        return {}
    probe: dict[str, Any] = {}
    for name, sub in props.items():
        value = _sample(sub)
        if value is not _UNKNOWN:
            probe[name] = value
    return probe


_UNKNOWN = object()


def _sample(sub: Any) -> Any:
    if not isinstance(sub, dict):
        return _UNKNOWN
    if isinstance(sub.get("enum"), list) and sub["enum"]:
        return copy.deepcopy(sub["enum"][0])
    if "const" in sub:
        return copy.deepcopy(sub["const"])
    kind = sub.get("type")
    if isinstance(kind, list):
        kind = next((k for k in kind if k != "null"), kind[0] if kind else None)
    if kind == "object" and isinstance(sub.get("properties"), dict):
        return probe_event(sub)
    return _SAMPLES.get(kind, _UNKNOWN) if isinstance(kind, str) else _UNKNOWN


def type_check(
    schema: dict[str, Any],
    steps: Sequence[tuple[Step, str]],
    finals: Sequence[tuple[Expression, str]],
) -> None:
    """Check ``steps`` (each with the key path of its expression) and the expressions of
    ``finals`` (routes, routing key) on the probe; ConfigError for a type error."""
    event = probe_event(schema)
    if not event:
        return
    for step, where in steps:
        expr = step.expr if isinstance(step, DeriveStep | FilterStep) else None
        if expr is not None:
            _check(expr, event, where)
        try:
            out = step.apply(copy.deepcopy(event))
        except TransformError:
            return
        if out is not None:
            event = out
    for expr, where in finals:
        _check(expr, event, where)


def _check(expr: Expression, event: dict[str, Any], where: str) -> None:
    # Macro variables (the "x" of l.map(x, ...)) are bound by the macro, not the event.
    if not (expr.names - {"event"}) <= set(event) | expr.macro_vars:
        return
    try:
        expr.check_types(event)
    except OperandTypeError as exc:
        raise ConfigError(
            f"{where}: type error in {expr.text!r} for the types of the schema: {exc.reason}"
        ) from None
    except TransformError:
        pass  # not a type error (a made-up value divided by zero, say): left to run time
