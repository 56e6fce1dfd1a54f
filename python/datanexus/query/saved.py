"""Saved queries (QUERY-15): named query texts of a tenant that depend on one another.

Definitions live in the ``saved_queries`` table (migration 0005: tenant, name, text,
``depends_on``, version). :func:`save_query` stores one (its version rises by one per
save) after checking the text parses, every dependency exists, and no cycle forms.

:class:`SavedResults` keeps the latest result of each saved query for one tenant.
:meth:`~SavedResults.refresh` re-runs a query after first re-running its stale
dependencies, transitively, in dependency order; :meth:`~SavedResults.invalidate`
(new data under a base query) marks the query and every transitive dependant stale:
their data reads ``None`` until they are queried again.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import psycopg
from psycopg import sql

from datanexus.errors import InvalidArgument
from datanexus.query.check import parse_query
from datanexus.query.execute import run_query
from datanexus.query.result import QueryResult
from datanexus.store.tenancy import tenant_scope

__all__ = ["SavedQuery", "SavedResults", "load_saved_queries", "save_query"]

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$")


@dataclass(frozen=True)
class SavedQuery:
    name: str
    text: str
    depends_on: tuple[str, ...]
    version: int


def _check_name(name: object, what: str) -> str:
    if not isinstance(name, str) or not _NAME.match(name):
        raise InvalidArgument(
            f"{what} {name!r} is not a saved query name: 1-128 of letters, digits, '_', '.',"
            " '-', starting with a letter or digit"
        )
    return name


def load_saved_queries(
    conn: psycopg.Connection[Any], tenant: str, *, schema: str = "datanexus"
) -> dict[str, SavedQuery]:
    """Every saved query of ``tenant`` by name."""
    with tenant_scope(conn, tenant):
        rows = conn.execute(
            sql.SQL("SELECT name, text, depends_on, version FROM {} WHERE tenant_id = %s").format(
                sql.Identifier(schema, "saved_queries")
            ),
            (tenant,),
        ).fetchall()
    return {r[0]: SavedQuery(r[0], r[1], tuple(r[2]), r[3]) for r in rows}


def _reaches(graph: dict[str, tuple[str, ...]], start: Iterable[str], target: str) -> bool:
    seen: set[str] = set()
    todo = list(start)
    while todo:
        name = todo.pop()
        if name == target:
            return True
        if name not in seen:
            seen.add(name)
            todo.extend(graph.get(name, ()))
    return False


def save_query(
    conn: psycopg.Connection[Any],
    tenant: str,
    name: str,
    text: str,
    depends_on: Sequence[str] = (),
    *,
    schema: str = "datanexus",
) -> SavedQuery:
    """Create or replace saved query ``name`` of ``tenant``; returns it with its new
    version (1, then +1 per save). Raises :class:`~datanexus.errors.QueryError` for text
    that does not parse, :class:`InvalidArgument` for a bad name, an unknown dependency
    or one that would make a cycle (nothing is stored then)."""
    _check_name(name, "name")
    if isinstance(depends_on, str):
        raise InvalidArgument("depends_on must be a sequence of names, not one string")
    deps = tuple(dict.fromkeys(_check_name(d, "dependency") for d in depends_on))
    parse_query(text)
    table = sql.Identifier(schema, "saved_queries")
    with tenant_scope(conn, tenant):
        # Serialise the saves of one tenant, so two cannot close a cycle together.
        conn.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", (f"saved_queries:{tenant}",))
        graph = {
            q.name: q.depends_on for q in load_saved_queries(conn, tenant, schema=schema).values()
        }
        missing = [d for d in deps if d not in graph]
        if missing:
            raise InvalidArgument(f"saved query {name!r} depends on unknown {missing}")
        if name in deps or _reaches(graph, deps, name):
            raise InvalidArgument(f"saved query {name!r} would depend on itself through {deps}")
        row = conn.execute(
            sql.SQL(
                "INSERT INTO {t} (tenant_id, name, text, depends_on) VALUES (%s, %s, %s, %s)"
                " ON CONFLICT (tenant_id, name) DO UPDATE SET text = EXCLUDED.text,"
                " depends_on = EXCLUDED.depends_on, version = {t}.version + 1,"
                " updated_at = now() RETURNING version"
            ).format(t=table),
            (tenant, name, text, list(deps)),
        ).fetchone()
    assert row is not None
    return SavedQuery(name, text, deps, int(row[0]))


class SavedResults:
    """The latest results of ``tenant``'s saved queries, in this process. Not
    thread-safe. ``last_refreshed`` lists the names the last :meth:`refresh` ran, in
    order."""

    def __init__(
        self,
        conn: psycopg.Connection[Any],
        tenant: str,
        *,
        schema: str = "datanexus",
        now: datetime | None = None,
    ) -> None:
        self._conn = conn
        self._tenant = tenant
        self._schema = schema
        self._now = now
        self._data: dict[str, QueryResult | None] = {}
        self.last_refreshed: list[str] = []

    def get(self, name: str) -> QueryResult | None:
        """The latest result of ``name``; None when never run or stale."""
        return self._data.get(name)

    def refresh(self, name: str) -> QueryResult:
        """Run ``name`` again, first running each of its transitive dependencies that is
        stale or never ran (dependencies before their dependants). Raises
        :class:`InvalidArgument` for an unknown name, and what ``run_query`` raises."""
        saved = load_saved_queries(self._conn, self._tenant, schema=self._schema)
        if name not in saved:
            raise InvalidArgument(f"no saved query {name!r} for this tenant")
        order: list[str] = []
        visiting: set[str] = set()

        def visit(n: str) -> None:
            if n in order:
                return
            if n in visiting:
                raise InvalidArgument(f"saved queries form a cycle through {n!r}")
            visiting.add(n)
            for dep in saved[n].depends_on:
                if dep not in saved:
                    raise InvalidArgument(f"saved query {n!r} depends on unknown {dep!r}")
                visit(dep)
            order.append(n)

        visit(name)
        self.last_refreshed = []
        result: QueryResult | None = None
        for n in order:
            if n != name and self._data.get(n) is not None:
                continue
            result = run_query(
                self._conn, self._tenant, saved[n].text, schema=self._schema, now=self._now
            )
            self._data[n] = result
            self.last_refreshed.append(n)
        assert result is not None
        return result

    def invalidate(self, name: str) -> set[str]:
        """Mark ``name`` and every saved query depending on it, transitively, stale;
        returns those names."""
        saved = load_saved_queries(self._conn, self._tenant, schema=self._schema)
        dependants: dict[str, list[str]] = {}
        for q in saved.values():
            for dep in q.depends_on:
                dependants.setdefault(dep, []).append(q.name)
        stale: set[str] = set()
        todo = [name]
        while todo:
            n = todo.pop()
            if n not in stale:
                stale.add(n)
                todo.extend(dependants.get(n, ()))
        for n in stale:
            self._data[n] = None
        return stale
