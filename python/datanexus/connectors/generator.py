"""The event generators as a Bytewax source: events of a model in batches.

The events themselves come from :mod:`datanexus.connectors.web_traffic` and
:mod:`datanexus.connectors.event_models` (any :class:`EventModel`); this module only
deals blocks to partitions, keeps the resume state and paces emission.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from bytewax.inputs import FixedPartitionedSource, StatefulSourcePartition

from datanexus.connectors.event_models import EventModel
from datanexus.connectors.web_traffic import BLOCK_SIZE, WebTraffic, check_int
from datanexus.errors import InvalidArgument, InvalidType

__all__ = ["ModelEventsSource", "WebEventsPartition", "WebEventsSource"]


class WebEventsPartition(StatefulSourcePartition[list[Any], int]):
    """One partition: blocks ``part, part + parts, part + 2 * parts, ...``.

    Each ``next_batch`` returns one item, a list of up to ``batch_size`` events; pacing
    only moves ``next_awake``. The resume state is the global index of the next event this
    partition will emit, or ``events`` once it is exhausted; resuming from a snapshot
    emits exactly the events after the last batch returned before it. Never blocks.
    """

    def __init__(
        self,
        traffic: WebTraffic | EventModel,
        part: int,
        parts: int,
        batch_size: int,
        rate: float | None,
        resume_state: int | None,
    ) -> None:
        self._traffic = traffic
        self._parts = parts
        self._batch_size = batch_size
        if resume_state is None:
            resume_state = part * BLOCK_SIZE
        else:
            check_int("resume state", resume_state, 0)
            if resume_state < traffic.events and (resume_state // BLOCK_SIZE) % parts != part:
                raise InvalidArgument(
                    f"resume state {resume_state} is not an event index of partition {part} "
                    f"of {parts}; was the partition count changed?"
                )
        self._next = min(resume_state, traffic.events)
        self._cached: tuple[int, list[Any]] | None = None
        self._period = None if rate is None else timedelta(seconds=parts / rate)
        self._emitted = 0
        self._started = datetime.now(UTC)
        self._awake: datetime | None = None

    def _block(self, index: int) -> list[Any]:
        if self._cached is None or self._cached[0] != index:
            self._cached = (index, self._traffic.block(index))
        return self._cached[1]

    def next_batch(self) -> list[list[Any]]:
        events = self._traffic.events
        if self._next >= events:
            raise StopIteration
        batch: list[Any] = []
        while len(batch) < self._batch_size and self._next < events:
            index, offset = divmod(self._next, BLOCK_SIZE)
            block = self._block(index)
            take = block[offset : offset + self._batch_size - len(batch)]
            batch.extend(take)
            self._next += len(take)
            if offset + len(take) == len(block):
                self._next = min((index + self._parts) * BLOCK_SIZE, events)
        if self._period is not None:
            self._emitted += len(batch)
            self._awake = self._started + self._emitted * self._period
        return [batch]

    def next_awake(self) -> datetime | None:
        return self._awake

    def snapshot(self) -> int:
        return self._next


class WebEventsSource(FixedPartitionedSource[list[Any], int]):
    """A Bytewax source of :class:`WebTraffic` events in batches (lists of events).

    ``partitions`` partitions named ``web-0``, ``web-1``, ... (every worker lists all of
    them; Bytewax assigns each to one worker). Together they emit every event exactly
    once, whatever ``partitions`` and ``batch_size``. Resuming needs the same traffic
    and partition count. ``rate`` (events per second over all partitions) paces the
    emission through ``next_awake``; the default ``None`` emits as fast as the flow
    takes events.
    """

    def __init__(
        self,
        traffic: WebTraffic | EventModel,
        *,
        batch_size: int = 1000,
        partitions: int = 1,
        rate: float | None = None,
    ) -> None:
        if not all(hasattr(traffic, a) for a in ("name", "events", "blocks", "block")):
            raise InvalidType(
                f"traffic must be a WebTraffic or an EventModel, got {type(traffic).__name__}"
            )
        self._traffic = traffic
        self._batch_size = check_int("batch_size", batch_size, 1)
        self._partitions = check_int("partitions", partitions, 1)
        if rate is not None:
            if isinstance(rate, bool) or not isinstance(rate, int | float):
                raise InvalidType(f"rate must be a number or None, got {type(rate).__name__}")
            if not (math.isfinite(rate) and rate > 0):
                raise InvalidArgument(f"rate must be a positive number of events/s, got {rate}")
        self._rate = None if rate is None else float(rate)

    @property
    def partition_names(self) -> Sequence[str]:
        return [f"{self._traffic.name}-{p}" for p in range(self._partitions)]

    def list_parts(self) -> list[str]:
        return list(self.partition_names)

    def build_part(
        self, step_id: str, for_part: str, resume_state: int | None
    ) -> WebEventsPartition:
        try:
            part = self.partition_names.index(for_part)
        except ValueError:
            raise InvalidArgument(
                f"unknown partition {for_part!r}; this source has {self.partition_names}"
            ) from None
        return WebEventsPartition(
            self._traffic, part, self._partitions, self._batch_size, self._rate, resume_state
        )


ModelEventsSource = WebEventsSource
"""The same source for any :class:`EventModel` (payments, IoT readings)."""
