"""The schema registry: versioned JSON Schemas per tenant and subject, in PostgreSQL
(PIPE-2..4; tables of migration ``0003_schema_registry.sql``).

A *subject* (one per stream) holds versions 1, 2, 3 ... (at most 100) of a schema and a
compatibility mode (default BACKWARD). :meth:`SchemaRegistry.register` stores a schema
as the next version after checking it against the subject's mode (:mod:`.compatibility`);
registering a schema whose canonical form (:mod:`.canonical`) is already a live version
returns that version and stores nothing. Registrations of one subject serialise on a row
lock of the subject (``SELECT ... FOR UPDATE``), so concurrent registrations from any
number of connections get distinct, consecutive versions; every change is one
transaction, so a refused schema (incompatible, too large, the 101st) leaves the
registry exactly as it was.

Deleting is two-step: a soft delete hides a version from "latest", listings and
compatibility checks but :meth:`~SchemaRegistry.get` by number still returns it (events
written with it still decode); a permanent delete removes it and is allowed only after
the soft one (:class:`SchemaStateError` otherwise). Version numbers are never reused.

Every statement filters on the registry's tenant, and each transaction also sets
``datanexus.tenant`` so the row-level security policy backs the filters up (STORE-15).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import psycopg
from psycopg import sql
from psycopg.types.json import Jsonb

from datanexus.errors import (
    InvalidArgument,
    InvalidType,
    SchemaLimitExceeded,
    SchemaNotFound,
    SchemaStateError,
    ServiceUnavailable,
)
from datanexus.store.migrations import check_schema_name

from .canonical import Schema, canonical_text, check_schema_document, fingerprint
from .compatibility import CompatibilityMode, Violation, check_compatibility, ensure_compatible
from .validator import SchemaValidator

__all__ = [
    "MAX_VERSIONS",
    "ConnectionSource",
    "RegisteredSchema",
    "SchemaRegistry",
    "SchemaVersion",
]

log = logging.getLogger(__name__)

MAX_VERSIONS = 100
MAX_SUBJECT_CHARS = 255
LATEST = -1

#: A connection, or a callable returning a context manager that yields one (a
#: ``psycopg_pool.ConnectionPool.connection``).
ConnectionSource = (
    psycopg.Connection[Any] | Callable[[], AbstractContextManager[psycopg.Connection[Any]]]
)


@dataclass(frozen=True)
class RegisteredSchema:
    """The answer to a registration: the stored row's ``id`` and its ``version``, and
    the compatibility warnings the schema passed with."""

    id: int
    version: int
    warnings: tuple[Violation, ...] = ()


@dataclass(frozen=True)
class SchemaVersion:
    """One stored version; ``deleted`` is True for a soft-deleted one."""

    subject: str
    version: int
    id: int
    schema: Schema
    fingerprint: str
    deleted: bool
    created_at: datetime


def _check_subject(subject: object) -> str:
    if not isinstance(subject, str):
        raise InvalidType(f"subject must be a str, got {type(subject).__name__}")
    if not subject or len(subject) > MAX_SUBJECT_CHARS or not subject.isprintable():
        raise InvalidArgument(
            f"subject must be 1..{MAX_SUBJECT_CHARS} printable characters, got {subject!r}"
        )
    return subject


def _check_version(version: object, *, latest: bool) -> int:
    if isinstance(version, bool) or not isinstance(version, int):
        raise InvalidType(f"version must be an int, got {type(version).__name__}")
    if (latest and version == LATEST) or 1 <= version <= MAX_VERSIONS:
        return version
    allowed = f"-1 (latest) or 1..{MAX_VERSIONS}" if latest else f"1..{MAX_VERSIONS}"
    raise InvalidArgument(f"version must be {allowed}, got {version}")


class SchemaRegistry:
    """The registry of one tenant in one database schema (``schema``, migrated with
    :func:`datanexus.store.migrations.migrate`).

    ``conn`` is a psycopg connection (used by one thread at a time: the registry holds a
    lock around it) or a callable giving a pooled connection per operation (concurrent
    callers then run in parallel). Errors: :class:`InvalidArgument`/:class:`InvalidType`
    for bad arguments, :class:`InvalidSchema`/:class:`SchemaLimitExceeded` for a bad or
    oversized schema, :class:`CompatibilityError` with every violation,
    :class:`SchemaNotFound`, :class:`SchemaStateError`, and :class:`ServiceUnavailable`
    when PostgreSQL cannot be reached.
    """

    def __init__(
        self,
        conn: ConnectionSource,
        *,
        schema: str = "datanexus",
        tenant: str,
    ) -> None:
        if not isinstance(tenant, str) or not tenant or "\x00" in tenant:
            raise InvalidArgument(f"tenant must be a non-empty string without NUL, got {tenant!r}")
        self._source = conn
        self._lock = threading.Lock()
        self.schema = check_schema_name(schema)
        self.tenant = tenant
        self._subjects = sql.Identifier(schema, "schema_subjects")
        self._versions = sql.Identifier(schema, "schema_versions")

    @contextmanager
    def _transaction(self) -> Iterator[psycopg.Connection[Any]]:
        """A transaction scoped to the tenant, on the given or a pooled connection."""
        try:
            if isinstance(self._source, psycopg.Connection):
                with self._lock, self._source.transaction():
                    self._scope(self._source)
                    yield self._source
            else:
                with self._source() as conn, conn.transaction():
                    self._scope(conn)
                    yield conn
        except (psycopg.OperationalError, psycopg.InterfaceError) as error:
            raise ServiceUnavailable(
                f"schema registry: PostgreSQL is not reachable: {error}"
            ) from error

    def _scope(self, conn: psycopg.Connection[Any]) -> None:
        conn.execute("SELECT set_config('datanexus.tenant', %s, true)", (self.tenant,))

    # -- registering ---------------------------------------------------------------

    def register(self, subject: str, schema: Schema) -> RegisteredSchema:
        """Store ``schema`` as the next version of ``subject`` (created on first use)
        and return its id and version, or the existing live version with the same
        canonical form. Raises :class:`CompatibilityError` (every violation) when it
        breaks the subject's mode, :class:`SchemaLimitExceeded` for a 101st version or a
        schema past the size/depth limits, :class:`InvalidSchema` for a schema the
        validator cannot compile (so nothing unusable is ever stored)."""
        _check_subject(subject)
        check_schema_document(schema)
        text = canonical_text(schema)
        digest = fingerprint(schema)
        SchemaValidator(schema)  # refuses what validation could not use
        with self._transaction() as conn:
            conn.execute(
                sql.SQL(
                    "INSERT INTO {} (tenant_id, subject) VALUES (%s, %s) ON CONFLICT DO NOTHING"
                ).format(self._subjects),
                (self.tenant, subject),
            )
            row = conn.execute(
                sql.SQL(
                    "SELECT compatibility, next_version FROM {} "
                    "WHERE tenant_id = %s AND subject = %s FOR UPDATE"
                ).format(self._subjects),
                (self.tenant, subject),
            ).fetchone()
            assert row is not None  # inserted above or already there, and locked
            mode = CompatibilityMode.parse(row[0])
            next_version = int(row[1])
            existing = conn.execute(
                sql.SQL(
                    "SELECT id, version, deleted FROM {} "
                    "WHERE tenant_id = %s AND subject = %s AND fingerprint = %s"
                ).format(self._versions),
                (self.tenant, subject, digest),
            ).fetchone()
            if existing is not None and not existing[2]:
                return RegisteredSchema(int(existing[0]), int(existing[1]))
            live = conn.execute(
                sql.SQL(
                    "SELECT version, schema FROM {} WHERE tenant_id = %s AND subject = %s "
                    "AND NOT deleted ORDER BY version"
                ).format(self._versions),
                (self.tenant, subject),
            ).fetchall()
            warnings = ensure_compatible(
                schema,
                [r[1] for r in live],
                mode,
                versions=[int(r[0]) for r in live],
                subject=subject,
            )
            if existing is not None:
                # the same schema as a soft-deleted version: bring that version back
                conn.execute(
                    sql.SQL("UPDATE {} SET deleted = false WHERE id = %s").format(self._versions),
                    (existing[0],),
                )
                result = RegisteredSchema(int(existing[0]), int(existing[1]), tuple(warnings))
            else:
                if next_version > MAX_VERSIONS:
                    raise SchemaLimitExceeded(
                        f"subject {subject!r} already used its {MAX_VERSIONS} versions; "
                        f"version {next_version} is refused (start a new subject)"
                    )
                inserted = conn.execute(
                    sql.SQL(
                        "INSERT INTO {} (tenant_id, subject, version, schema, canonical, "
                        "fingerprint) VALUES (%s, %s, %s, %s, %s, %s) RETURNING id"
                    ).format(self._versions),
                    (self.tenant, subject, next_version, Jsonb(schema), text, digest),
                ).fetchone()
                assert inserted is not None
                result = RegisteredSchema(int(inserted[0]), next_version, tuple(warnings))
            conn.execute(
                sql.SQL(
                    "UPDATE {} SET next_version = GREATEST(next_version, %s + 1), "
                    "deleted = false, updated_at = now() WHERE tenant_id = %s AND subject = %s"
                ).format(self._subjects),
                (result.version, self.tenant, subject),
            )
        log.info(
            "registered schema",
            extra={"tenant": self.tenant, "subject": subject, "version": result.version},
        )
        return result

    def check(self, subject: str, schema: Schema) -> list[Violation]:
        """The violations (errors and warnings) ``schema`` would meet if registered now;
        stores nothing. A new subject gives []."""
        _check_subject(subject)
        check_schema_document(schema)
        with self._transaction() as conn:
            mode = self._mode(conn, subject)
            live = conn.execute(
                sql.SQL(
                    "SELECT version, schema FROM {} WHERE tenant_id = %s AND subject = %s "
                    "AND NOT deleted ORDER BY version"
                ).format(self._versions),
                (self.tenant, subject),
            ).fetchall()
        return check_compatibility(
            schema, [r[1] for r in live], mode, versions=[int(r[0]) for r in live]
        )

    # -- reading -------------------------------------------------------------------

    def get(self, subject: str, version: int = LATEST) -> SchemaVersion | None:
        """Version ``version`` of ``subject`` (``-1``: the latest live one), soft-deleted
        or not; None when the subject or the version does not exist (an API's 404)."""
        _check_subject(subject)
        _check_version(version, latest=True)
        columns = "subject, version, id, schema, fingerprint, deleted, created_at"
        if version == LATEST:
            query = sql.SQL(
                "SELECT " + columns + " FROM {} WHERE tenant_id = %s AND subject = %s "
                "AND NOT deleted ORDER BY version DESC LIMIT 1"
            ).format(self._versions)
            params: tuple[Any, ...] = (self.tenant, subject)
        else:
            query = sql.SQL(
                "SELECT " + columns + " FROM {} WHERE tenant_id = %s AND subject = %s "
                "AND version = %s"
            ).format(self._versions)
            params = (self.tenant, subject, version)
        with self._transaction() as conn:
            row = conn.execute(query, params).fetchone()
        if row is None:
            return None
        return SchemaVersion(
            subject=str(row[0]),
            version=int(row[1]),
            id=int(row[2]),
            schema=row[3],
            fingerprint=str(row[4]),
            deleted=bool(row[5]),
            created_at=row[6],
        )

    def lookup(self, subject: str, schema: Schema) -> SchemaVersion | None:
        """The version of ``subject`` whose canonical form equals ``schema``'s, or None."""
        _check_subject(subject)
        digest = fingerprint(schema)
        with self._transaction() as conn:
            row = conn.execute(
                sql.SQL(
                    "SELECT version FROM {} WHERE tenant_id = %s AND subject = %s "
                    "AND fingerprint = %s"
                ).format(self._versions),
                (self.tenant, subject, digest),
            ).fetchone()
        return None if row is None else self.get(subject, int(row[0]))

    def validator(self, subject: str, version: int = LATEST) -> SchemaValidator | None:
        """A :class:`SchemaValidator` for a stored version, or None when it is unknown."""
        found = self.get(subject, version)
        return None if found is None else SchemaValidator(found.schema)

    def subjects(self, *, include_deleted: bool = False) -> list[str]:
        """The tenant's subjects, sorted; soft-deleted ones only when asked."""
        with self._transaction() as conn:
            rows = conn.execute(
                sql.SQL(
                    "SELECT s.subject FROM {} s WHERE s.tenant_id = %s AND (%s OR NOT s.deleted) "
                    "AND EXISTS (SELECT 1 FROM {} v WHERE v.tenant_id = %s "
                    "AND v.subject = s.subject AND (%s OR NOT v.deleted)) ORDER BY s.subject"
                ).format(self._subjects, self._versions),
                (self.tenant, include_deleted, self.tenant, include_deleted),
            ).fetchall()
        return [str(r[0]) for r in rows]

    def versions(self, subject: str, *, include_deleted: bool = False) -> list[int]:
        """The versions of ``subject`` in order ([] for an unknown subject); soft-deleted
        ones only when asked."""
        _check_subject(subject)
        with self._transaction() as conn:
            rows = conn.execute(
                sql.SQL(
                    "SELECT version FROM {} WHERE tenant_id = %s AND subject = %s "
                    "AND (%s OR NOT deleted) ORDER BY version"
                ).format(self._versions),
                (self.tenant, subject, include_deleted),
            ).fetchall()
        return [int(r[0]) for r in rows]

    # -- deleting ------------------------------------------------------------------

    def delete(self, subject: str, version: int, *, permanent: bool = False) -> None:
        """Soft-delete version ``version`` (``permanent=False``), or remove a
        soft-deleted one for good. :class:`SchemaNotFound` when it does not exist (or is
        already soft-deleted, for a soft delete), :class:`SchemaStateError` for a
        permanent delete of a live version."""
        _check_subject(subject)
        _check_version(version, latest=False)
        with self._transaction() as conn:
            row = conn.execute(
                sql.SQL(
                    "SELECT deleted FROM {} WHERE tenant_id = %s AND subject = %s "
                    "AND version = %s FOR UPDATE"
                ).format(self._versions),
                (self.tenant, subject, version),
            ).fetchone()
            if row is None:
                raise SchemaNotFound(f"subject {subject!r} has no version {version}")
            if not permanent:
                if row[0]:
                    raise SchemaNotFound(
                        f"version {version} of subject {subject!r} is already soft-deleted"
                    )
                conn.execute(
                    sql.SQL(
                        "UPDATE {} SET deleted = true WHERE tenant_id = %s AND subject = %s "
                        "AND version = %s"
                    ).format(self._versions),
                    (self.tenant, subject, version),
                )
                return
            if not row[0]:
                raise SchemaStateError(
                    f"version {version} of subject {subject!r} is live; soft-delete it "
                    "first (delete(..., permanent=False)), then delete it permanently"
                )
            conn.execute(
                sql.SQL(
                    "DELETE FROM {} WHERE tenant_id = %s AND subject = %s AND version = %s"
                ).format(self._versions),
                (self.tenant, subject, version),
            )

    def delete_subject(self, subject: str, *, permanent: bool = False) -> list[int]:
        """Soft-delete every live version of ``subject`` (returns them), or remove a
        soft-deleted subject with all its versions (returns those). Raises
        :class:`SchemaNotFound` for an unknown subject and :class:`SchemaStateError` for
        a permanent delete of a subject that still has live versions."""
        _check_subject(subject)
        with self._transaction() as conn:
            row = conn.execute(
                sql.SQL(
                    "SELECT deleted FROM {} WHERE tenant_id = %s AND subject = %s FOR UPDATE"
                ).format(self._subjects),
                (self.tenant, subject),
            ).fetchone()
            if row is None:
                raise SchemaNotFound(f"no subject {subject!r}")
            if not permanent:
                rows = conn.execute(
                    sql.SQL(
                        "UPDATE {} SET deleted = true WHERE tenant_id = %s AND subject = %s "
                        "AND NOT deleted RETURNING version"
                    ).format(self._versions),
                    (self.tenant, subject),
                ).fetchall()
                conn.execute(
                    sql.SQL(
                        "UPDATE {} SET deleted = true, updated_at = now() "
                        "WHERE tenant_id = %s AND subject = %s"
                    ).format(self._subjects),
                    (self.tenant, subject),
                )
                return sorted(int(r[0]) for r in rows)
            live = conn.execute(
                sql.SQL(
                    "SELECT count(*) FROM {} WHERE tenant_id = %s AND subject = %s AND NOT deleted"
                ).format(self._versions),
                (self.tenant, subject),
            ).fetchone()
            if not row[0] or (live is not None and live[0]):
                raise SchemaStateError(
                    f"subject {subject!r} has live versions; soft-delete it first"
                )
            rows = conn.execute(
                sql.SQL(
                    "DELETE FROM {} WHERE tenant_id = %s AND subject = %s RETURNING version"
                ).format(self._versions),
                (self.tenant, subject),
            ).fetchall()
            conn.execute(
                sql.SQL("DELETE FROM {} WHERE tenant_id = %s AND subject = %s").format(
                    self._subjects
                ),
                (self.tenant, subject),
            )
            return sorted(int(r[0]) for r in rows)

    # -- settings ------------------------------------------------------------------

    def _mode(self, conn: psycopg.Connection[Any], subject: str) -> CompatibilityMode:
        row = conn.execute(
            sql.SQL("SELECT compatibility FROM {} WHERE tenant_id = %s AND subject = %s").format(
                self._subjects
            ),
            (self.tenant, subject),
        ).fetchone()
        return CompatibilityMode.BACKWARD if row is None else CompatibilityMode.parse(row[0])

    def get_compatibility(self, subject: str) -> CompatibilityMode:
        """The subject's mode; BACKWARD for a subject never configured."""
        _check_subject(subject)
        with self._transaction() as conn:
            return self._mode(conn, subject)

    def set_compatibility(self, subject: str, mode: CompatibilityMode | str) -> None:
        """Set the subject's mode (creating the subject if needed); the next
        registration is checked with it. Existing versions are not re-checked."""
        _check_subject(subject)
        parsed = CompatibilityMode.parse(mode)
        with self._transaction() as conn:
            conn.execute(
                sql.SQL(
                    "INSERT INTO {} (tenant_id, subject, compatibility) VALUES (%s, %s, %s) "
                    "ON CONFLICT (tenant_id, subject) DO UPDATE SET "
                    "compatibility = EXCLUDED.compatibility, updated_at = now()"
                ).format(self._subjects),
                (self.tenant, subject, parsed.value),
            )
