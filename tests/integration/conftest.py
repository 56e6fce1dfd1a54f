"""Fixtures for integration tests: the servers started by ``scripts/services.sh``.

Each fixture returns the URL of one server (from ``DATANEXUS_*_URL`` or the default that
``scripts/services.sh start`` prints) after checking, once per session and with a short
timeout, that the server really accepts a login. A server that is down FAILS the tests
that need it instead of skipping them: a silently skipped integration suite looks green
while testing nothing.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from typing import Any, NoReturn
from urllib.parse import urlsplit, urlunsplit

import psycopg
import pytest

DEFAULT_DATABASE_URL = "postgresql://datanexus:datanexus@127.0.0.1:5432/datanexus"
DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/0"
DEFAULT_AMQP_URL = "amqp://guest:guest@127.0.0.1:5672/%2F"

# Seconds. A local server answers in milliseconds; a dead one must not stall the run.
CONNECT_TIMEOUT = 3

_HINT = "start the servers with `scripts/services.sh start` (`make test` does it for you)"


def _setting(name: str, default: str) -> str:
    """The URL in environment variable ``name``, or ``default`` when unset or empty."""
    return os.environ.get(name) or default


def redact(url: str) -> str:
    """``url`` with its password replaced, for messages that end up in CI logs."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = parts.netloc.replace(f":{parts.password}@", ":***@", 1)
    return urlunsplit(parts._replace(netloc=netloc))


def _server_down(server: str, env: str, url: str, error: BaseException) -> NoReturn:
    message = (
        f"{server} is not reachable at {redact(url)} ({env}): "
        f"{type(error).__name__}: {error}\n{_HINT}"
    )
    # `from None`: the client library's traceback adds nothing to the message above.
    raise pytest.fail.Exception(message, pytrace=False) from None


@pytest.fixture(scope="session")
def database_url() -> str:
    """PostgreSQL URL, checked by logging in and running ``SELECT 1``."""
    import psycopg

    env = "DATANEXUS_DATABASE_URL"
    url = _setting(env, DEFAULT_DATABASE_URL)
    try:
        with psycopg.connect(url, connect_timeout=CONNECT_TIMEOUT) as conn:
            conn.execute("SELECT 1")
    except psycopg.Error as error:
        _server_down("PostgreSQL", env, url, error)
    return url


@pytest.fixture(scope="session")
def redis_url() -> str:
    """Redis URL, checked with ``PING``."""
    import redis

    env = "DATANEXUS_REDIS_URL"
    url = _setting(env, DEFAULT_REDIS_URL)
    client = redis.Redis.from_url(
        url, socket_connect_timeout=CONNECT_TIMEOUT, socket_timeout=CONNECT_TIMEOUT
    )
    try:
        client.ping()
    except redis.RedisError as error:
        _server_down("Redis", env, url, error)
    finally:
        client.close()
    return url


@pytest.fixture(scope="session")
def amqp_url() -> str:
    """RabbitMQ (AMQP 0-9-1) URL, checked by opening and closing a connection."""
    import pika
    import pika.exceptions

    env = "DATANEXUS_AMQP_URL"
    url = _setting(env, DEFAULT_AMQP_URL)
    params = pika.URLParameters(url)
    params.connection_attempts = 1
    params.socket_timeout = CONNECT_TIMEOUT
    params.stack_timeout = CONNECT_TIMEOUT * 2
    try:
        pika.BlockingConnection(params).close()
    except pika.exceptions.AMQPError as error:
        _server_down("RabbitMQ", env, url, error)
    return url


@pytest.fixture
def pg(database_url: str) -> Iterator[psycopg.Connection[Any]]:
    """An autocommit connection to the test database."""
    with psycopg.connect(database_url, autocommit=True, connect_timeout=CONNECT_TIMEOUT) as conn:
        yield conn


@pytest.fixture
def schema(pg: psycopg.Connection[Any]) -> Iterator[str]:
    """A fresh schema with the store's tables, dropped afterwards: tests never see each
    other's rows (other engineers' runs share the server)."""
    from datanexus.store.migrations import migrate

    name = f"dn_test_{uuid.uuid4().hex[:16]}"
    migrate(pg, name)
    yield name
    pg.execute(f'DROP SCHEMA IF EXISTS "{name}" CASCADE')
