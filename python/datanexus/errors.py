"""The one error hierarchy of DataNexus.

Every error DataNexus raises on purpose is a :class:`DataNexusError`. A class that refines
a builtin also derives from it, so ``except ValueError`` keeps working: a bad argument is
both :class:`InvalidArgument` and :class:`ValueError`. The native extension raises these
same classes. Messages say what was wrong, where, and what is allowed.
"""

from __future__ import annotations

__all__ = [
    "ConfigError",
    "DataNexusError",
    "IncompatibleSketches",
    "InvalidArgument",
    "InvalidType",
    "SerializationError",
    "ServiceUnavailable",
]


class DataNexusError(Exception):
    """Root of every error DataNexus raises on purpose."""


class InvalidArgument(DataNexusError, ValueError):
    """An argument outside its documented domain (a precision of 30, a NaN value)."""


class InvalidType(DataNexusError, TypeError):
    """An argument of a type the operation does not take."""


class SerializationError(DataNexusError, ValueError):
    """Bytes that are not a valid image of the expected type: corrupt, truncated, of an
    unknown format version, or of another type altogether."""


class IncompatibleSketches(DataNexusError, ValueError):
    """Sketches that cannot be combined, such as HyperLogLogs of different precision."""


class ConfigError(DataNexusError, ValueError):
    """Invalid configuration; the message names the file or variable and the key."""


class ServiceUnavailable(DataNexusError, ConnectionError):
    """A server DataNexus needs (PostgreSQL, Redis, RabbitMQ) cannot be reached."""
