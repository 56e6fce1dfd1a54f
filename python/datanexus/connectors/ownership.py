"""Partition ownership (STREAM-19): one owner per partition, handed over only after the
previous owner flushed and committed.

:func:`assign` is the assignment every member computes for itself: partitions and
consumers are sorted, so the map depends only on the two sets (never on join order) and
every member agrees without talking to the others. Each consumer owns a contiguous run
of the sorted partitions and the counts differ by at most one (7 over c1..c3 → 3, 2, 2).
No consumers → no owners; a consumer not in the group owns ``[]``.

:class:`Coordinator` applies it with an eager protocol. Members join and leave a
:class:`Membership` (in this process: :class:`MemoryMembership`; across processes:
:class:`~datanexus.connectors.ownership_redis.RedisMembership`), which numbers each
membership with a generation. When :meth:`Coordinator.sync` sees a new generation,
every partition is reassigned:

1. each local owner's ``on_revoke(consumer, partitions)`` runs; the caller flushes and
   commits there (the sink's progress rows), then the claims are released;
2. the new owners receive their partitions (``on_assign``) only once no partition is
   still claimed under an older generation, anywhere in the group: no new owner reads a
   partition before every old owner has revoked it. The check and the claim are one
   atomic step of the membership.

:attr:`Coordinator.is_rebalancing` is true from the moment a new generation is seen
until the assignment is applied, and false after.

A failing ``on_revoke`` does not lose partitions: the exception is logged and kept in
:attr:`Coordinator.last_error`, the consumer keeps owning them (claims held, so no other
member can receive data it has not committed), the coordinator stays rebalancing, and
the next :meth:`~Coordinator.sync` runs the revoke again. If the process dies instead,
its member entry and claims lapse after the membership's TTL and the new owners resume
from the last committed progress; nothing committed is lost, nothing is owned twice.

An exception from ``on_assign`` propagates out of :meth:`~Coordinator.sync` after the
assignment is recorded (the claims are held, so the next change revokes them as usual).
A process paused for longer than the TTL is a zombie until its next ``sync``: its
claims may have moved, and that ``sync`` rejoins and revokes (flushes) once more. The
store's sinks are idempotent and progress rows only move forward, so such a late flush
cannot undo the new owner's commits.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Protocol

from datanexus.errors import InvalidArgument, InvalidType

__all__ = [
    "Coordinator",
    "Membership",
    "MemoryMembership",
    "View",
    "assign",
    "owner_of",
]

log = logging.getLogger(__name__)

Callback = Callable[[str, list[str]], None]
"""``(consumer, partitions)``: called with the partitions revoked from or given to it."""


def _names(values: Iterable[str], what: str) -> list[str]:
    if isinstance(values, str | bytes):
        raise InvalidType(f"{what} must be a collection of str, got a single {type(values)}")
    out = list(values)
    for value in out:
        if not isinstance(value, str):
            raise InvalidType(f"{what} must be str, got {type(value).__name__} {value!r}")
        if not value:
            raise InvalidArgument(f"{what} must be non-empty strings, got ''")
    if len(set(out)) != len(out):
        dupes = sorted({v for v in out if out.count(v) > 1})
        raise InvalidArgument(f"{what} must be distinct, got duplicates {dupes}")
    return sorted(out)


def assign(partitions: Iterable[str], consumers: Iterable[str]) -> dict[str, list[str]]:
    """Consumer → its sorted partitions, for every consumer (possibly ``[]``).

    Deterministic and balanced: with ``n`` sorted partitions over ``k`` sorted consumers,
    the first ``n % k`` consumers take ``n // k + 1`` consecutive partitions and the rest
    ``n // k``. No consumers → ``{}``. Duplicate or empty names raise
    :class:`InvalidArgument`, non-strings :class:`InvalidType`.
    """
    parts = _names(partitions, "partitions")
    members = _names(consumers, "consumers")
    if not members:
        return {}
    base, extra = divmod(len(parts), len(members))
    out: dict[str, list[str]] = {}
    start = 0
    for i, member in enumerate(members):
        size = base + (1 if i < extra else 0)
        out[member] = parts[start : start + size]
        start += size
    return out


def owner_of(assignment: Mapping[str, Sequence[str]]) -> dict[str, str]:
    """Partition → owner of an :func:`assign` result."""
    return {p: consumer for consumer, parts in assignment.items() for p in parts}


@dataclass(frozen=True, slots=True)
class View:
    """The group as a member sees it: its generation and sorted members."""

    generation: int
    members: tuple[str, ...]


class Membership(Protocol):
    """Where the members of one group meet. Every method is atomic.

    ``claim`` is the handover barrier: it succeeds (and claims ``mine``, consumer →
    partitions, under ``generation``) only if ``generation`` is still current and no
    partition of ``partitions`` is claimed under another generation; otherwise it
    changes nothing and returns False.
    """

    def join(self, member: str) -> None: ...

    def leave(self, member: str) -> None: ...

    def heartbeat(self, member: str, owned: Sequence[str]) -> bool:
        """Keep ``member`` and its claims on ``owned`` alive; False if it had expired."""
        ...

    def view(self) -> View:
        """The current view, after dropping expired members (which bumps the generation)."""
        ...

    def claim(
        self, generation: int, mine: Mapping[str, Sequence[str]], partitions: Sequence[str]
    ) -> bool: ...

    def release(self, member: str, partitions: Sequence[str]) -> None:
        """Drop ``member``'s claims on ``partitions`` (others' claims are left alone)."""
        ...


@dataclass
class MemoryMembership:
    """A :class:`Membership` shared by coordinators of one process (tests, one-host
    deployments). ``ttl`` and ``clock`` model the heartbeat expiry of the Redis one."""

    ttl: timedelta = timedelta(seconds=10)
    clock: Callable[[], datetime] | None = None
    _members: dict[str, datetime] = field(default_factory=dict)
    _claims: dict[str, tuple[str, int, datetime]] = field(default_factory=dict)
    _generation: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def _now(self) -> datetime:
        return self.clock() if self.clock is not None else datetime.now(UTC)

    def join(self, member: str) -> None:
        with self._lock:
            if member not in self._members:
                self._generation += 1
            self._members[member] = self._now() + self.ttl

    def leave(self, member: str) -> None:
        with self._lock:
            if self._members.pop(member, None) is not None:
                self._generation += 1

    def heartbeat(self, member: str, owned: Sequence[str]) -> bool:
        with self._lock:
            now = self._now()
            self._expire(now)
            if member not in self._members:
                return False
            self._members[member] = now + self.ttl
            for p in owned:
                held = self._claims.get(p)
                if held is not None and held[0] == member:
                    self._claims[p] = (member, held[1], now + self.ttl)
            return True

    def _expire(self, now: datetime) -> None:
        dead = [m for m, until in self._members.items() if until <= now]
        for m in dead:
            del self._members[m]
        if dead:
            self._generation += 1
        for p in [p for p, (_, _, until) in self._claims.items() if until <= now]:
            del self._claims[p]

    def view(self) -> View:
        with self._lock:
            self._expire(self._now())
            return View(self._generation, tuple(sorted(self._members)))

    def claim(
        self, generation: int, mine: Mapping[str, Sequence[str]], partitions: Sequence[str]
    ) -> bool:
        with self._lock:
            now = self._now()
            self._expire(now)
            if generation != self._generation:
                return False
            if any(self._claims[p][1] != generation for p in partitions if p in self._claims):
                return False
            for member, parts in mine.items():
                for p in parts:
                    self._claims[p] = (member, generation, now + self.ttl)
            return True

    def release(self, member: str, partitions: Sequence[str]) -> None:
        with self._lock:
            for p in partitions:
                if p in self._claims and self._claims[p][0] == member:
                    del self._claims[p]

    def claims(self) -> dict[str, str]:
        """Partition → claiming member (for inspection)."""
        with self._lock:
            return {p: held[0] for p, held in self._claims.items()}


class Coordinator:
    """The local consumers of one process in a group sharing ``partitions``.

    Call :meth:`sync` periodically (well within the membership's TTL): it heartbeats
    the local consumers and applies membership changes as the module docstring says.
    ``on_revoke`` and ``on_assign`` run in the calling thread, revokes first.
    """

    def __init__(
        self,
        partitions: Collection[str],
        membership: Membership,
        *,
        on_assign: Callback,
        on_revoke: Callback,
    ) -> None:
        self._partitions = _names(partitions, "partitions")
        self._membership = membership
        self._on_assign = on_assign
        self._on_revoke = on_revoke
        self._local: list[str] = []
        self._owned: dict[str, list[str]] = {}
        self._generation: int | None = None
        self._rebalancing = False
        self.last_error: BaseException | None = None

    @property
    def is_rebalancing(self) -> bool:
        """True from seeing a new generation until its assignment is applied."""
        return self._rebalancing

    @property
    def generation(self) -> int | None:
        """The generation whose assignment the local consumers hold (None before any)."""
        return self._generation

    def partitions_of(self, consumer: str) -> list[str]:
        """What ``consumer`` owns now; ``[]`` for a consumer unknown here."""
        return list(self._owned.get(consumer, []))

    def owned(self) -> dict[str, list[str]]:
        """Local consumer → owned partitions."""
        return {c: list(parts) for c, parts in self._owned.items()}

    def join(self, consumer: str) -> bool:
        """Add a local consumer to the group, then :meth:`sync`."""
        (name,) = _names([consumer], "consumer")
        if name not in self._local:
            self._local.append(name)
            self._owned.setdefault(name, [])
        self._membership.join(name)
        return self.sync()

    def leave(self, consumer: str) -> bool:
        """Revoke ``consumer``'s partitions (its flush and commit), then take it out of
        the group and :meth:`sync`. If the revoke fails the consumer stays a member
        owning its partitions and the error is raised."""
        if consumer not in self._local:
            return self.sync()
        parts = self._owned.get(consumer, [])
        if parts:
            self._on_revoke(consumer, list(parts))
            self._membership.release(consumer, parts)
        self._local.remove(consumer)
        self._owned.pop(consumer, None)
        self._membership.leave(consumer)
        return self.sync()

    def close(self) -> None:
        """Leave with every local consumer (each revoke runs first)."""
        for consumer in list(self._local):
            self.leave(consumer)

    def sync(self) -> bool:
        """Heartbeat, and rebalance if the membership changed; True when stable."""
        for consumer in self._local:
            if not self._membership.heartbeat(consumer, self._owned.get(consumer, [])):
                # Expired (a long pause): rejoin; the new generation revokes what it owned.
                log.warning("consumer %s had expired from the group; rejoining", consumer)
                self._membership.join(consumer)
        view = self._membership.view()
        if view.generation == self._generation and not self._rebalancing:
            return True
        if not self._rebalancing:
            log.info("generation %s → %s: rebalancing", self._generation, view.generation)
        self._rebalancing = True
        if not self._revoke_all():
            return False
        target = assign(self._partitions, view.members)
        mine = {c: target[c] for c in self._local if c in target}
        if not self._membership.claim(view.generation, mine, self._partitions):
            return False  # an older owner has not revoked yet, or the group moved on
        self._generation = view.generation
        for consumer, parts in mine.items():
            self._owned[consumer] = list(parts)
        self._rebalancing = False
        for consumer, parts in mine.items():
            if parts:
                self._on_assign(consumer, list(parts))
        return True

    def _revoke_all(self) -> bool:
        ok = True
        for consumer in self._local:
            parts = self._owned.get(consumer, [])
            if not parts:
                continue
            try:
                self._on_revoke(consumer, list(parts))
            except Exception as error:
                # Keep the partitions (and their claims): nobody may read past what this
                # consumer has not committed. The next sync retries the revoke.
                log.exception("revoke of %s from %s failed; keeping them", parts, consumer)
                self.last_error = error
                ok = False
                continue
            self._membership.release(consumer, parts)
            self._owned[consumer] = []
        return ok
