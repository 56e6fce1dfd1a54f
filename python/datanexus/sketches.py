"""Mergeable sketches backed by the native core.

:class:`HyperLogLog` estimates distinct counts; it hashes like Apache DataSketches and
reads and writes its images, so sketches from Druid, Pinot or the DataSketches libraries
merge with ours.

:class:`WatermarkTracker` turns per-partition event times into one event-time watermark,
with bounded out-of-orderness and idle partitions; the window engine builds on it.

:class:`RollingAggregate` keeps count, sum, mean, variance, min and max over a sliding
time window, with exact integer sums and compensated float sums.
"""

from __future__ import annotations

from datanexus._native import HyperLogLog, RollingAggregate, WatermarkTracker

__all__ = ["HyperLogLog", "RollingAggregate", "WatermarkTracker"]
