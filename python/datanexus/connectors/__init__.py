"""Sources and sinks implementing Bytewax's partition contracts.

Every source here never blocks in ``next_batch``, keeps its position as resume state and
resumes after the last item it returned; sinks do not rely on ``close`` running.
"""

from __future__ import annotations

from datanexus.connectors.generator import WebEventsSource
from datanexus.connectors.web_traffic import WebEvent, WebTraffic, generate_events

__all__ = ["WebEvent", "WebEventsSource", "WebTraffic", "generate_events"]
