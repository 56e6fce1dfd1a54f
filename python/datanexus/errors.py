"""The one error hierarchy of DataNexus.

Every error DataNexus raises on purpose is a :class:`DataNexusError`. A class that refines
a builtin also derives from it, so ``except ValueError`` keeps working: a bad argument is
both :class:`InvalidArgument` and :class:`ValueError`. The native extension raises these
same classes. Messages say what was wrong, where, and what is allowed.
"""

from __future__ import annotations

__all__ = [
    "CircuitOpen",
    "CompatibilityError",
    "ConfigError",
    "DataNexusError",
    "EventMigrationError",
    "IncompatibleSketches",
    "IngestionPaused",
    "InvalidArgument",
    "InvalidSchema",
    "InvalidType",
    "MigrationError",
    "MissingField",
    "NotAuthenticated",
    "NotFound",
    "PathNotAllowed",
    "PermissionDenied",
    "QueryError",
    "QueryTimeout",
    "RateLimited",
    "RecordRejected",
    "SchemaLimitExceeded",
    "SchemaNotFound",
    "SchemaStateError",
    "SchemaTooNew",
    "SerializationError",
    "ServiceUnavailable",
    "StorageError",
    "StreamNotFound",
    "TaskStateError",
    "TenantSuspended",
    "TransformError",
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


class CircuitOpen(ServiceUnavailable):
    """A circuit breaker refused a call without trying it: the server failed too often
    recently. The message repeats the failure that opened the circuit."""


class PathNotAllowed(InvalidArgument):
    """A file name that would leave the connector's base directory (``..``, an absolute
    path, NUL, a backslash, percent-encoded traversal, a symlink pointing outside)."""


class MigrationError(DataNexusError, RuntimeError):
    """The database schema cannot be brought to the version this code needs: a migration
    failed, or an applied migration differs from the one shipped."""


class SchemaTooNew(MigrationError):
    """The database was migrated by a newer DataNexus than this one; refusing to start."""


class TransformError(DataNexusError, ValueError):
    """A pipeline step could not transform one event (a value that does not cast, a
    missing field, a failing expression). The event goes to the dead-letter output with
    ``step`` and ``reason``; the flow carries on. ``step`` is empty when the error is
    raised below the step and filled in by the pipeline."""

    def __init__(self, reason: str, *, step: str = "") -> None:
        super().__init__(f"{step}: {reason}" if step else reason)
        self.reason = reason
        self.step = step


class RecordRejected(DataNexusError, ValueError):
    """A bad record under error tolerance ``none`` (CONN-7): the flow stops instead of
    dead-lettering it. Names the ``connector`` (e.g. ``rabbitmq-stream``), its
    ``partition`` and ``offset`` (None when the source has no positions), the ``stage``
    that refused it (``decode``, ``schema``, a step name) and the ``reason``."""

    def __init__(
        self, *, connector: str, partition: str, offset: str | None, stage: str, reason: str
    ) -> None:
        where = f"{connector} partition {partition!r}"
        where += f" offset {offset}" if offset is not None else " (no offset)"
        super().__init__(
            f"{where}: stage {stage!r} rejected a record: {reason} (source.errors = 'none'"
            " stops the flow on the first bad record; 'all' dead-letters it and continues)"
        )
        self.connector = connector
        self.partition = partition
        self.offset = offset
        self.stage = stage
        self.reason = reason


class MissingField(TransformError):
    """A field path names a key or index the event does not have (DEC-1: a null on the
    path yields None, a missing key raises unless the step sets ``on_error = "skip"``)."""


class NotAuthenticated(DataNexusError, PermissionError):
    """No credential, or one that is unknown, malformed, revoked or expired (HTTP 401)."""


class PermissionDenied(DataNexusError, PermissionError):
    """A valid credential without the scope an action on a resource of its own tenant
    needs (HTTP 403); the message names the scope."""


class TenantSuspended(PermissionDenied):
    """A write by a tenant that is suspended (read-only) or being deleted (HTTP 403)."""


class RateLimited(DataNexusError):
    """A quota is exhausted; ``retry_after`` is the whole number of seconds until it
    admits the request again (HTTP 429)."""

    def __init__(self, message: str, retry_after: int) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class IngestionPaused(ServiceUnavailable):
    """Ingestion refuses new events while its buffer or stream is over its threshold;
    ``retry_after`` in whole seconds (HTTP 503)."""

    def __init__(self, message: str, retry_after: int) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class NotFound(DataNexusError, LookupError):
    """A named thing the caller may not see: missing, or another tenant's (the two are
    deliberately indistinguishable). HTTP 404."""

    code = "NOT_FOUND"
    http_status = 404


class QueryError(InvalidArgument):
    """Query text the engine refuses: a syntax error, a node, function, stream or field
    outside the allow-list. HTTP 400 ``QUERY_INVALID``. ``position`` is the 0-based
    character offset in the query text (None when the error concerns the whole query);
    ``line`` and ``col`` are 1-based."""

    code = "QUERY_INVALID"
    http_status = 400

    def __init__(
        self, message: str, *, position: int | None = None, text: str | None = None
    ) -> None:
        self.position = position
        self.line: int | None = None
        self.col: int | None = None
        if position is not None and text is not None:
            before = text[:position]
            self.line = before.count("\n") + 1
            self.col = position - (before.rfind("\n") + 1) + 1
            message = f"{message} (line {self.line}, column {self.col})"
        super().__init__(message)


class StreamNotFound(NotFound, QueryError):
    """FROM names no pipeline of the tenant: unknown or another tenant's, the same error.
    Both a :class:`QueryError` (the query is wrong) and a :class:`NotFound` (HTTP 404)."""

    code = "NOT_FOUND"
    http_status = 404


class QueryTimeout(DataNexusError, TimeoutError):
    """The query ran past its statement timeout; PostgreSQL cancelled it. HTTP 504."""

    code = "QUERY_TIMEOUT"
    http_status = 504


class StorageError(ServiceUnavailable):
    """The store failed while answering a query (connection lost, server error). HTTP
    503; the caller may retry."""

    code = "STORAGE_ERROR"
    http_status = 503


class InvalidSchema(InvalidArgument):
    """A JSON Schema that cannot be used: not valid under draft 2020-12, a ``$ref`` that
    is not local (remote, ``file:``), a ``pattern`` the linear-time regex engine refuses."""


class SchemaLimitExceeded(InvalidArgument):
    """A schema or subject past a registry limit: schema size or nesting depth, or a
    subject's 101st version."""


class SchemaNotFound(NotFound):
    """A subject or version of the schema registry that does not exist (or no longer)."""


class SchemaStateError(DataNexusError, ValueError):
    """A registry operation the subject's state does not allow, such as a permanent
    delete of a version that was not soft-deleted first."""


class CompatibilityError(DataNexusError, ValueError):
    """A schema that breaks its subject's compatibility mode. ``violations`` lists every
    violation found (kind, dotted path, level), not only the first; nothing was stored."""

    def __init__(self, message: str, violations: tuple[object, ...] = ()) -> None:
        super().__init__(message)
        self.violations = violations


class EventMigrationError(InvalidArgument):
    """An event that a schema migration cannot carry to the requested version: a path the
    operation needs is missing, a cast fails, no chain of migrations leads there, or a
    step back is not reversible."""


class TaskStateError(InvalidArgument):
    """A connector task operation its state does not allow: an illegal transition
    (naming from, to and the allowed targets), or an offset change of a task that is
    not STOPPED (CONN-8)."""
