"""A fresh, migrated PostgreSQL schema per test, dropped afterwards, so tests of the store
and of the connectors never see each other's rows (other engineers share the server)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import psycopg
import pytest

from datanexus.store.migrations import migrate


@pytest.fixture
def pg(database_url: str) -> Iterator[psycopg.Connection[Any]]:
    with psycopg.connect(database_url, autocommit=True, connect_timeout=5) as conn:
        yield conn


@pytest.fixture
def schema(pg: psycopg.Connection[Any]) -> Iterator[str]:
    name = f"dn_test_{uuid.uuid4().hex[:16]}"
    migrate(pg, name)
    yield name
    pg.execute(f'DROP SCHEMA IF EXISTS "{name}" CASCADE')
