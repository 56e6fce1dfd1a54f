"""Tagging a source's batches with their partition, so event-time operators can keep a
watermark per source partition (REQUIREMENTS STREAM-6/7).

Bytewax does not tell downstream steps which partition an item came from. Wrapping a
source in :class:`PartitionedSource` makes each item a :class:`SourceBatch`: the
partition's name, the names of all the source's partitions (so that an operator can
wait for every one of them before its watermark moves, instead of racing ahead of
partitions that start late) and the events.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Generic, TypeVar

from bytewax.inputs import FixedPartitionedSource, StatefulSourcePartition

from datanexus.errors import InvalidType

__all__ = ["PartitionedSource", "SourceBatch"]

X = TypeVar("X")
S = TypeVar("S")


@dataclass(frozen=True)
class SourceBatch(Generic[X]):
    """Events of one source partition, in the order it produced them."""

    partition: str
    partitions: tuple[str, ...]
    events: list[X]


class _TaggingPartition(StatefulSourcePartition[SourceBatch[X], S]):
    """Delegates to the wrapped partition; batches are tagged, state and timing unchanged."""

    def __init__(
        self, inner: StatefulSourcePartition[Any, S], name: str, names: tuple[str, ...]
    ) -> None:
        self._inner = inner
        self._name = name
        self._names = names

    def next_batch(self) -> Iterable[SourceBatch[X]]:
        out: list[SourceBatch[X]] = []
        singles: list[X] = []
        for item in self._inner.next_batch():
            if isinstance(item, list):
                if singles:
                    out.append(SourceBatch(self._name, self._names, singles))
                    singles = []
                out.append(SourceBatch(self._name, self._names, item))
            else:
                singles.append(item)
        if singles:
            out.append(SourceBatch(self._name, self._names, singles))
        return out

    def next_awake(self) -> datetime | None:
        return self._inner.next_awake()

    def snapshot(self) -> S:
        return self._inner.snapshot()

    def close(self) -> None:
        self._inner.close()


class PartitionedSource(FixedPartitionedSource[SourceBatch[X], S]):
    """Wraps a fixed-partitioned source whose items are events or lists of events; its
    items become :class:`SourceBatch` (lists stay whole; consecutive single events of one
    poll are gathered into one batch). Partitions, resume states and pacing are the
    wrapped source's."""

    def __init__(self, inner: FixedPartitionedSource[Any, S]) -> None:
        if not isinstance(inner, FixedPartitionedSource):
            raise InvalidType(
                f"PartitionedSource wraps a FixedPartitionedSource, got {type(inner).__name__}"
            )
        self._inner = inner

    def list_parts(self) -> list[str]:
        return list(self._inner.list_parts())

    def build_part(
        self, step_id: str, for_part: str, resume_state: S | None
    ) -> _TaggingPartition[X, S]:
        inner = self._inner.build_part(step_id, for_part, resume_state)
        return _TaggingPartition(inner, for_part, tuple(self.list_parts()))
