"""CEL expressions are type-checked at load against the schema's types (PIPE-17)."""

from __future__ import annotations

import json
import re

import pytest

from conftest import BASE, steps_toml
from datanexus.errors import ConfigError
from datanexus.pipeline import parse_spec
from datanexus.pipeline.typecheck import probe_event

SCHEMA = {
    "type": "object",
    "properties": {
        "status": {"type": "integer"},
        "region": {"enum": ["eu", "us"]},
        "latency_ms": {"type": "number"},
        "amount": {"type": "string"},
        "battery": {"type": ["number", "null"]},
        "reading": {"type": "object", "properties": {"t": {"type": "number"}}},
        "tags": {"type": "array"},
    },
}


def load(tmp_path, extra):
    (tmp_path / "s.json").write_text(json.dumps(SCHEMA))
    text = BASE + '\n[schema]\nfile = "s.json"\n' + extra
    return parse_spec(text, source_name="web.toml", base_dir=tmp_path)


def test_probe_event_types():
    assert probe_event(SCHEMA) == {
        "status": 0,
        "region": "eu",
        "latency_ms": 0.0,
        "amount": "0",
        "battery": 0.0,
        "reading": {"t": 0.0},
        "tags": [],
    }


@pytest.mark.parametrize(
    ("step", "key"),
    [
        ('op = "derive"\nfield = "x"\nexpr = "status + \'x\'"', "transforms[0].expr"),
        ('op = "filter"\nwhen = "region > 5"', "transforms[0].when"),
        ('op = "derive"\nfield = "x"\nexpr = "size(status)"', "transforms[0].expr"),
        ('op = "derive"\nfield = "x"\nexpr = "reading.t + \'a\'"', "transforms[0].expr"),
    ],
)
def test_pipe17_type_errors_fail_the_spec(tmp_path, step, key):
    with pytest.raises(ConfigError, match=re.escape(f"web.toml: {key}: type error")):
        load(tmp_path, steps_toml(step))


def test_pipe17_types_flow_through_steps(tmp_path):
    ok = steps_toml(
        'op = "derive"\nfield = "is_error"\nexpr = "status >= 500 ? 1 : 0"',
        'op = "filter"\nwhen = "is_error == 1"',
    )
    assert len(load(tmp_path, ok).steps) == 2
    bad = steps_toml(
        'op = "derive"\nfield = "kind"\nexpr = "status >= 500 ? \'error\' : \'ok\'"',
        'op = "derive"\nfield = "y"\nexpr = "kind + 1"',
    )
    with pytest.raises(ConfigError, match=r"transforms\[1\]\.expr: type error"):
        load(tmp_path, bad)
    cast = steps_toml(
        'op = "cast"\nfield = "amount"\nto = "float"', 'op = "filter"\nwhen = "amount > 0.0"'
    )
    assert len(load(tmp_path, cast).steps) == 2
    with pytest.raises(ConfigError, match=r"transforms\[1\]\.when: type error"):
        load(
            tmp_path,
            steps_toml(
                'op = "cast"\nfield = "amount"\nto = "float"',
                'op = "filter"\nwhen = "amount.startsWith(\'1\')"',
            ),
        )


def test_pipe17_routes_checked(tmp_path):
    with pytest.raises(ConfigError, match=r"routes\[0\]\.when: type error"):
        load(tmp_path, '[[routes]]\nwhen = "status == \'500\'"\ndestination = "x"\n')
    assert load(tmp_path, '[[routes]]\nwhen = "status == 500"\ndestination = "x"\n').routing.routes


def test_unknown_fields_and_macro_vars_are_not_type_errors(tmp_path):
    spec = load(
        tmp_path,
        steps_toml(
            'op = "filter"\nwhen = "other > 1"',
            'op = "derive"\nfield = "n"\nexpr = "tags.map(t, t + 1).size()"',
        ),
    )
    assert len(spec.steps) == 2
