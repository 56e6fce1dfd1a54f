"""Query integration fixtures: a fresh schema (tests/integration/conftest.py) and a
unique tenant."""

from __future__ import annotations

import uuid
from typing import Any

import psycopg
import pytest
from querydata import QueryDb


@pytest.fixture
def qdb(pg: psycopg.Connection[Any], schema: str) -> QueryDb:
    return QueryDb(pg, schema, f"tenant-{uuid.uuid4().hex[:8]}")
