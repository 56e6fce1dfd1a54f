"""From window results to the store's rollup rows (CONTRACT: the rollup table).

The store keeps, per window and series, one row counting the window's events (metric
``"*"``) and one row per measured field holding mergeable state: the count of its
non-null values, the compensated sum, min, max, mean, Welford M2, and the t-digest and
HyperLogLog images. :func:`rollup_measures` turns what the store needs per field into
window-engine measures under reserved names; :func:`to_rollup_rows` turns one
:class:`~datanexus.WindowResult` of an engine configured with them into rows.

Retractions: a session window that merged into another is emitted with ``retracted``
set; :func:`to_rollup_changes` returns a :class:`RollupRetraction` for it, naming the
rows a sink must delete. In practice rollups are written from tumbling windows, which
are never retracted; :func:`to_rollup_rows` refuses a retraction rather than dropping it.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from typing import NamedTuple

from datanexus._native import WindowResult
from datanexus.errors import InvalidArgument, InvalidType
from datanexus.store.rollups import RollupRow

__all__ = [
    "EVENTS_METRIC",
    "ROLLUP_NEEDS",
    "RollupRetraction",
    "RollupRows",
    "canonical_series",
    "rollup_measures",
    "to_rollup_changes",
    "to_rollup_rows",
]

EVENTS_METRIC = "*"
"""The metric of the row counting a window's events."""

ROLLUP_NEEDS = frozenset({"count", "sum", "min", "max", "mean", "m2", "digest", "hll"})
"""What a field's row can hold; ``count`` (non-null values) is always there."""

_EVENTS_COUNT = "__count__"
_FORBIDDEN = set("(),")


def _name(field: str, need: str) -> str:
    return f"__{field}__{need}"


def _check_fields(fields: Mapping[str, Iterable[str]]) -> dict[str, frozenset[str]]:
    if not isinstance(fields, Mapping):
        raise InvalidType(f"rollup fields must map field names to sets of needs, got {fields!r}")
    out: dict[str, frozenset[str]] = {}
    for field, needs in fields.items():
        if not isinstance(field, str) or not field or _FORBIDDEN & set(field):
            raise InvalidArgument(
                f"rollup field {field!r}: a field name is a non-empty string without "
                "parentheses or commas"
            )
        if field == EVENTS_METRIC:
            raise InvalidArgument(f"rollup field {field!r} is reserved for the events row")
        if isinstance(needs, str) or not isinstance(needs, Iterable):
            raise InvalidType(f"rollup field {field!r}: needs are a set of names, got {needs!r}")
        wanted = frozenset(needs)
        unknown = sorted(str(n) for n in wanted - ROLLUP_NEEDS)
        if unknown:
            raise InvalidArgument(
                f"rollup field {field!r}: unknown needs {unknown}; allowed: {sorted(ROLLUP_NEEDS)}"
            )
        out[field] = wanted
    return out


def rollup_measures(
    fields: Mapping[str, Iterable[str]],
    *,
    digest_compression: int = 100,
    hll_precision: int = 12,
) -> dict[str, str]:
    """Window-engine measures (reserved name → spec) computing what the store needs per
    field, e.g. ``{"latency_ms": {"sum", "min", "max", "m2", "digest"}, "user_id":
    {"hll"}}``. Always counts the events and each field's non-null values; ``m2`` brings
    ``mean`` along (M2 merges only with its mean). Pass the same ``fields`` to
    :func:`to_rollup_rows`. Unknown needs or bad field names raise
    :class:`~datanexus.errors.InvalidArgument` naming them; the sketch parameters are
    checked by the engine. Reserved names start with ``"__"``, so they do not collide
    with a pipeline's own measures.
    """
    checked = _check_fields(fields)
    measures = {_EVENTS_COUNT: "count"}
    for field, needs in checked.items():
        measures[_name(field, "count")] = f"count({field})"
        for need in ("sum", "min", "max"):
            if need in needs:
                measures[_name(field, need)] = f"{need}({field})"
        if needs & {"mean", "m2"}:
            measures[_name(field, "mean")] = f"mean({field})"
        if "m2" in needs:
            measures[_name(field, "m2")] = f"m2({field})"
        if "digest" in needs:
            measures[_name(field, "digest")] = f"digest({field}, {digest_compression})"
        if "hll" in needs:
            measures[_name(field, "hll")] = f"hll({field}, {hll_precision})"
    return measures


_ENCODER = json.JSONEncoder(
    sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False
)
# Series strings by (group-by, key, key types): a stream has few series and many windows.
_SERIES: dict[tuple[object, ...], str] = {}
_SERIES_LIMIT = 65_536


def canonical_series(group_by: tuple[str, ...], key: tuple[object, ...]) -> str:
    """The series column: the group-by values as a JSON object with sorted keys,
    separators ``(",", ":")`` and ``ensure_ascii=False``; ``"{}"`` without group-by. A
    value holding a lone surrogate (valid JSON, not storable UTF-8) makes the whole text
    ASCII with ``\\u`` escapes, the same JSON value.
    A key of another length, or a NaN/±inf value (not JSON), raises InvalidArgument."""
    # True == 1 == 1.0 as dict keys, yet they are three JSON values: the types are part
    # of the cache key.
    cache_key = (group_by, key, tuple(map(type, key)))
    cached = _SERIES.get(cache_key)
    if cached is not None:
        return cached
    if len(group_by) != len(key):
        raise InvalidArgument(
            f"the result's key has {len(key)} values for the group-by fields {list(group_by)}"
        )
    try:
        text = _ENCODER.encode(dict(zip(group_by, key, strict=True)))
    except ValueError as e:
        raise InvalidArgument(
            f"group-by values {key!r} of {list(group_by)} are not JSON (NaN or ±inf): {e}"
        ) from None
    if not text.isascii():
        try:
            text.encode()
        except UnicodeEncodeError:
            # A lone surrogate (JSON allows "\ud800") cannot be stored as text: escape it,
            # still the same JSON value, rather than fail every write of the series.
            text = json.dumps(json.loads(text), sort_keys=True, separators=(",", ":"))
    if len(_SERIES) >= _SERIES_LIMIT:
        _SERIES.clear()
    _SERIES[cache_key] = text
    return text


class RollupRetraction(NamedTuple):
    """The rows of a window that no longer exists (a retracted session): a sink deletes
    the rows of ``(tenant, pipeline, granularity_ms, series, window_start_ms)`` with
    these ``metrics`` whose revision is below ``revision`` (the retraction's: one past the
    last emission's)."""

    tenant: str
    pipeline: str
    series: str
    granularity_ms: int
    window_start_ms: int
    revision: int
    metrics: tuple[str, ...]


def _float(value: object, name: str) -> float | None:
    kind = type(value)
    if kind is float or value is None:
        return value  # type: ignore[return-value]
    if kind is int:  # exact ints (not bool) first: min/max of an int field are ints
        return float(value)  # type: ignore[arg-type]
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise InvalidType(f"measure {name!r}: expected a number, got {value!r}")
    return float(value)


def _image(value: object, name: str) -> bytes | None:
    if value is None or type(value) is bytes:
        return value
    raise InvalidType(f"measure {name!r}: expected a sketch image (bytes), got {value!r}")


def _count(value: object, name: str) -> int:
    if type(value) is not int:
        raise InvalidType(f"measure {name!r}: expected a count, got {value!r}")
    return value


_NEEDS_ORDER = ("sum", "min", "max", "mean", "m2", "digest", "hll")


class _FieldPlan(NamedTuple):
    """The reserved measure names of one field's row (None: not asked for)."""

    field: str
    n: str
    sum: str | None
    min: str | None
    max: str | None
    mean: str | None
    m2: str | None
    digest: str | None
    hll: str | None


_PLANS: dict[tuple[tuple[str, frozenset[str]], ...], tuple[_FieldPlan, ...]] = {}


def _plan(fields: Mapping[str, Iterable[str]]) -> tuple[_FieldPlan, ...]:
    """The names to read per field, computed once per distinct ``fields``."""
    try:
        key = tuple((f, frozenset(n)) for f, n in fields.items())
    except (AttributeError, TypeError):
        key = None
    plan = _PLANS.get(key) if key is not None else None
    if plan is not None:
        return plan
    plans = []
    for field, needs in _check_fields(fields).items():
        asked = {n: _name(field, n) for n in _NEEDS_ORDER if n in needs}
        if "m2" in needs:
            asked["mean"] = _name(field, "mean")
        plans.append(_FieldPlan(field, _name(field, "count"), *map(asked.get, _NEEDS_ORDER)))
    plan = tuple(plans)
    if key is not None and len(_PLANS) < 1024:
        _PLANS[key] = plan
    return plan


_new_row = tuple.__new__
_NO_STATE = (None, None, None, None, None, None)  # min, max, mean, m2, digest, hll


class RollupRows:
    """:func:`to_rollup_rows` for one stream of results: the fields are checked and the
    reserved names planned once, here (bad ``fields`` raise as :func:`rollup_measures`
    does), so a call costs only the rows. ``values`` may pass ``result.values`` when the
    caller has it already (building that dict copies the sketch images)."""

    __slots__ = ("_granularity_ms", "_group_by", "_pipeline", "_plan", "_tenant")

    def __init__(
        self,
        *,
        tenant: str,
        pipeline: str,
        group_by: tuple[str, ...],
        granularity_ms: int,
        fields: Mapping[str, Iterable[str]],
    ) -> None:
        self._plan = _plan(fields)
        self._tenant = tenant
        self._pipeline = pipeline
        self._group_by = group_by
        self._granularity_ms = granularity_ms

    def __call__(
        self, result: WindowResult, values: Mapping[str, object] | None = None
    ) -> list[RollupRow]:
        if result.retracted:
            raise InvalidArgument(
                "a retracted window has no rows; use to_rollup_changes to get the rows to delete"
            )
        if values is None:
            values = result.values
        series = canonical_series(self._group_by, result.key)
        base = (
            self._tenant, self._pipeline, series, self._granularity_ms, result.start_ms,
            result.revision,
        )  # fmt: skip
        # tuple.__new__ with every field: the NamedTuple's own __new__ is a Python
        # function taking keywords and defaults, several times slower per row.
        try:
            rows = [
                _new_row(
                    RollupRow,
                    (*base, _count(values[_EVENTS_COUNT], _EVENTS_COUNT), 0.0, *_NO_STATE,
                     EVENTS_METRIC),
                )
            ]  # fmt: skip
            for p in self._plan:
                total = None if p.sum is None else _float(values[p.sum], p.sum)
                rows.append(
                    _new_row(
                        RollupRow,
                        (
                            *base,
                            _count(values[p.n], p.n),
                            0.0 if total is None else total,
                            None if p.min is None else _float(values[p.min], p.min),
                            None if p.max is None else _float(values[p.max], p.max),
                            None if p.mean is None else _float(values[p.mean], p.mean),
                            None if p.m2 is None else _float(values[p.m2], p.m2),
                            None if p.digest is None else _image(values[p.digest], p.digest),
                            None if p.hll is None else _image(values[p.hll], p.hll),
                            p.field,
                        ),
                    )
                )
        except KeyError as e:
            raise InvalidArgument(
                f"the window result has no measure {e.args[0]!r}: configure its engine with "
                "rollup_measures(fields) for the same fields"
            ) from None
        return rows


def to_rollup_rows(
    result: WindowResult,
    *,
    tenant: str,
    pipeline: str,
    group_by: tuple[str, ...],
    granularity_ms: int,
    fields: Mapping[str, Iterable[str]],
) -> list[RollupRow]:
    """The rows of one window result of an engine configured with
    ``rollup_measures(fields)``: the ``"*"`` row (count = events, sum 0.0) first, then
    one row per field in ``fields`` order (count = its non-null values; sum 0.0 and
    min/max/mean/m2/digest/hll None when not asked for or without values). ``revision``
    is the result's. A retracted result raises InvalidArgument (use
    :func:`to_rollup_changes`); a result lacking a reserved measure raises
    InvalidArgument naming it; a value of the wrong type raises InvalidType. For a
    stream of results, :class:`RollupRows` plans once.
    """
    return RollupRows(
        tenant=tenant,
        pipeline=pipeline,
        group_by=group_by,
        granularity_ms=granularity_ms,
        fields=fields,
    )(result)


def to_rollup_changes(
    result: WindowResult,
    *,
    tenant: str,
    pipeline: str,
    group_by: tuple[str, ...],
    granularity_ms: int,
    fields: Mapping[str, Iterable[str]],
) -> list[RollupRow] | RollupRetraction:
    """:func:`to_rollup_rows` of a live result, or the :class:`RollupRetraction` of a
    retracted one."""
    if not result.retracted:
        return to_rollup_rows(
            result,
            tenant=tenant,
            pipeline=pipeline,
            group_by=group_by,
            granularity_ms=granularity_ms,
            fields=fields,
        )
    checked = _check_fields(fields)
    return RollupRetraction(
        tenant,
        pipeline,
        canonical_series(group_by, result.key),
        granularity_ms,
        result.start_ms,
        result.revision,
        (EVENTS_METRIC, *checked),
    )
