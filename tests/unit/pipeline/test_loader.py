"""Spec loading: every rule checked at load, errors naming file and key path (PIPE-1,
PIPE-18, STREAM-4, STREAM-14, DEC-9)."""

from __future__ import annotations

import json
import re

import pytest

from conftest import BASE, spec_text, steps_toml
from datanexus.errors import ConfigError
from datanexus.pipeline import load_spec, parse_spec

AGG = """
[[aggregations]]
name = "by_region_1m"
window = {{ kind = "{kind}", {window} }}
group_by = ["region"]
measures = {{ requests = "count", {measures} }}
"""


def agg(kind="tumbling", window='size = "1m"', measures='p99 = "p99(latency_ms)"'):
    return AGG.format(kind=kind, window=window, measures=measures)


def fails(extra, match, **kw):
    with pytest.raises(ConfigError, match=match):
        parse_spec(spec_text(extra), source_name="web.toml", **kw)


def test_pipe1_minimal_spec_defaults(make_spec):
    spec = make_spec()
    assert spec.name == "web"
    assert spec.tenant == "demo"
    assert spec.settings.max_future_skew_ms == 300_000
    assert spec.settings.dedup_window_ms == 60_000
    assert spec.settings.time_zone == "UTC"
    assert spec.source.kind == "generator"
    assert spec.source.options["model"] == "web"
    assert spec.steps == ()
    assert spec.aggregations == ()
    assert "[pipeline]" in spec.text


def test_pipe1_aggregation_fields(make_spec):
    spec = make_spec(
        agg(measures='p99 = "p99(latency_ms)", users = "distinct(user_id)"')
        + 'max_out_of_orderness = "5s"\nallowed_lateness = "1m"\nidle_timeout = "30s"\n'
        + 'sinks = ["postgres", "redis_live"]\n'
    )
    (a,) = spec.aggregations
    assert (a.window_kind, a.size_ms, a.slide_ms, a.gap_ms) == ("tumbling", 60_000, 0, 0)
    assert a.group_by == ("region",)
    assert a.measures == {
        "requests": "count",
        "p99": "p99(latency_ms)",
        "users": "distinct(user_id)",
    }
    assert (a.max_out_of_orderness_ms, a.allowed_lateness_ms, a.idle_timeout_ms) == (
        5000,
        60_000,
        30_000,
    )
    assert a.sinks == ("postgres", "redis_live")
    assert a.time_field == "ts"
    assert spec.rollup_fields() == {
        "*": {"count"},
        "latency_ms": {"sum", "min", "max", "m2", "digest"},
        "user_id": {"hll"},
    }
    assert spec.dims() == ["region"]


def test_pipe1_unknown_key_names_file_and_path():
    fails(
        agg(window='size = "1m", sise = "2m"'),
        r"^web\.toml: aggregations\[0\]\.window\.sise: unknown key",
    )
    fails('[sourcez]\nkind = "x"\n', r"web\.toml: sourcez: unknown key")
    fails(
        steps_toml('op = "rename"\nfrom = "a"\nto = "b"\ncolour = 1'),
        r"transforms\[0\]\.colour: unknown key",
    )


def test_pipe1_wrong_types_name_path():
    fails(agg(window="size = 5.5"), r"web\.toml: aggregations\[0\]\.window\.size: expected")
    fails(agg(window='size = "1 minute"'), r"aggregations\[0\]\.window\.size")
    fails("[[aggregations]]\nname = 3\n", r"aggregations\[0\]\.name: expected a string")
    fails(agg().replace('["region"]', "7"), r"aggregations\[0\]\.group_by: expected a list")


def test_pipe1_invalid_toml():
    with pytest.raises(ConfigError, match=r"^bad\.toml: invalid TOML"):
        parse_spec("[pipeline\nname=", source_name="bad.toml")


def test_pipe1_missing_required():
    with pytest.raises(ConfigError, match=r"x\.toml: pipeline: is required"):
        parse_spec('[source]\nkind = "file"\npath = "a"\n', source_name="x.toml")
    fails(
        agg(window="kind2 = 1").replace('"tumbling", kind2 = 1', '"tumbling"'),
        r"aggregations\[0\]\.window\.size: is required",
    )


@pytest.mark.parametrize("name", ["Web", "1web", "web-x", "", "w" * 64])
def test_pipe1_bad_pipeline_names(name):
    with pytest.raises(ConfigError, match=r"pipeline\.name"):
        parse_spec(
            f'[pipeline]\nname = "{name}"\n[source]\nkind = "generator"\nmodel = "web"\n',
            source_name="x.toml",
        )


def test_stream4_sliding_rules(make_spec):
    spec = make_spec(agg("sliding", 'size = "10s", slide = "5s"'))
    assert (spec.aggregations[0].size_ms, spec.aggregations[0].slide_ms) == (10_000, 5000)
    assert (
        make_spec(agg("sliding", 'size = "10s", slide = "10s"')).aggregations[0].slide_ms == 10_000
    )
    fails(
        agg("sliding", 'size = "10s", slide = "11s"'), r"aggregations\[0\]\.window\.slide: must be"
    )
    fails(
        agg("sliding", 'size = "10s", slide = "0s"'), r"aggregations\[0\]\.window\.slide: must be"
    )
    fails(agg("sliding", 'size = "10s", slide = "-1s"'), r"aggregations\[0\]\.window\.slide")
    fails(agg("sliding", 'size = "10s"'), r"aggregations\[0\]\.window\.slide: is required")
    fails(
        agg("tumbling", 'size = "10s", slide = "5s"'),
        r"aggregations\[0\]\.window\.slide: unknown key",
    )


def test_session_window(make_spec):
    a = make_spec(agg("session", 'gap = "30s"')).aggregations[0]
    assert (a.window_kind, a.gap_ms, a.size_ms) == ("session", 30_000, 0)
    fails(agg("session", 'gap = "0s"'), r"window\.gap: must be more than 0")
    fails(agg("session", 'size = "1m"'), r"window\.gap: is required")


def test_dec9_unknown_window_measure_op():
    fails(agg("hopping"), r"window\.kind: 'hopping' is not one of")
    fails(
        agg(measures='m = "median(x)"'),
        r"aggregations\[0\]\.measures\.m: unknown measure function 'median'",
    )
    fails(steps_toml('op = "explode"'), r"transforms\[0\]\.op: 'explode' is not one of")


@pytest.mark.parametrize(
    ("text", "canonical"),
    [
        ("count", "count"),
        ("sum(bytes)", "sum(bytes)"),
        ("min(x)", "min(x)"),
        ("max(x)", "max(x)"),
        ("mean(x)", "mean(x)"),
        ("stddev(x)", "stddev(x)"),
        ("rate(bytes)", "rate(bytes)"),
        ("p0(x)", "p0(x)"),
        ("p50(x)", "p50(x)"),
        ("p99.9(x)", "p99.9(x)"),
        ("p100(x)", "p100(x)"),
        ("p99.0(x)", "p99(x)"),
        ("distinct(user_id)", "distinct(user_id)"),
        (" p95( reading.temperature ) ", "p95(reading.temperature)"),
    ],
)
def test_measures_valid(make_spec, text, canonical):
    spec = make_spec(agg(measures=f'm = "{text}"'))
    assert spec.aggregations[0].measures["m"] == canonical


@pytest.mark.parametrize(
    "text",
    [
        "p101(x)",
        "p100.5(x)",
        "p-1(x)",
        "p(x)",
        "sum()",
        "sum(x",
        "sum(_x)",
        "count(x)",
        "sum(a)(b)",
        "p\u0661(x)",
    ],
)
def test_measures_invalid(text):
    fails(agg(measures=f'm = "{text}"'), r"aggregations\[0\]\.measures\.m")


def test_group_by_paths_checked():
    fails(agg().replace('"region"', '"_secret"'), r"aggregations\[0\]\.group_by.*'_'")


def test_sinks_checked():
    fails(agg() + 'sinks = ["kafka"]\n', r"aggregations\[0\]\.sinks: unknown sink 'kafka'")
    fails(agg() + "sinks = []\n", r"aggregations\[0\]\.sinks: must not be empty")


def test_pipe18_step_limits(make_spec):
    step = 'op = "insert"\nfield = "x"\nvalue = 1'
    assert len(make_spec(steps_toml(*[step] * 20)).steps) == 20
    assert len(make_spec(steps_toml(*[step] * 50)).steps) == 50
    fails(steps_toml(*[step] * 51), r"web\.toml: transforms: has 51 steps; at most 50")


def test_step_names_default_and_unique(make_spec):
    spec = make_spec(
        steps_toml('op = "insert"\nfield = "x"\nvalue = 1', 'op = "remove"\nfields = ["x"]')
    )
    assert [(s.name, s.op) for s in spec.steps] == [("insert_0", "insert"), ("remove_1", "remove")]
    fails(
        steps_toml(
            'op = "insert"\nname = "a"\nfield = "x"\nvalue = 1',
            'op = "insert"\nname = "a"\nfield = "y"\nvalue = 1',
        ),
        r"transforms\[1\]\.name: step name 'a' is used twice",
    )


def test_pipe14_regex_fails_spec():
    fails(
        steps_toml('op = "regex_extract"\nfield = "a"\npattern = "(a)\\\\1"'),
        r"transforms\[0\]\.pattern: .*not an RE2 pattern",
    )
    fails(
        steps_toml('op = "regex_match"\nfield = "a"\npattern = "(?=a)b"'),
        r"transforms\[0\]\.pattern",
    )
    fails(
        steps_toml('op = "regex_replace"\nfield = "a"\npattern = "(?<!a)b"\nreplacement = ""'),
        r"transforms\[0\]\.pattern",
    )


def test_pipe17_cel_checked_at_load():
    fails(
        steps_toml('op = "derive"\nfield = "x"\nexpr = "status >="'),
        r"transforms\[0\]\.expr: invalid CEL expression",
    )
    fails(
        steps_toml('op = "derive"\nfield = "x"\nexpr = "system(\'ls\')"'),
        r"transforms\[0\]\.expr: .*calls 'system'",
    )
    fails(steps_toml('op = "filter"\nwhen = "x.__class__()"'), r"transforms\[0\]\.when")
    fails(
        steps_toml('op = "derive"\nfield = "x"\nexpr = "' + " + ".join(["a"] * 450) + '"'),
        r"at most 400",
    )


def test_pipe12_underscore_paths_fail_spec():
    fails(
        steps_toml('op = "rename"\nfrom = "user._secret"\nto = "b"'),
        r"transforms\[0\]\.from: .*'_'",
    )
    fails(steps_toml('op = "remove"\nfields = ["__class__"]'), r"transforms\[0\]\.fields")
    fails(
        steps_toml('op = "cast"\nfield = "a..b"\nto = "int"'),
        r"transforms\[0\]\.field: .*bad segment",
    )


def test_settings(make_spec):
    head = (
        '[pipeline]\nname = "w"\ntime_zone = "Europe/Berlin"\nmax_future_skew = "1m"\n'
        'dedup_window = 0\n[source]\nkind = "generator"\nmodel = "iot"\n'
    )
    spec = parse_spec(head, source_name="x.toml")
    assert (
        spec.settings.time_zone,
        spec.settings.max_future_skew_ms,
        spec.settings.dedup_window_ms,
    ) == ("Europe/Berlin", 60_000, 0)
    with pytest.raises(ConfigError, match=r"pipeline\.time_zone: unknown time zone 'Mars/Base'"):
        parse_spec(head.replace("Europe/Berlin", "Mars/Base"), source_name="x.toml")
    with pytest.raises(ConfigError, match=r"pipeline\.dedup_window: must be at most 1h"):
        parse_spec(head.replace("dedup_window = 0", 'dedup_window = "2h"'), source_name="x.toml")
    with pytest.raises(
        ConfigError, match=r"pipeline\.max_future_skew: a duration cannot be negative"
    ):
        parse_spec(head.replace('"1m"', "-5"), source_name="x.toml")


@pytest.mark.parametrize(
    ("source", "match"),
    [
        ('kind = "kafka"', r"source\.kind: 'kafka' is not one of"),
        ('kind = "generator"\nmodel = "shop"', r"source\.model: 'shop' is not one of"),
        ('kind = "generator"\nmodel = "web"\nevents = 0', r"source\.events: 0 is outside"),
        ('kind = "generator"\nmodel = "web"\nrate = -1', r"source\.rate: must be > 0"),
        ('kind = "file"\npath = "a.jsonl"\nformat = "xml"', r"source\.format"),
        ('kind = "file"', r"source\.path: is required"),
        (
            'kind = "redis_stream"\nstream = "a"\nstreams = ["b"]',
            r"source\.streams: give stream or streams",
        ),
        ('kind = "rabbitmq_stream"\nqueue = "q"\ngroup = "g"', r"source\.group: unknown key"),
    ],
)
def test_source_options_per_kind(source, match):
    with pytest.raises(ConfigError, match=match):
        parse_spec(f'[pipeline]\nname = "w"\n[source]\n{source}\n', source_name="x.toml")


def test_source_defaults(tmp_path):
    spec = parse_spec(
        '[pipeline]\nname = "w"\n[source]\nkind = "redis_stream"\n', source_name="x.toml"
    )
    assert spec.source.options == {
        "batch_size": 1000,
        "streams": ["w"],
        "group": "datanexus",
        "errors": "all",
    }
    spec = parse_spec(
        '[pipeline]\nname = "w"\n[source]\nkind = "file"\npath = "in/a.jsonl"\n',
        source_name="x.toml",
        base_dir=tmp_path,
    )
    assert spec.source.options["path"] == str((tmp_path / "in" / "a.jsonl").resolve())


def test_schema_file(tmp_path):
    (tmp_path / "schemas").mkdir()
    (tmp_path / "schemas" / "w.json").write_text(json.dumps({"type": "object"}))
    (tmp_path / "schemas" / "list.json").write_text("[1]")
    body = (
        '[pipeline]\nname = "w"\n[source]\nkind = "generator"\nmodel = "web"\n'
        '[schema]\nfile = "schemas/{}"\n'
    )
    (tmp_path / "w.toml").write_text(body.format("w.json"))
    spec = load_spec(tmp_path / "w.toml")
    assert spec.schema is not None
    assert (spec.schema.subject, spec.schema.compatibility) == ("w", "BACKWARD")
    assert spec.schema.path == (tmp_path / "schemas" / "w.json").resolve()
    assert spec.schema.document == {"type": "object"}
    (tmp_path / "w.toml").write_text(body.format("list.json"))
    with pytest.raises(
        ConfigError, match=re.escape(str(tmp_path / "w.toml")) + r": schema\.file: .*JSON object"
    ):
        load_spec(tmp_path / "w.toml")
    (tmp_path / "w.toml").write_text(body.format("nope.json"))
    with pytest.raises(ConfigError, match=r"schema\.file: cannot read"):
        load_spec(tmp_path / "w.toml")
    with pytest.raises(ConfigError, match=r"cannot read pipeline spec"):
        load_spec(tmp_path / "missing.toml")


def test_routes_checked():
    fails('[[routes]]\nwhen = "status >"\ndestination = "x"\n', r"routes\[0\]\.when: invalid CEL")
    fails('[[routes]]\nwhen = "true"\ndestination = "Bad Name"\n', r"routes\[0\]\.destination")
    fails('[routing]\nmode = "topic"\n', r"routing\.key: is required")
    fails(
        '[routing]\nmode = "topic"\nkey = "region"\n'
        '[[routes]]\ntopic = "eu.**"\ndestination = "x"\n',
        r"routes\[0\]\.topic: .*bad word",
    )


def test_conn7_error_tolerance_defaults_to_all_and_accepts_none():
    assert parse_spec(spec_text(), source_name="web.toml").source.options["errors"] == "all"
    strict = BASE.replace('model = "web"', 'model = "web"\nerrors = "none"')
    spec = parse_spec(spec_text(head=strict), source_name="web.toml")
    assert spec.source.options["errors"] == "none"


def test_conn7_error_tolerance_other_values_are_refused_with_the_key():
    bad = BASE.replace('model = "web"', 'model = "web"\nerrors = "some"')
    with pytest.raises(ConfigError, match=r"web\.toml: source\.errors: 'some' is not one of"):
        parse_spec(spec_text(head=bad), source_name="web.toml")
