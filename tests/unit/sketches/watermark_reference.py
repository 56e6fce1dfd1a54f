"""The contract of `datanexus.WatermarkTracker` in plain Python: slow, obvious, exact.

Every answer is recomputed from the partitions' state (no cached minimum), with Python
ints kept exact. The tests compare the native tracker against it on random histories; the
benchmarks use it as the anchor a user would otherwise write.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

Key = str | int
Number = int | float


@dataclass
class _Partition:
    max_ts: Number
    last_seen: Number | None
    idle: bool = False
    # The tracker watermark when the partition last resumed from idleness.
    floor: Number = -math.inf


class ReferenceTracker:
    def __init__(self, max_out_of_orderness: Number = 0, idle_timeout: Number | None = None):
        self.ooo = max_out_of_orderness
        self.idle_timeout = idle_timeout
        self.parts: dict[Key, _Partition] = {}  # in order of first appearance
        self.clock: Number | None = None
        self.integral_times = isinstance(max_out_of_orderness, int)
        self.integral_clock = idle_timeout is None or isinstance(idle_timeout, int)

    # Answers are ints while only ints came in (the native tracker's type rule).
    def _time(self, v: Number) -> Number:
        return v if self.integral_times else float(v)

    def _clock(self, v: Number | None) -> Number | None:
        return v if v is None or self.integral_clock else float(v)

    def _own(self, p: _Partition) -> Number:
        return p.max_ts - self.ooo

    def _effective(self, p: _Partition) -> Number:
        return max(self._own(p), p.floor)

    def _raw_watermark(self) -> Number | None:
        if not self.parts:
            return None
        active = [self._effective(p) for p in self.parts.values() if not p.idle]
        if active:
            return min(active)
        return max(self._effective(p) for p in self.parts.values())

    @property
    def watermark(self) -> Number | None:
        w = self._raw_watermark()
        return None if w is None else self._time(w)

    def _advance(self, now: Number | None) -> None:
        if now is None:
            return
        self.integral_clock &= isinstance(now, int)
        if self.clock is None:
            for p in self.parts.values():
                p.last_seen = now
            self.clock = now
        else:
            self.clock = max(self.clock, now)

    def observe(self, partition: Key, ts: Number, now: Number | None = None) -> Number:
        before = self._raw_watermark()
        self._advance(now)
        self.integral_times &= isinstance(ts, int)
        p = self.parts.get(partition)
        if p is None:
            self.parts[partition] = _Partition(max_ts=ts, last_seen=self.clock)
        else:
            if p.idle:
                assert before is not None
                p.idle = False
                p.floor = max(p.floor, before)
            p.max_ts = max(p.max_ts, ts)
            p.last_seen = self.clock
        w = self.watermark
        assert w is not None
        return w

    def observe_many(
        self, partition: Key, ts: list[Number], now: Number | None = None
    ) -> Number | None:
        for v in ts:
            self.observe(partition, v, now)
        return self.watermark

    def tick(self, now: Number) -> Number | None:
        self._advance(now)
        if self.idle_timeout is not None and self.clock is not None:
            for p in self.parts.values():
                if p.last_seen is not None and self.clock - p.last_seen > self.idle_timeout:
                    p.idle = True
        return self.watermark

    def partition_watermark(self, partition: Key) -> Number | None:
        p = self.parts.get(partition)
        return None if p is None else self._time(self._own(p))

    def is_late(self, ts: Number, allowed_lateness: Number = 0) -> bool:
        w = self._raw_watermark()
        return w is not None and ts < w - allowed_lateness

    def holdback(self) -> tuple[Key, Number] | None:
        active = [(k, self._effective(p)) for k, p in self.parts.items() if not p.idle]
        if not active:
            return None
        low = min(e for _, e in active)
        holder = next(k for k, e in active if e == low)
        return holder, self._time(max(e for _, e in active) - low)

    def partitions(self) -> dict[Key, dict[str, object]]:
        return {
            k: {
                "watermark": self._time(self._own(p)),
                "idle": p.idle,
                "last_seen": self._clock(p.last_seen),
            }
            for k, p in self.parts.items()
        }
