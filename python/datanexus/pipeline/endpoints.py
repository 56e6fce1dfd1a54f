"""Choosing one endpoint of a multi-endpoint sink (PIPE-21).

:class:`EndpointSelector` holds the configured endpoints — never reordered — and picks
one per call of :meth:`~EndpointSelector.pick` by strategy:

* ``round_robin``: the healthy endpoints in configured order, cycling; an unhealthy one
  is passed over and the cycle continues after the endpoint picked.
* ``least_connections``: the healthy endpoint with fewest open connections (a:7, b:2,
  c:9 → b); ties go to the first configured.
* ``weighted``: smooth weighted round-robin (nginx's algorithm): over any run of
  ``sum(weights)`` picks each healthy endpoint is chosen exactly ``weight`` times, spread
  out rather than in bursts, and deterministically — no randomness to test around.

Unhealthy endpoints are skipped; with none healthy :meth:`pick` returns ``None`` and the
sink raises its typed error (:class:`~datanexus.ServiceUnavailable`). Connection counts
are the caller's: :meth:`acquire` / :meth:`release` keep them.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from datanexus.errors import InvalidArgument

__all__ = ["STRATEGIES", "EndpointSelector"]

STRATEGIES = ("round_robin", "least_connections", "weighted")


class EndpointSelector:
    """See the module docstring. ``weights`` (for ``weighted``) maps endpoint → positive
    int, default 1 each."""

    def __init__(
        self,
        endpoints: Sequence[str],
        strategy: str = "round_robin",
        *,
        weights: Mapping[str, int] | None = None,
    ) -> None:
        if strategy not in STRATEGIES:
            raise InvalidArgument(
                f"unknown strategy {strategy!r}; allowed: {', '.join(STRATEGIES)}"
            )
        if not endpoints:
            raise InvalidArgument("a multi-endpoint sink needs at least one endpoint")
        if len(set(endpoints)) != len(endpoints):
            raise InvalidArgument(f"duplicate endpoints in {list(endpoints)}")
        weights = dict(weights or {})
        unknown = set(weights) - set(endpoints)
        if unknown:
            raise InvalidArgument(f"weights name unknown endpoints: {sorted(unknown)}")
        for name, w in weights.items():
            if isinstance(w, bool) or not isinstance(w, int) or w <= 0:
                raise InvalidArgument(f"weight of {name!r} must be a positive integer, got {w!r}")
        self.endpoints: tuple[str, ...] = tuple(endpoints)
        self.strategy = strategy
        self.weights = {e: weights.get(e, 1) for e in self.endpoints}
        self.connections = dict.fromkeys(self.endpoints, 0)
        self._healthy = dict.fromkeys(self.endpoints, True)
        self._next = 0
        self._current = dict.fromkeys(self.endpoints, 0)

    def set_healthy(self, endpoint: str, healthy: bool) -> None:
        self._check(endpoint)
        self._healthy[endpoint] = healthy

    def healthy(self) -> tuple[str, ...]:
        return tuple(e for e in self.endpoints if self._healthy[e])

    def acquire(self, endpoint: str) -> None:
        self._check(endpoint)
        self.connections[endpoint] += 1

    def release(self, endpoint: str) -> None:
        self._check(endpoint)
        if self.connections[endpoint] == 0:
            raise InvalidArgument(f"{endpoint!r} has no open connection to release")
        self.connections[endpoint] -= 1

    def pick(self) -> str | None:
        if self.strategy == "round_robin":
            n = len(self.endpoints)
            for offset in range(n):
                i = (self._next + offset) % n
                if self._healthy[self.endpoints[i]]:
                    self._next = (i + 1) % n
                    return self.endpoints[i]
            return None
        live = self.healthy()
        if not live:
            return None
        if self.strategy == "least_connections":
            return min(live, key=lambda e: self.connections[e])
        total = 0
        best: str | None = None
        for e in live:
            self._current[e] += self.weights[e]
            total += self.weights[e]
            if best is None or self._current[e] > self._current[best]:
                best = e
        assert best is not None
        self._current[best] -= total
        return best

    def _check(self, endpoint: str) -> None:
        if endpoint not in self._healthy:
            raise InvalidArgument(
                f"unknown endpoint {endpoint!r}; configured: {list(self.endpoints)}"
            )
