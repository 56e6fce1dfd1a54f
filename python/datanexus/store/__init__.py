"""The time-series store on PostgreSQL: schema migrations and the bulk writers the
connectors' sinks use. No Bytewax here: platform modules use this package directly."""

from __future__ import annotations
