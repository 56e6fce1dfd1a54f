"""Which aggregations of a spec are stored as rollups, and under which name.

Every aggregation with the ``postgres`` sink (tumbling windows only: the loader refuses
others) is stored as its own queryable rollup stream, so that two aggregations of one
pipeline never add up in one query: the first under the pipeline's name (``FROM web``),
each further one under ``<pipeline>_<aggregation>`` (``FROM web_by_method_1h``). The
metric rows a stored aggregation needs are derived from its own measures only.
"""

from __future__ import annotations

from dataclasses import dataclass

from datanexus.pipeline.measures import COUNT_METRIC, parse_measure, rollup_kinds
from datanexus.pipeline.spec import AggregationSpec, PipelineSpec

__all__ = ["StoredAggregation", "stored_aggregations"]


@dataclass(frozen=True)
class StoredAggregation:
    """``rollup_name`` is the rollup table's ``pipeline`` value and the catalog name;
    ``fields`` maps each measured field (not the ``*`` events row, always written) to the
    columns it needs."""

    rollup_name: str
    aggregation: AggregationSpec
    fields: dict[str, set[str]]


def stored_aggregations(spec: PipelineSpec) -> list[StoredAggregation]:
    out: list[StoredAggregation] = []
    for agg in spec.aggregations:
        if "postgres" not in agg.sinks:
            continue
        name = spec.name if not out else f"{spec.name}_{agg.name}"
        fields: dict[str, set[str]] = {}
        for mname, text in agg.measures.items():
            metric, kinds = rollup_kinds(parse_measure(text, where=f"{agg.name}.{mname}"))
            if metric != COUNT_METRIC:
                fields.setdefault(metric, set()).update(kinds)
        out.append(StoredAggregation(name, agg, fields))
    return out
