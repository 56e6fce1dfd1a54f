"""Mergeable sketches backed by the native core.

:class:`HyperLogLog` estimates distinct counts; it hashes like Apache DataSketches and
reads and writes its images, so sketches from Druid, Pinot or the DataSketches libraries
merge with ours.

:class:`TDigest` estimates quantiles and ranks of weighted values: exact for up to 100
values, exact extremes, and small relative errors in the tails of heavy-tailed data, in a
few kilobytes. Percentiles over a long range are the merge of the digests of its parts,
never an average of their percentiles.

:class:`WatermarkTracker` turns per-partition event times into one event-time watermark,
with bounded out-of-orderness and idle partitions; the window engine builds on it.

:class:`RollingAggregate` keeps count, sum, mean, variance, min and max over a sliding
time window, with exact integer sums and compensated float sums.
"""

from __future__ import annotations

from datanexus._native import HyperLogLog, RollingAggregate, TDigest, WatermarkTracker

__all__ = ["HyperLogLog", "RollingAggregate", "TDigest", "WatermarkTracker"]
