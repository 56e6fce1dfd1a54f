"""Bytewax operators and stream logic built on the native core.

Modules here may import Bytewax; platform modules must not import this package.
"""

from __future__ import annotations

from datanexus._native import ShardBatch, WindowEngine, WindowResult, WindowRouter

__all__ = ["ShardBatch", "WindowEngine", "WindowResult", "WindowRouter"]
