"""The :class:`~datanexus.connectors.ownership.Membership` of a group spread over
processes and hosts, kept in Redis (STREAM-19).

Keys under ``prefix`` (one group per prefix):

- ``<prefix>:member:<id>``: one per live member, with a TTL that each heartbeat renews;
  a member whose process stops renewing it drops out of the group when the key expires;
- ``<prefix>:members``: the set of members that joined, pruned of expired ones by
  :meth:`RedisMembership.view`;
- ``<prefix>:gen``: the generation, incremented by every change of the member set
  (join, leave, expiry);
- ``<prefix>:claim:<partition>``: ``"<generation> <member>"`` while a member owns the
  partition, with the same TTL, renewed by its heartbeats.

Every operation is one Lua script, so it is atomic: in particular :meth:`claim` checks
the generation and the other claims and writes its own in one step (the handover
barrier). Expiry uses the Redis server's clock, so members on hosts with skewed clocks
still agree. The scripts build key names from the prefix, so they need one Redis, not a
cluster.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import timedelta
from typing import Any

import redis

from datanexus.connectors.ownership import View
from datanexus.errors import InvalidArgument, ServiceUnavailable

__all__ = ["RedisMembership"]

_JOIN = """
redis.call('SET', KEYS[3], '1', 'PX', ARGV[2])
if redis.call('SADD', KEYS[2], ARGV[1]) == 1 then redis.call('INCR', KEYS[1]) end
return 1
"""

_LEAVE = """
redis.call('DEL', KEYS[3])
if redis.call('SREM', KEYS[2], ARGV[1]) == 1 then redis.call('INCR', KEYS[1]) end
return 1
"""

_OWNER = """
local function owner(v)
  local sp = string.find(v, ' ', 1, true)
  return string.sub(v, 1, sp - 1), string.sub(v, sp + 1)
end
"""

_HEARTBEAT = (
    _OWNER
    + """
if redis.call('PEXPIRE', KEYS[1], ARGV[1]) == 0 then return 0 end
for i = 2, #KEYS do
  local v = redis.call('GET', KEYS[i])
  if v then
    local _, m = owner(v)
    if m == ARGV[2] then redis.call('PEXPIRE', KEYS[i], ARGV[1]) end
  end
end
return 1
"""
)

_VIEW = """
local alive = {}
local dropped = false
for _, m in ipairs(redis.call('SMEMBERS', KEYS[2])) do
  if redis.call('EXISTS', ARGV[1] .. m) == 1 then
    table.insert(alive, m)
  else
    redis.call('SREM', KEYS[2], m)
    dropped = true
  end
end
if dropped then redis.call('INCR', KEYS[1]) end
return {tonumber(redis.call('GET', KEYS[1]) or '0'), alive}
"""

_CLAIM = (
    _OWNER
    + """
if tonumber(redis.call('GET', KEYS[1]) or '0') ~= tonumber(ARGV[1]) then return 0 end
for i = 2, #KEYS do
  local v = redis.call('GET', KEYS[i])
  if v then
    local g, _ = owner(v)
    if g ~= ARGV[1] then return 0 end
  end
end
for i = 2, #KEYS do
  local m = ARGV[i + 1]
  if m ~= '' then redis.call('SET', KEYS[i], ARGV[1] .. ' ' .. m, 'PX', ARGV[2]) end
end
return 1
"""
)

_RELEASE = (
    _OWNER
    + """
for i = 1, #KEYS do
  local v = redis.call('GET', KEYS[i])
  if v then
    local _, m = owner(v)
    if m == ARGV[1] then redis.call('DEL', KEYS[i]) end
  end
end
return 1
"""
)


class RedisMembership:
    """Group membership and partition claims in Redis under ``prefix``.

    ``ttl``: how long a member (and its claims) outlives its last heartbeat; call
    :meth:`~datanexus.connectors.ownership.Coordinator.sync` several times per TTL.
    Redis errors raise :class:`ServiceUnavailable`.
    """

    def __init__(
        self, client: redis.Redis, prefix: str, *, ttl: timedelta = timedelta(seconds=10)
    ) -> None:
        if not prefix or " " in prefix:
            raise InvalidArgument(f"prefix must be non-empty without spaces, got {prefix!r}")
        ttl_ms = int(ttl.total_seconds() * 1000)
        if ttl_ms < 1:
            raise InvalidArgument(f"ttl must be at least 1 ms, got {ttl}")
        self._client = client
        self.prefix = prefix
        self._ttl_ms = ttl_ms
        self._gen = f"{prefix}:gen"
        self._members = f"{prefix}:members"
        self._join = client.register_script(_JOIN)
        self._leave = client.register_script(_LEAVE)
        self._heartbeat = client.register_script(_HEARTBEAT)
        self._view = client.register_script(_VIEW)
        self._claim = client.register_script(_CLAIM)
        self._release = client.register_script(_RELEASE)

    def _member_key(self, member: str) -> str:
        return f"{self.prefix}:member:{member}"

    def _claim_key(self, partition: str) -> str:
        return f"{self.prefix}:claim:{partition}"

    def _run(self, script: Any, keys: list[str], args: list[Any]) -> Any:
        try:
            return script(keys=keys, args=args)
        except (redis.ConnectionError, redis.TimeoutError) as error:
            raise ServiceUnavailable(
                f"group {self.prefix!r}: Redis unreachable: {error}"
            ) from error

    def _check(self, member: str) -> str:
        if not member or " " in member:
            raise InvalidArgument(f"member must be non-empty without spaces, got {member!r}")
        return member

    def join(self, member: str) -> None:
        self._check(member)
        keys = [self._gen, self._members, self._member_key(member)]
        self._run(self._join, keys, [member, self._ttl_ms])

    def leave(self, member: str) -> None:
        keys = [self._gen, self._members, self._member_key(member)]
        self._run(self._leave, keys, [member])

    def heartbeat(self, member: str, owned: Sequence[str]) -> bool:
        keys = [self._member_key(member), *(self._claim_key(p) for p in owned)]
        return bool(self._run(self._heartbeat, keys, [self._ttl_ms, member]))

    def view(self) -> View:
        generation, alive = self._run(
            self._view, [self._gen, self._members], [f"{self.prefix}:member:"]
        )
        names = sorted(m.decode() if isinstance(m, bytes) else str(m) for m in alive)
        return View(int(generation), tuple(names))

    def claim(
        self, generation: int, mine: Mapping[str, Sequence[str]], partitions: Sequence[str]
    ) -> bool:
        owner = {p: member for member, parts in mine.items() for p in parts}
        keys = [self._gen, *(self._claim_key(p) for p in partitions)]
        args: list[Any] = [generation, self._ttl_ms, *(owner.get(p, "") for p in partitions)]
        return bool(self._run(self._claim, keys, args))

    def release(self, member: str, partitions: Sequence[str]) -> None:
        if partitions:
            self._run(self._release, [self._claim_key(p) for p in partitions], [member])

    def claims(self, partitions: Sequence[str]) -> dict[str, str]:
        """Partition → claiming member, for the claimed ones of ``partitions``."""
        values = self._client.mget([self._claim_key(p) for p in partitions])
        out: dict[str, str] = {}
        for p, value in zip(partitions, values, strict=True):
            if value is not None:
                text = value.decode() if isinstance(value, bytes) else str(value)
                out[p] = text.split(" ", 1)[1]
        return out

    def delete(self) -> int:
        """Remove every key of the group (tests, decommissioning); returns how many."""
        keys = list(self._client.scan_iter(match=f"{self.prefix}:*", count=500))
        return int(self._client.delete(*keys)) if keys else 0
