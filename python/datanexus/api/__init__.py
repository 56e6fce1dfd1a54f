"""The HTTP API gateway: ingestion, tenants and keys, live queries, rate limits,
observability (issue 7; DESIGN §4). No Bytewax here: see :mod:`datanexus.api.app`.

- :func:`create_app` builds the ASGI app for :class:`ApiSettings`; :func:`serve` runs it;
- :func:`create_tenant_with_admin_key` bootstraps a tenant and its first key (CLI, tests).
"""

from __future__ import annotations

from datanexus.api.app import create_app, serve
from datanexus.api.keys import create_tenant_with_admin_key
from datanexus.api.settings import ApiSettings

__all__ = ["ApiSettings", "create_app", "create_tenant_with_admin_key", "serve"]
