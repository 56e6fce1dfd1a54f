"""End-to-end tests use the integration suite's server fixtures (which fail, never skip,
when a server is down)."""

from __future__ import annotations

from tests.integration.conftest import amqp_url, database_url, redis_url  # noqa: F401
