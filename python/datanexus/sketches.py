"""Mergeable sketches backed by the native core.

:class:`HyperLogLog` estimates distinct counts; it hashes like Apache DataSketches and
reads and writes its images, so sketches from Druid, Pinot or the DataSketches libraries
merge with ours.

:class:`TDigest` estimates quantiles and ranks of weighted values: exact for up to 100
values, exact extremes, and small relative errors in the tails of heavy-tailed data, in a
few kilobytes. Percentiles over a long range are the merge of the digests of its parts,
never an average of their percentiles.
"""

from __future__ import annotations

from datanexus._native import HyperLogLog, TDigest

__all__ = ["HyperLogLog", "TDigest"]
