r"""CEL expressions for derived fields, filters and routes (PIPE-17).

An expression is parsed twice when the spec loads: by cel-python, whose syntax tree the
static checks below walk (the calls it makes, its size, how deep its macros nest), and by
the ``cel`` package (common-expression-language, the Rust ``cel-interpreter``), which
evaluates it. Syntax errors, calls of functions CEL does not define, and expressions past
the size bounds fail the spec with :class:`~datanexus.ConfigError`. Evaluation binds each
top-level event field as a variable (``status >= 500``) and the whole event as ``event``
(``has(event.user)``, ``event["user-agent"]``). CEL has no attribute access, no I/O and no
eval/exec: it reads the JSON values handed to it and nothing else.

Why two: cel-python's interpreter walks a lark tree in Python, about 1 ms per evaluation
(a million events through three routes took minutes); the Rust interpreter takes a few
microseconds and has the semantics PIPE-16 asks for (no coercion between numbers, strings
and booleans, but ``1 == 1.0``). cel-python's ``CompiledRunner`` was not an option: it
generates Python source and ``exec``\s it.

Bounding the work
-----------------
CPython cannot pre-empt a running evaluation, and a thread with a deadline would only
stop *waiting* for it — the work would go on. So the 30 s limit (``udf_timeout``) is made
unreachable by construction instead: CEL has no loops or recursion, and the macros
(``all``, ``exists``, ``exists_one``, ``map``, ``filter``) are the only iteration, over
lists of the event itself. An expression is limited to 2000 characters, 400 tokens and
macros nested at most 2 deep, so its cost is at most polynomial of degree 2 in the event
size, which ingestion bounds. The measured duration of every evaluation is still checked
against the limit afterwards and an overrun fails the event with ``"UDF timeout"``, so a
pathological case is reported rather than trusted; nothing keeps running after
:meth:`Expression.evaluate` returns. Heavier user code would need an rlimited subprocess,
which this module does not provide.

Evaluation errors (no matching overload: ``"5" > 3``; an unbound variable; division by
zero) raise :class:`~datanexus.TransformError` with CEL's message.
"""

from __future__ import annotations

import logging
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import cel
import celpy
import lark
from celpy import celtypes
from celpy.adapter import json_to_cel
from celpy.celparser import CELParseError
from celpy.evaluation import CELEvalError, base_functions

from datanexus.errors import ConfigError, MissingField, TransformError

__all__ = ["Expression", "OperandTypeError", "to_python"]

MAX_CHARS = 2000
MAX_TOKENS = 400
MAX_MACRO_DEPTH = 2
_MACROS = frozenset({"all", "exists", "exists_one", "map", "filter"})
_GLOBAL_ONLY = frozenset({"has", "dyn"})
_KNOWN_FUNCTIONS = frozenset(k for k in base_functions if k[:1] != "_") | _MACROS | _GLOBAL_ONLY
_ENV = celpy.Environment()
CEL_TYPE_NAMES = frozenset(
    {"int", "uint", "double", "bool", "string", "bytes", "list", "map", "null_type", "type"}
)
"""Identifiers that name CEL types (``type(x) == double``), not event fields."""
# cel-python logs each evaluation step at DEBUG and every failure at INFO/WARNING;
# evaluation failures are already reported per event as TransformError.
logging.getLogger("celpy").setLevel(logging.ERROR)


class Expression:
    """A compiled CEL expression; see the module docstring for limits and errors."""

    __slots__ = (
        "_checker",
        "_event",
        "_names",
        "_program",
        "_timeout_s",
        "macro_vars",
        "names",
        "text",
        "where",
    )

    def __init__(self, text: object, *, where: str, timeout_ms: int = 30_000) -> None:
        if not isinstance(text, str) or not text.strip():
            raise ConfigError(f"{where}: expected a CEL expression string, got {text!r}")
        if len(text) > MAX_CHARS:
            raise ConfigError(f"{where}: expression is {len(text)} characters; at most {MAX_CHARS}")
        try:
            tree = _ENV.compile(text)
        except CELParseError as exc:
            raise ConfigError(f"{where}: invalid CEL expression {text!r}: {exc}") from None
        tokens = sum(1 for _ in tree.scan_values(lambda v: isinstance(v, lark.Token)))
        if tokens > MAX_TOKENS:
            raise ConfigError(f"{where}: expression has {tokens} tokens; at most {MAX_TOKENS}")
        _check_calls(tree, where, text)
        self.text = text
        self.where = where
        self.names = frozenset(_identifiers(tree))
        self.macro_vars = frozenset(_macro_vars(tree))
        self._names = tuple(sorted(self.names - {"event"}))
        self._checker = _ENV.program(tree)
        try:
            self._program = cel.compile(text)
        except Exception as exc:  # the two parsers disagree: refuse rather than guess
            raise ConfigError(f"{where}: invalid CEL expression {text!r}: {exc}") from None
        self._event = "event" in self.names
        self._timeout_s = timeout_ms / 1000

    def __repr__(self) -> str:
        return f"Expression({self.text!r})"

    def evaluate(self, event: dict[str, Any]) -> Any:
        """The value of the expression for ``event`` as plain JSON values (timestamps →
        RFC 3339 strings, durations → seconds). Raises TransformError (OperandTypeError
        for operands of the wrong types)."""
        activation = {name: event[name] for name in self._names if name in event}
        if self._event:
            activation["event"] = event
        started = time.perf_counter()
        try:
            result = self._program.execute(activation)
        except TypeError as exc:
            self._raise_missing(event)
            raise OperandTypeError(f"expression {self.text!r} failed: {_first(exc)}") from None
        except (RuntimeError, ValueError, ArithmeticError, LookupError, OverflowError) as exc:
            self._raise_missing(event)
            raise TransformError(f"expression {self.text!r} failed: {_first(exc)}") from None
        if time.perf_counter() - started > self._timeout_s:
            raise TransformError("UDF timeout")
        return to_python(result)

    def _raise_missing(self, event: dict[str, Any]) -> None:
        # DEC-1: a failure with a referenced field absent is a missing field, which a step
        # with on_error = "skip" skips.
        for name in self._names:
            if name not in event and name not in self.macro_vars and name not in CEL_TYPE_NAMES:
                raise MissingField(f"missing field {name!r} (in {self.text!r})")

    def check_types(self, event: dict[str, Any]) -> Any:
        """Evaluate with cel-python, which refuses every operation across types
        (``status == '500'``, ``1 == 1.0``): the load-time type check runs this on a probe
        event to reject expressions that could only ever fail or be vacuous. Raises
        :class:`OperandTypeError` for a type error, TransformError otherwise."""
        activation: dict[str, Any] = {}
        try:
            for name in self._names:
                if name in event:
                    activation[name] = json_to_cel(event[name])
            if self._event:
                activation["event"] = json_to_cel(event)
        except (ValueError, OverflowError) as exc:  # an int past CEL's 64 bits
            raise TransformError(f"expression {self.text!r}: {exc}") from None
        try:
            result = self._checker.evaluate(activation)
        except CELEvalError as exc:
            raise _failure(self.text, exc) from None
        except (TypeError, AttributeError) as exc:
            raise OperandTypeError(f"expression {self.text!r} failed: {exc}") from None
        except (ValueError, ArithmeticError, LookupError) as exc:
            raise TransformError(f"expression {self.text!r} failed: {exc}") from None
        if isinstance(result, CELEvalError):
            raise _failure(self.text, result)
        return to_python(result)

    def test(self, event: dict[str, Any]) -> bool:
        """Evaluate a condition; a non-boolean result is a TransformError."""
        value = self.evaluate(event)
        if not isinstance(value, bool):
            raise TransformError(
                f"condition {self.text!r} gave {type(value).__name__} {value!r}, not a boolean"
            )
        return value


def _first(exc: BaseException) -> str:
    """The first sentence of an interpreter message (the rest is general advice)."""
    text = str(exc)
    cut = text.find(". ")
    return text if cut < 0 else text[: cut + 1]


def to_python(value: Any) -> Any:
    """CEL values (of either interpreter) → JSON values."""
    if value is None or type(value) in (bool, int, float, str):
        return value  # exact types only: cel-python's IntType etc. subclass them
    if isinstance(value, datetime):
        utc = value.astimezone(UTC)
        return utc.strftime("%Y-%m-%dT%H:%M:%S.") + f"{utc.microsecond // 1000:03d}Z"
    if isinstance(value, timedelta):
        return value.total_seconds()
    if isinstance(value, dict):
        return {str(to_python(k)): to_python(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [to_python(v) for v in value]
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    if value is None or isinstance(value, celtypes.NullType):
        return None
    if isinstance(value, celtypes.BoolType):
        return bool(value)
    if isinstance(value, celtypes.IntType | celtypes.UintType):
        return int(value)
    if isinstance(value, celtypes.DoubleType):
        return float(value)
    if isinstance(value, celtypes.StringType):
        return str(value)
    if isinstance(value, celtypes.MapType):
        return {str(to_python(k)): to_python(v) for k, v in value.items()}
    if isinstance(value, celtypes.ListType):
        return [to_python(v) for v in value]
    if isinstance(value, celtypes.TimestampType):
        return value.strftime("%Y-%m-%dT%H:%M:%S.") + f"{value.microsecond // 1000:03d}Z"
    if isinstance(value, bool | int | float | str):
        return value
    return str(value)


class OperandTypeError(TransformError):
    """An operator or function applied to operands of types it does not take
    (``"5" > 3``, ``size(7)``): the kind of failure the load-time type check looks for."""


def _failure(text: str, exc: Any) -> TransformError:
    args = tuple(getattr(exc, "args", ()))
    typed = len(args) >= 2 and args[1] in (TypeError, AttributeError)
    cls = OperandTypeError if typed else TransformError
    return cls(f"expression {text!r} failed: {_message(exc)}")


def _message(exc: Any) -> str:
    args: tuple[Any, ...] = tuple(getattr(exc, "args", ()))
    if len(args) >= 3 and args[2]:
        return str(args[2][0]) if isinstance(args[2], tuple) else str(args[2])
    return str(args[0]) if args else str(exc)


def _identifiers(tree: lark.Tree[Any]) -> set[str]:
    names: set[str] = set()
    for node in tree.iter_subtrees():
        if node.data == "ident" and node.children:
            names.add(str(node.children[0]))
    return names


def _macro_vars(tree: lark.Tree[Any]) -> set[str]:
    names: set[str] = set()
    for node in tree.iter_subtrees():
        if node.data == "member_dot_arg" and len(node.children) > 2:
            args = node.children[2]
            if str(node.children[1]) in _MACROS and isinstance(args, lark.Tree) and args.children:
                first = args.children[0]
                if isinstance(first, lark.Tree):
                    names |= _identifiers(first)
    return names


def _check_calls(tree: lark.Tree[Any], where: str, text: str) -> None:
    def visit(node: lark.Tree[Any], depth: int) -> None:
        name: str | None = None
        if node.data in ("ident_arg", "member_dot_arg"):
            token = node.children[0] if node.data == "ident_arg" else node.children[1]
            name = str(token)
            if name not in _KNOWN_FUNCTIONS:
                raise ConfigError(
                    f"{where}: {text!r} calls {name!r}, which CEL does not define; user "
                    "functions are not available in pipeline expressions"
                )
            if name in _MACROS:
                depth += 1
                if depth > MAX_MACRO_DEPTH:
                    raise ConfigError(
                        f"{where}: {text!r} nests list macros more than {MAX_MACRO_DEPTH} deep"
                    )
        for child in node.children:
            if isinstance(child, lark.Tree):
                visit(child, depth)

    visit(tree, 0)
