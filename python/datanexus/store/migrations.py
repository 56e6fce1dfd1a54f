"""Forward-only, versioned schema migrations, applied at start under an advisory lock.

A migration is a file ``sql/NNNN_name.sql`` in this package: version ``NNNN``, applied
once, in version order, each in the one transaction that also records it in
``schema_migrations`` (version, name, SHA-256 of the text). Adding a feature = adding the
next file; released files are never edited (:func:`migrate` refuses a database whose
recorded checksum differs) and never undone (no down migrations: a fix is a new file).

Concurrency and crashes: every run takes ``pg_advisory_xact_lock`` on a key derived from
the schema name, so concurrent starters serialise and the later ones find nothing to do.
All pending migrations and their records commit together: a crash (or a failing
migration) leaves the schema exactly as before the run, and the next run starts over.
A database migrated by a newer DataNexus (a version this code does not ship) refuses to
start with :class:`SchemaTooNew` (STORE-14).
"""

from __future__ import annotations

import hashlib
import logging
import re
from dataclasses import dataclass
from importlib import resources
from typing import Any

import psycopg
from psycopg import sql

from datanexus.errors import InvalidArgument, MigrationError, SchemaTooNew

__all__ = ["Migration", "applied_versions", "check_schema_name", "migrate", "shipped"]

log = logging.getLogger(__name__)

_FILE = re.compile(r"^(\d{4})_([a-z0-9_]+)\.sql$")
_SCHEMA = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")
_LEDGER = "schema_migrations"


@dataclass(frozen=True)
class Migration:
    version: int
    name: str
    text: str

    @property
    def checksum(self) -> str:
        return hashlib.sha256(self.text.encode()).hexdigest()


def check_schema_name(schema: str) -> str:
    """``schema`` if it is a plain lower-case SQL identifier, else :class:`InvalidArgument`
    (names are quoted anyway; this keeps them portable and readable in logs)."""
    if not isinstance(schema, str) or not _SCHEMA.match(schema):
        raise InvalidArgument(
            f"schema must match {_SCHEMA.pattern} (lower-case letters, digits, _), got {schema!r}"
        )
    return schema


def shipped() -> list[Migration]:
    """The migrations in this package, in version order; a misnamed file or two files of
    one version raise :class:`MigrationError` (a packaging bug, caught by the tests)."""
    found: dict[int, Migration] = {}
    for entry in resources.files("datanexus.store").joinpath("sql").iterdir():
        if not entry.name.endswith(".sql"):
            continue
        match = _FILE.match(entry.name)
        if match is None:
            raise MigrationError(f"migration file {entry.name!r} is not named NNNN_name.sql")
        version = int(match[1])
        if version in found:
            raise MigrationError(f"two migration files have version {version}")
        found[version] = Migration(version, match[2], entry.read_text(encoding="utf-8"))
    return [found[v] for v in sorted(found)]


def _lock_key(schema: str) -> int:
    """A stable signed 64-bit advisory lock key for ``schema``."""
    digest = hashlib.sha256(f"datanexus.migrations:{schema}".encode()).digest()
    return int.from_bytes(digest[:8], "big", signed=True)


def applied_versions(conn: psycopg.Connection[Any], schema: str = "public") -> list[int]:
    """Versions recorded in ``schema``; [] when it was never migrated."""
    check_schema_name(schema)
    ledger = conn.execute(
        "SELECT to_regclass(%s) IS NOT NULL", (f'"{schema}".{_LEDGER}',)
    ).fetchone()
    if not ledger or not ledger[0]:
        return []
    query = sql.SQL("SELECT version FROM {} ORDER BY version").format(
        sql.Identifier(schema, _LEDGER)
    )
    return [int(row[0]) for row in conn.execute(query)]


def migrate(
    conn: psycopg.Connection[Any],
    schema: str = "public",
    migrations: list[Migration] | None = None,
) -> list[int]:
    """Bring ``schema`` (created if missing) up to the newest migration; returns the
    versions applied by this call ([] when already current: a rerun is a no-op).

    ``migrations`` defaults to :func:`shipped` (tests pass their own). Raises
    :class:`SchemaTooNew` when the database has a version not in ``migrations``,
    :class:`MigrationError` when a recorded checksum differs or a migration fails (its
    SQL error chained); in every failure nothing of this run remains.
    """
    check_schema_name(schema)
    if migrations is None:
        migrations = shipped()
    known = {m.version: m for m in migrations}
    ledger = sql.Identifier(schema, _LEDGER)
    applied: list[int] = []
    with conn.transaction():
        conn.execute("SELECT pg_advisory_xact_lock(%s)", (_lock_key(schema),))
        conn.execute(sql.SQL("CREATE SCHEMA IF NOT EXISTS {}").format(sql.Identifier(schema)))
        conn.execute(
            sql.SQL(
                "CREATE TABLE IF NOT EXISTS {} (version integer PRIMARY KEY,"
                " name text NOT NULL, checksum text NOT NULL,"
                " applied_at timestamptz NOT NULL DEFAULT now())"
            ).format(ledger)
        )
        done = {
            int(v): (str(name), str(checksum))
            for v, name, checksum in conn.execute(
                sql.SQL("SELECT version, name, checksum FROM {}").format(ledger)
            )
        }
        unknown = sorted(set(done) - set(known))
        if unknown:
            raise SchemaTooNew(
                f"schema {schema!r} has migration {unknown[-1]} ({done[unknown[-1]][0]}), "
                f"newer than this DataNexus knows (up to "
                f"{max(known, default=0)}); upgrade DataNexus"
            )
        for version, (name, checksum) in sorted(done.items()):
            if checksum != known[version].checksum:
                raise MigrationError(
                    f"migration {version:04d}_{name} in schema {schema!r} differs from the "
                    f"shipped file; released migrations must never be edited"
                )
        # search_path only for this transaction: the files use unqualified names.
        conn.execute(
            sql.SQL("SELECT set_config('search_path', {}, true)").format(sql.Literal(schema))
        )
        for migration in migrations:
            if migration.version in done:
                continue
            try:
                with conn.cursor() as cur:
                    cur.execute(migration.text.encode())
            except psycopg.Error as error:
                raise MigrationError(
                    f"migration {migration.version:04d}_{migration.name} failed in schema "
                    f"{schema!r}: {error}"
                ) from error
            conn.execute(
                sql.SQL("INSERT INTO {} (version, name, checksum) VALUES (%s, %s, %s)").format(
                    ledger
                ),
                (migration.version, migration.name, migration.checksum),
            )
            applied.append(migration.version)
            log.info(
                "applied migration %04d_%s",
                migration.version,
                migration.name,
                extra={"schema": schema},
            )
    return applied
