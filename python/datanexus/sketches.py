"""Mergeable sketches backed by the native core.

:class:`HyperLogLog` estimates distinct counts; it hashes like Apache DataSketches and
reads and writes its images, so sketches from Druid, Pinot or the DataSketches libraries
merge with ours.
"""

from __future__ import annotations

from datanexus._native import HyperLogLog

__all__ = ["HyperLogLog"]
