"""Loading pipeline specs from TOML (PIPE-1, PIPE-18): :func:`load_spec`, :func:`parse_spec`.

Every rule is checked here, at load, and the first violation raises
:class:`~datanexus.ConfigError` naming the file and the key path
(``web.toml: aggregations[0].window.size: …``): unknown keys and wrong types, names,
durations, time zones, source options per kind, the schema file (must exist and hold a
JSON object), every transform (regexes compile under RE2, CEL expressions parse, paths
are allowed, at most 50 steps), routes and topic patterns, windows (sliding: 0 < slide ≤
size, STREAM-4), measures and group-by fields. The format is documented in
docs/pipelines.md.
"""

from __future__ import annotations

import json
import re
import tomllib
from pathlib import Path
from typing import Any

from datanexus.errors import ConfigError
from datanexus.pipeline.dates import load_zone
from datanexus.pipeline.expressions import Expression
from datanexus.pipeline.measures import parse_measure
from datanexus.pipeline.paths import parse_path
from datanexus.pipeline.reader import Table
from datanexus.pipeline.routing import DEAD_LETTER, check_topic_pattern
from datanexus.pipeline.spec import (
    AggregationSpec,
    PipelineSpec,
    RouteSpec,
    RoutingSpec,
    SchemaRef,
    Settings,
    SourceSpec,
    StepSpec,
)
from datanexus.pipeline.steps import BuildContext, Step, build_step
from datanexus.pipeline.steps.base import NAME_PATTERN, check_name
from datanexus.pipeline.typecheck import type_check

__all__ = ["ERROR_TOLERANCES", "MAX_STEPS", "SINKS", "SOURCE_KINDS", "load_spec", "parse_spec"]

MAX_STEPS = 50
SOURCE_KINDS = ("redis_stream", "rabbitmq_stream", "file", "generator")
ERROR_TOLERANCES = ("all", "none")
SINKS = ("postgres", "redis_live")
COMPATIBILITY = (
    "NONE",
    "BACKWARD",
    "BACKWARD_TRANSITIVE",
    "FORWARD",
    "FORWARD_TRANSITIVE",
    "FULL",
    "FULL_TRANSITIVE",
)
_TENANT = re.compile(r"[a-z0-9][a-z0-9_-]{0,62}")
_DESTINATION = re.compile(r"[a-z][a-z0-9_-]{0,62}")
_HOUR_MS = 3_600_000


def load_spec(path: str | Path) -> PipelineSpec:
    """Read and check the spec at ``path``; relative paths inside it (schema file, file
    source) are resolved against its directory."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read pipeline spec: {exc.strerror}") from None
    except UnicodeDecodeError:
        raise ConfigError(f"{path}: pipeline spec is not UTF-8") from None
    return parse_spec(text, source_name=str(path), base_dir=path.parent)


def parse_spec(text: str, *, source_name: str, base_dir: str | Path | None = None) -> PipelineSpec:
    """Check the TOML ``text``; ``source_name`` names it in errors, ``base_dir`` (default
    the current directory) anchors relative paths."""
    base = Path(base_dir) if base_dir is not None else Path()
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{source_name}: invalid TOML: {exc}") from None
    top = Table(data, source=source_name, path="")
    p = top.table("pipeline")
    name = p.string("name")
    if not NAME_PATTERN.fullmatch(name):
        raise p.error("name", f"{name!r} must match [a-z][a-z0-9_]{{0,62}}")
    tenant = p.string("tenant", "demo")
    if not _TENANT.fullmatch(tenant):
        raise p.error("tenant", f"{tenant!r} must match [a-z0-9][a-z0-9_-]{{0,62}}")
    zone_name = p.string("time_zone", "UTC")
    zone = load_zone(zone_name, where=p.where("time_zone"))
    udf_timeout = p.duration("udf_timeout", 30_000)
    if not 0 < udf_timeout <= 30_000:
        raise p.error("udf_timeout", "must be more than 0 and at most 30s")
    dedup = p.duration("dedup_window", 60_000)
    if dedup > _HOUR_MS:
        raise p.error("dedup_window", "must be at most 1h (0 turns de-duplication off)")
    settings = Settings(
        time_zone=zone_name,
        time_field=parse_path(p.string("time_field", "ts"), where=p.where("time_field")).text,
        max_future_skew_ms=p.duration("max_future_skew", 300_000),
        dedup_window_ms=dedup,
        udf_timeout_ms=udf_timeout,
    )
    description = p.string("description", "")
    p.done()
    ctx = BuildContext(zone=zone, udf_timeout_ms=udf_timeout)
    source = _source(top.table("source"), name, base)
    schema = _schema(top.table("schema", None), name, base)
    steps, built = _steps(top, ctx)
    routing = _routing(top, ctx)
    if schema is not None:
        _type_check(schema.document, built, routing, ctx, source_name)
    aggregations = _aggregations(top, settings)
    top.done()
    return PipelineSpec(
        name=name,
        tenant=tenant,
        description=description,
        settings=settings,
        source=source,
        schema=schema,
        steps=steps,
        routing=routing,
        aggregations=aggregations,
        text=text,
        source_name=source_name,
    )


def _source(t: Table, pipeline: str, base: Path) -> SourceSpec:
    kind = t.string("kind", choices=SOURCE_KINDS)
    options: dict[str, Any] = {"batch_size": t.integer("batch_size", 1000, lo=1, hi=100_000)}
    # CONN-7: "all" dead-letters a bad record and continues, "none" stops the flow on it.
    options["errors"] = t.string("errors", "all", choices=ERROR_TOLERANCES)
    if kind in ("redis_stream", "rabbitmq_stream"):
        one, many = ("stream", "streams") if kind == "redis_stream" else ("queue", "queues")
        if t.has(one) and t.has(many):
            raise t.error(many, f"give {one} or {many}, not both")
        names = t.str_list(many, None, nonempty=True) if t.has(many) else [t.string(one, pipeline)]
        t.raw(many, None)
        options[many] = names
        if kind == "redis_stream":
            options["group"] = t.string("group", "datanexus")
        else:
            options["prefetch"] = t.integer("prefetch", 2000, lo=1, hi=1_000_000)
    elif kind == "file":
        options["path"] = str((base / t.string("path")).resolve())
        options["format"] = t.string("format", "jsonl", choices=("jsonl", "csv"))
    else:
        options["model"] = t.string("model", choices=("web", "payments", "iot"))
        options["events"] = t.integer("events", 100_000, lo=1)
        options["seed"] = t.integer("seed", 0, lo=0)
        options["rate"] = t.number("rate", None, positive=True)
    t.done()
    return SourceSpec(kind, options)


def _schema(t: Table | None, pipeline: str, base: Path) -> SchemaRef | None:
    if t is None:
        return None
    subject = t.string("subject", pipeline)
    if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._-]{0,127}", subject):
        raise t.error("subject", f"{subject!r} is not a valid subject name")
    path = (base / t.string("file")).resolve()
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise t.error("file", f"cannot read {path}: {exc.strerror}") from None
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise t.error("file", f"{path} is not JSON: {exc}") from None
    if not isinstance(document, dict):
        raise t.error("file", f"{path} must hold a JSON object (a JSON Schema)")
    compatibility = t.string("compatibility", "BACKWARD", choices=COMPATIBILITY)
    t.done()
    return SchemaRef(subject, path, compatibility, document)


def _steps(top: Table, ctx: BuildContext) -> tuple[tuple[StepSpec, ...], list[Step]]:
    tables = top.tables("transforms")
    if len(tables) > MAX_STEPS:
        raise top.error("transforms", f"has {len(tables)} steps; at most {MAX_STEPS} are allowed")
    specs: list[StepSpec] = []
    built: list[Step] = []
    seen: set[str] = set()
    for i, t in enumerate(tables):
        step = build_step(t, i, ctx)
        if step.name in seen:
            raise t.error("name", f"step name {step.name!r} is used twice")
        seen.add(step.name)
        options = {k: v for k, v in t.data.items() if k != "op"}
        specs.append(StepSpec(i, step.name, step.op, options))
        built.append(step)
    return tuple(specs), built


def _type_check(
    schema: dict[str, Any], built: list[Step], routing: RoutingSpec, ctx: BuildContext, source: str
) -> None:
    steps = [
        (s, f"{source}: transforms[{i}].{'expr' if s.op == 'derive' else 'when'}")
        for i, s in enumerate(built)
    ]
    finals: list[tuple[Expression, str]] = []
    if routing.key is not None:
        finals.append(
            (
                Expression(routing.key, where="", timeout_ms=ctx.udf_timeout_ms),
                f"{source}: routing.key",
            )
        )
    for i, route in enumerate(routing.routes):
        if route.when is not None:
            finals.append(
                (
                    Expression(route.when, where="", timeout_ms=ctx.udf_timeout_ms),
                    f"{source}: routes[{i}].when",
                )
            )
    type_check(schema, steps, finals)


def _routing(top: Table, ctx: BuildContext) -> RoutingSpec:
    r = top.table("routing", None)
    mode, key, groups, alternate = "content", None, {}, DEAD_LETTER
    if r is not None:
        mode = r.string("mode", "content", choices=("content", "topic"))
        if r.has("key"):
            key = r.string("key")
            Expression(key, where=r.where("key"), timeout_ms=ctx.udf_timeout_ms)
        else:
            r.raw("key", None)
        g = r.table("groups", None)
        if g is not None:
            for gname in list(g.data):
                _destination(gname, g.where(gname))
                groups[gname] = tuple(
                    _destination(m, g.where(gname)) for m in g.str_list(gname, nonempty=True)
                )
            g.done()
        alternate = _destination(r.string("alternate", DEAD_LETTER), r.where("alternate"))
        r.done()
    if mode == "topic" and key is None:
        raise ConfigError(f'{top.where("routing")}.key: is required with mode = "topic"')
    routes: list[RouteSpec] = []
    for i, t in enumerate(top.tables("routes")):
        rname = check_name(t.string("name", f"route_{i}"), t.where("name"))
        if any(rt.name == rname for rt in routes):
            raise t.error("name", f"route name {rname!r} is used twice")
        when = topic = None
        if mode == "content":
            when = t.string("when")
            Expression(when, where=t.where("when"), timeout_ms=ctx.udf_timeout_ms)
            t.raw("topic", None)
        else:
            topic = check_topic_pattern(t.string("topic"), where=t.where("topic"))
            t.raw("when", None)
        dest = _destination(t.string("destination"), t.where("destination"))
        routes.append(RouteSpec(rname, dest, t.integer("priority", 0), when, topic))
        t.done()
    return RoutingSpec(mode, key, groups, alternate, tuple(routes))


def _destination(name: str, where: str) -> str:
    if name != DEAD_LETTER and not _DESTINATION.fullmatch(name):
        raise ConfigError(f"{where}: destination {name!r} must match [a-z][a-z0-9_-]{{0,62}}")
    return name


def _aggregations(top: Table, settings: Settings) -> tuple[AggregationSpec, ...]:
    out: list[AggregationSpec] = []
    for t in top.tables("aggregations"):
        name = check_name(t.string("name"), t.where("name"))
        if any(a.name == name for a in out):
            raise t.error("name", f"aggregation name {name!r} is used twice")
        w = t.table("window")
        kind = w.string("kind", choices=("tumbling", "sliding", "session"))
        size = slide = gap = 0
        if kind == "session":
            gap = w.duration("gap")
            if gap <= 0:
                raise w.error("gap", "must be more than 0")
        else:
            size = w.duration("size")
            if size <= 0:
                raise w.error("size", "must be more than 0")
            slide = size
            if kind == "sliding":
                slide = w.duration("slide")
                if not 0 < slide <= size:
                    raise w.error(
                        "slide", f"must be more than 0 and at most size ({size} ms), got {slide} ms"
                    )
        w.done()
        group_by = tuple(t.str_list("group_by", []))
        for field in group_by:
            parse_path(field, where=t.where("group_by"))
        m = t.table("measures")
        if not m.data:
            raise m.error(None, "needs at least one measure")
        measures: dict[str, str] = {}
        for mname in list(m.data):
            if not NAME_PATTERN.fullmatch(mname):
                raise m.error(mname, "measure names must match [a-z][a-z0-9_]{0,62}")
            measures[mname] = str(parse_measure(m.string(mname), where=m.where(mname)))
        m.done()
        time_field = parse_path(
            t.string("time_field", settings.time_field), where=t.where("time_field")
        ).text
        idle = t.duration("idle_timeout", None)
        default_sinks = ["postgres"] if kind == "tumbling" else ["redis_live"]
        sinks = tuple(t.str_list("sinks", default_sinks, nonempty=True))
        for s in sinks:
            if s not in SINKS:
                raise t.error("sinks", f"unknown sink {s!r}; allowed: {', '.join(SINKS)}")
        if "postgres" in sinks and kind != "tumbling":
            # Rollups are re-aggregated by merging rows; overlapping (sliding) or
            # variable-length (session) windows would be counted several times.
            raise t.error(
                "sinks",
                f"a {kind} window cannot be stored as rollups (only tumbling windows merge "
                'into coarser ones); use sinks = ["redis_live"] or a tumbling window',
            )
        out.append(
            AggregationSpec(
                name=name,
                window_kind=kind,
                size_ms=size,
                slide_ms=slide if kind == "sliding" else 0,
                gap_ms=gap,
                group_by=group_by,
                measures=measures,
                time_field=time_field,
                max_out_of_orderness_ms=t.duration("max_out_of_orderness", 0),
                allowed_lateness_ms=t.duration("allowed_lateness", 0),
                idle_timeout_ms=idle if idle else None,
                sinks=sinks,
            )
        )
        t.done()
    return tuple(out)
