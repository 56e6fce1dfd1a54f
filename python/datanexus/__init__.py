"""DataNexus: real-time pipelines and event-time analytics on Bytewax with a Rust core."""

from __future__ import annotations

from datanexus._native import WindowEngine, WindowResult, __version__
from datanexus.errors import (
    CircuitOpen,
    ConfigError,
    DataNexusError,
    IncompatibleSketches,
    InvalidArgument,
    InvalidType,
    MigrationError,
    NotFound,
    PathNotAllowed,
    QueryError,
    QueryTimeout,
    SchemaTooNew,
    SerializationError,
    ServiceUnavailable,
    StorageError,
    StreamNotFound,
)
from datanexus.sketches import HyperLogLog, RollingAggregate, TDigest, WatermarkTracker

__all__ = [
    "CircuitOpen",
    "ConfigError",
    "DataNexusError",
    "HyperLogLog",
    "IncompatibleSketches",
    "InvalidArgument",
    "InvalidType",
    "MigrationError",
    "NotFound",
    "PathNotAllowed",
    "QueryError",
    "QueryTimeout",
    "RollingAggregate",
    "SchemaTooNew",
    "SerializationError",
    "ServiceUnavailable",
    "StorageError",
    "StreamNotFound",
    "TDigest",
    "WatermarkTracker",
    "WindowEngine",
    "WindowResult",
    "__version__",
]
