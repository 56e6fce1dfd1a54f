"""Mergeable sketches backed by the native core.

:class:`HyperLogLog` estimates distinct counts; it hashes like Apache DataSketches and
reads and writes its images, so sketches from Druid, Pinot or the DataSketches libraries
merge with ours.

:class:`RollingAggregate` keeps count, sum, mean, variance, min and max over a sliding
time window, with exact integer sums and compensated float sums.
"""

from __future__ import annotations

from datanexus._native import HyperLogLog, RollingAggregate

__all__ = ["HyperLogLog", "RollingAggregate"]
