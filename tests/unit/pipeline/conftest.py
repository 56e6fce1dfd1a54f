"""Helpers for the pipeline tests: a minimal valid spec to vary."""

from __future__ import annotations

import pytest

BASE = """
[pipeline]
name = "web"
tenant = "demo"

[source]
kind = "generator"
model = "web"
"""


def spec_text(extra: str = "", *, head: str = BASE) -> str:
    return head + "\n" + extra


@pytest.fixture
def make_spec():
    from datanexus.pipeline import parse_spec

    def make(extra: str = "", **kw):
        return parse_spec(spec_text(extra), source_name="web.toml", **kw)

    return make


def steps_toml(*steps: str) -> str:
    return "\n".join(f"[[transforms]]\n{s}\n" for s in steps)
