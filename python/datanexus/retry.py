"""Retries with capped, jittered exponential backoff behind a circuit breaker (CONN-11).

Sinks and sources call servers through :class:`Retrier`: a transient failure is retried
after a pause that doubles up to a cap, each pause drawn uniformly from [0, pause] ("full
jitter", so many clients do not retry in lock-step). After ``failure_threshold`` (5)
consecutive failures the :class:`CircuitBreaker` opens: calls fail fast with
:class:`CircuitOpen` carrying the original message, without touching the server, for
``reset_timeout`` (30 s); then it is half-open and lets up to ``half_open_trials`` (3)
calls through; one success closes it, a failure opens it again.

:meth:`Retrier.call` never gives up unless given a deadline or an attempt limit: a flow
whose database is down waits (and logs) until the database is back; it neither drops
the batch nor crashes. Time comes from an injectable clock and sleep, so the tests run
the whole state machine without waiting.
"""

from __future__ import annotations

import logging
import random
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TypeVar

from datanexus.errors import CircuitOpen, InvalidArgument

__all__ = ["Backoff", "CircuitBreaker", "Retrier"]

log = logging.getLogger(__name__)

T = TypeVar("T")


@dataclass(frozen=True)
class Backoff:
    """Pause before retry ``n`` (0-based): uniform in [0, min(cap, base * factor**n)]."""

    base: float = 0.1
    cap: float = 10.0
    factor: float = 2.0

    def __post_init__(self) -> None:
        if not (0 < self.base <= self.cap) or self.factor < 1:
            raise InvalidArgument(f"backoff needs 0 < base <= cap and factor >= 1, got {self}")

    def ceiling(self, attempt: int) -> float:
        if attempt > 64:  # factor**attempt would only overflow past the cap anyway
            return self.cap
        return min(self.cap, self.base * self.factor**attempt)

    def pause(self, attempt: int, rng: random.Random) -> float:
        return rng.uniform(0.0, self.ceiling(attempt))


@dataclass
class CircuitBreaker:
    """Closed → (``failure_threshold`` consecutive failures) → open → (``reset_timeout``
    seconds) → half-open (≤ ``half_open_trials`` calls) → closed on a success, open
    again on a failure. Thread-safe."""

    name: str
    failure_threshold: int = 5
    reset_timeout: float = 30.0
    half_open_trials: int = 3
    clock: Callable[[], float] = time.monotonic
    _failures: int = field(default=0, init=False)
    _opened_at: float | None = field(default=None, init=False)
    _trials: int = field(default=0, init=False)
    _last_error: str = field(default="", init=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, init=False, repr=False)

    @property
    def state(self) -> str:
        """``"closed"``, ``"open"`` or ``"half-open"``."""
        with self._lock:
            return self._state()

    def _state(self) -> str:
        if self._opened_at is None:
            return "closed"
        if self.clock() - self._opened_at >= self.reset_timeout:
            return "half-open"
        return "open"

    def retry_in(self) -> float:
        """Seconds until an open circuit lets a trial through (0 unless open)."""
        with self._lock:
            if self._opened_at is None:
                return 0.0
            return max(0.0, self._opened_at + self.reset_timeout - self.clock())

    def before_call(self) -> None:
        """Raise :class:`CircuitOpen` if a call must not be tried now."""
        with self._lock:
            state = self._state()
            if state == "open":
                raise CircuitOpen(f"{self.name}: circuit open after: {self._last_error}")
            if state == "half-open":
                if self._trials >= self.half_open_trials:
                    raise CircuitOpen(
                        f"{self.name}: circuit half-open with its trials in flight, after: "
                        f"{self._last_error}"
                    )
                self._trials += 1

    def success(self) -> None:
        with self._lock:
            if self._opened_at is not None:
                log.info("%s: circuit closes", self.name)
            self._failures = 0
            self._opened_at = None
            self._trials = 0

    def failure(self, error: BaseException) -> None:
        with self._lock:
            self._last_error = f"{type(error).__name__}: {error}"
            self._failures += 1
            if self._opened_at is None and self._failures < self.failure_threshold:
                return
            if self._opened_at is None:
                log.warning("%s: circuit opens after %d failures", self.name, self._failures)
            # Opening, or a failed half-open trial: closed for a full timeout from now.
            self._opened_at = self.clock()
            self._trials = 0


@dataclass
class Retrier:
    """Calls a function until it succeeds, pausing between failures. Only exceptions in
    ``retry_on`` are retried; others propagate at once (a bug or bad input does not get
    better by waiting). ``max_attempts`` or ``deadline`` (seconds) bound the waiting,
    after which the last error propagates; by default it waits as long as it takes."""

    breaker: CircuitBreaker
    retry_on: tuple[type[BaseException], ...]
    backoff: Backoff = field(default_factory=Backoff)
    max_attempts: int | None = None
    deadline: float | None = None
    sleep: Callable[[float], None] = time.sleep
    rng: random.Random = field(default_factory=random.Random)
    on_failure: Callable[[BaseException], None] | None = None
    """Called after each failed attempt, e.g. to drop a broken connection."""

    def call(self, fn: Callable[[], T]) -> T:
        start = self.breaker.clock()
        attempt = 0
        while True:
            try:
                self.breaker.before_call()
            except CircuitOpen:
                if self._exhausted(attempt, start):
                    raise
                self.sleep(max(self.breaker.retry_in(), self.backoff.base))
                continue
            try:
                result = fn()
            except self.retry_on as error:
                self.breaker.failure(error)
                if self.on_failure is not None:
                    self.on_failure(error)
                attempt += 1
                if self._exhausted(attempt, start):
                    raise
                pause = self.backoff.pause(attempt - 1, self.rng)
                log.warning(
                    "%s: attempt %d failed (%s: %s); retrying in %.2f s",
                    self.breaker.name,
                    attempt,
                    type(error).__name__,
                    error,
                    pause,
                )
                self.sleep(pause)
                continue
            self.breaker.success()
            return result

    def _exhausted(self, attempt: int, start: float) -> bool:
        if self.max_attempts is not None and attempt >= self.max_attempts:
            return True
        return self.deadline is not None and self.breaker.clock() - start >= self.deadline
