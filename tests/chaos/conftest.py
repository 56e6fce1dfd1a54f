"""Chaos tests use the integration suite's server fixtures, loaded from its conftest, as
pytest does not share fixtures between sibling directories."""

from __future__ import annotations

import importlib.util
from pathlib import Path

_spec = importlib.util.spec_from_file_location(
    "_integration_conftest", Path(__file__).parents[1] / "integration" / "conftest.py"
)
assert _spec is not None
assert _spec.loader is not None
_integration = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(_integration)

database_url = _integration.database_url
redis_url = _integration.redis_url
amqp_url = _integration.amqp_url
pg = _integration.pg
schema = _integration.schema
