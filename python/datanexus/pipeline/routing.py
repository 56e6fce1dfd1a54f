"""Routing of events to destinations (PIPE-19, PIPE-20).

* :class:`ContentRouter` — rules with a condition and a priority: the matching rule of
  highest priority wins, ties go to the rule declared first; the result names the
  destination, the payload and the rule. An event no rule matches goes to
  :data:`DEAD_LETTER` and the ``on_unmatched`` handler is called once for it.
* :func:`topic_matches` / :class:`TopicExchange` — AMQP topic semantics over dot-separated
  routing keys: ``*`` is exactly one word, ``#`` zero or more. ``eu.orders.created``
  matches ``eu.*.created`` and ``#.created`` but not ``*.created``. An exchange delivers
  to every bound destination whose pattern matches (each once); a key nothing matches
  goes to the alternate destination and is counted (``unroutable``).
* Fan-out groups: a destination that names a group stands for all of its members, each
  of which gets the event (:func:`expand`).

Nothing here copies events: the same payload object is handed to every destination, so a
consumer that mutates it must copy first.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from datanexus.errors import ConfigError

__all__ = [
    "DEAD_LETTER",
    "ContentRouter",
    "RouteResult",
    "RouteRule",
    "TopicExchange",
    "check_topic_pattern",
    "expand",
    "topic_matches",
]

DEAD_LETTER = "dead-letter"
_WORD = re.compile(r"[A-Za-z0-9_-]+")


@dataclass(frozen=True, slots=True)
class RouteRule:
    """A content rule: ``name``, ``test(event) -> bool``, ``priority`` (higher first) and
    ``destination``."""

    name: str
    test: Callable[[dict[str, Any]], bool]
    destination: str
    priority: int = 0


@dataclass(frozen=True, slots=True)
class RouteResult:
    """Where an event goes: ``destination``, the ``payload`` and the ``rule`` that chose it
    (``None`` when no rule matched and the destination is :data:`DEAD_LETTER`)."""

    destination: str
    payload: dict[str, Any]
    rule: str | None


class ContentRouter:
    """Content-based routing; see the module docstring. The rules are evaluated in order
    of descending priority, then declaration, and evaluation stops at the first match.
    An exception raised by a rule's test propagates (the pipeline dead-letters the event)."""

    def __init__(
        self,
        rules: Sequence[RouteRule],
        on_unmatched: Callable[[dict[str, Any]], None] | None = None,
    ) -> None:
        order = sorted(range(len(rules)), key=lambda i: (-rules[i].priority, i))
        self.rules = tuple(rules)
        self._ordered = tuple(rules[i] for i in order)
        self._on_unmatched = on_unmatched
        self.unmatched = 0

    def route(self, event: dict[str, Any]) -> RouteResult:
        for rule in self._ordered:
            if rule.test(event):
                return RouteResult(rule.destination, event, rule.name)
        self.unmatched += 1
        if self._on_unmatched is not None:
            self._on_unmatched(event)
        return RouteResult(DEAD_LETTER, event, None)


def check_topic_pattern(pattern: object, *, where: str) -> str:
    """A binding pattern of dot-separated words, ``*`` or ``#``;
    :class:`~datanexus.ConfigError` naming ``where`` otherwise."""
    if not isinstance(pattern, str) or not pattern:
        raise ConfigError(f"{where}: expected a topic pattern like 'eu.*.created', got {pattern!r}")
    for word in pattern.split("."):
        if word not in ("*", "#") and not _WORD.fullmatch(word):
            raise ConfigError(
                f"{where}: topic pattern {pattern!r}: bad word {word!r}; words are letters, "
                "digits, '_' or '-', or '*' (one word) or '#' (zero or more words)"
            )
    return pattern


def topic_matches(pattern: str, key: str) -> bool:
    """Whether routing ``key`` matches binding ``pattern`` (AMQP topic rules).

    Iterative, with memoisation over (pattern word, key word) positions, so patterns with
    many ``#`` stay O(len(pattern) · len(key)).
    """
    pw = pattern.split(".")
    kw = key.split(".") if key else []
    # reach[j]: the first i pattern words can match the first j key words.
    reach = [False] * (len(kw) + 1)
    reach[0] = True
    for word in pw:
        nxt = [False] * (len(kw) + 1)
        if word == "#":
            seen = False
            for j in range(len(kw) + 1):
                seen = seen or reach[j]
                nxt[j] = seen
        else:
            for j in range(1, len(kw) + 1):
                nxt[j] = reach[j - 1] and (word == "*" or word == kw[j - 1])
        reach = nxt
    return reach[len(kw)]


def expand(destination: str, groups: Mapping[str, Sequence[str]]) -> tuple[str, ...]:
    """The destinations a name stands for: a fan-out group's members, or itself."""
    members = groups.get(destination)
    return (destination,) if members is None else tuple(members)


class TopicExchange:
    """Bindings of topic patterns to destinations (PIPE-20).

    :meth:`route` returns every destination bound by a matching pattern, in binding order,
    each once; fan-out groups are expanded. A key that nothing matches goes to
    ``alternate`` and increments ``unroutable``.
    """

    def __init__(
        self,
        bindings: Sequence[tuple[str, str]] = (),
        *,
        groups: Mapping[str, Sequence[str]] | None = None,
        alternate: str = DEAD_LETTER,
    ) -> None:
        self.bindings: list[tuple[str, str]] = []
        self.groups = dict(groups or {})
        self.alternate = alternate
        self.unroutable = 0
        for pattern, destination in bindings:
            self.bind(pattern, destination)

    def bind(self, pattern: str, destination: str) -> None:
        self.bindings.append((check_topic_pattern(pattern, where="binding"), destination))

    def route(self, key: str) -> tuple[str, ...]:
        out: dict[str, None] = {}
        for pattern, destination in self.bindings:
            if topic_matches(pattern, key):
                for member in expand(destination, self.groups):
                    out[member] = None
        if not out:
            self.unroutable += 1
            return (self.alternate,)
        return tuple(out)
