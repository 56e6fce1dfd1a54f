"""The API fixtures live in api_helpers (shared with tests/security and tests/bench)."""

from __future__ import annotations

from tests.integration.api.api_helpers import (  # noqa: F401
    admin_conn,
    api_schema,
    client,
    operator,
    prefix,
    settings,
    tenant_a,
    tenant_b,
)
