"""Measure expressions of aggregations: ``count``, ``sum(f)``, ``min(f)``, ``max(f)``,
``mean(f)``, ``stddev(f)``, ``rate(f)``, ``pNN(f)`` (``NN`` in 0..100, decimals allowed:
``p99.9``), ``distinct(f)``.

:func:`parse_measure` checks the syntax at load (DEC-9: an unknown measure fails the spec)
and returns a :class:`Measure`; ``str(measure)`` is the canonical engine syntax.
:func:`rollup_kinds` says which stored columns of the rollup row (CONTRACT: ``sum``,
``min``, ``max``, ``m2``, ``digest``, ``hll``; ``count`` is on every row) a measure needs:
every numeric measure stores ``sum``, ``min``, ``max`` and ``m2`` — they cost nothing once
the row exists and let a query ask for any of them —, percentiles add ``digest``,
``distinct`` stores only ``hll``, and ``count`` is the ``'*'`` row.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from datanexus.errors import ConfigError
from datanexus.pipeline.paths import parse_path

__all__ = ["COUNT_METRIC", "Measure", "parse_measure", "rollup_kinds"]

COUNT_METRIC = "*"
_FUNCS = ("sum", "min", "max", "mean", "stddev", "rate", "distinct")
_CALL = re.compile(
    r"\s*(?P<fn>[a-z]+|p(?P<pct>\d{1,3}(?:\.\d+)?))\s*\(\s*(?P<field>[^()\s]+)\s*\)\s*",
    re.ASCII,
)
_NUMERIC_KINDS = frozenset({"sum", "min", "max", "m2"})


@dataclass(frozen=True, slots=True)
class Measure:
    """One parsed measure: ``kind`` is ``count``, one of the functions, or ``percentile``
    (then ``percentile`` holds 0..100); ``field`` is the measured field (``None`` for count)."""

    kind: str
    field: str | None = None
    percentile: float | None = None

    def __str__(self) -> str:
        if self.kind == "count":
            return "count"
        if self.kind == "percentile":
            assert self.percentile is not None
            pct = self.percentile
            return f"p{int(pct) if pct == int(pct) else pct}({self.field})"
        return f"{self.kind}({self.field})"


def parse_measure(text: object, *, where: str) -> Measure:
    """Parse one measure; :class:`~datanexus.ConfigError` naming ``where`` otherwise."""
    allowed = (
        "allowed: count, sum(f), min(f), max(f), mean(f), stddev(f), rate(f), pNN(f) "
        "with NN in 0..100 (p99.9 too), distinct(f)"
    )
    if not isinstance(text, str):
        raise ConfigError(f"{where}: expected a measure string, got {text!r}; {allowed}")
    if text.strip() == "count":
        return Measure("count")
    match = _CALL.fullmatch(text)
    if match is None:
        raise ConfigError(f"{where}: {text!r} is not a measure; {allowed}")
    field = parse_path(match["field"], where=where).text
    if match["pct"] is not None:
        pct = float(match["pct"])
        if not 0 <= pct <= 100:
            raise ConfigError(f"{where}: percentile {match['pct']} is outside 0..100")
        return Measure("percentile", field, pct)
    if match["fn"] not in _FUNCS:
        raise ConfigError(f"{where}: unknown measure function {match['fn']!r}; {allowed}")
    return Measure(match["fn"], field)


def rollup_kinds(measure: Measure) -> tuple[str, frozenset[str]]:
    """``(metric, kinds)``: the rollup metric row the measure reads and the columns it
    needs filled (see the module docstring)."""
    if measure.kind == "count":
        return COUNT_METRIC, frozenset({"count"})
    assert measure.field is not None
    if measure.kind == "distinct":
        return measure.field, frozenset({"hll"})
    if measure.kind == "percentile":
        return measure.field, _NUMERIC_KINDS | {"digest"}
    return measure.field, _NUMERIC_KINDS
