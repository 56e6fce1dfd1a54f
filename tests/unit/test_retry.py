"""The retry/circuit-breaker state machine (CONN-11) on a fake clock."""

from __future__ import annotations

import random

import pytest

from datanexus.errors import CircuitOpen, InvalidArgument
from datanexus.retry import Backoff, CircuitBreaker, Retrier


class Clock:
    def __init__(self) -> None:
        self.now = 0.0
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


class Flaky:
    """Fails ``failures`` times with ConnectionError, then returns ``"ok"``."""

    def __init__(self, failures: int) -> None:
        self.failures = failures
        self.calls = 0

    def __call__(self) -> str:
        self.calls += 1
        if self.calls <= self.failures:
            raise ConnectionError(f"refused #{self.calls}")
        return "ok"


def test_breaker_opens_after_five_failures_and_fails_fast_with_the_original_message() -> None:
    clock = Clock()
    breaker = CircuitBreaker("pg", clock=clock)
    for i in range(4):
        breaker.before_call()
        breaker.failure(ConnectionError(f"refused #{i}"))
        assert breaker.state == "closed"
    breaker.before_call()
    breaker.failure(ConnectionError("connection refused at 127.0.0.1:5432"))
    assert breaker.state == "open"
    with pytest.raises(CircuitOpen, match=r"connection refused at 127\.0\.0\.1:5432"):
        breaker.before_call()
    assert breaker.retry_in() == 30.0


def test_half_open_after_thirty_seconds_allows_three_trials_and_one_success_closes() -> None:
    clock = Clock()
    breaker = CircuitBreaker("pg", clock=clock)
    for _ in range(5):
        breaker.failure(ConnectionError("down"))
    clock.now = 29.999
    assert breaker.state == "open"
    clock.now = 30.0
    assert breaker.state == "half-open"
    for _ in range(3):
        breaker.before_call()
    with pytest.raises(CircuitOpen, match="half-open"):
        breaker.before_call()
    breaker.success()
    assert breaker.state == "closed"
    breaker.before_call()


def test_a_failed_trial_reopens_for_a_full_timeout() -> None:
    clock = Clock()
    breaker = CircuitBreaker("pg", clock=clock)
    for _ in range(5):
        breaker.failure(ConnectionError("down"))
    clock.now = 31.0
    breaker.before_call()
    breaker.failure(ConnectionError("still down"))
    assert breaker.state == "open"
    assert breaker.retry_in() == 30.0


def test_retrier_waits_through_an_outage_and_returns_the_result() -> None:
    clock = Clock()
    flaky = Flaky(failures=12)
    retrier = Retrier(
        CircuitBreaker("pg", clock=clock),
        (ConnectionError,),
        sleep=clock.sleep,
        rng=random.Random(7),
    )
    assert retrier.call(flaky) == "ok"
    # Five calls open the circuit; from then on one trial per 30 s reset timeout.
    assert flaky.calls == 13
    assert clock.now >= 30.0 * (12 - 5 + 1) - 1e-9
    assert retrier.breaker.state == "closed"


def test_backoff_is_jittered_exponential_and_capped() -> None:
    backoff = Backoff(base=0.1, cap=2.0)
    assert [backoff.ceiling(n) for n in range(7)] == [0.1, 0.2, 0.4, 0.8, 1.6, 2.0, 2.0]
    assert backoff.ceiling(10_000) == 2.0
    rng = random.Random(1)
    pauses = [backoff.pause(3, rng) for _ in range(1000)]
    assert min(pauses) >= 0.0
    assert max(pauses) <= 0.8
    assert len({round(p, 6) for p in pauses}) > 900, "jittered, not a fixed pause"
    with pytest.raises(InvalidArgument):
        Backoff(base=0.0)
    with pytest.raises(InvalidArgument):
        Backoff(base=3.0, cap=2.0)


def test_other_errors_propagate_at_once_and_limits_end_the_waiting() -> None:
    clock = Clock()

    def bug() -> None:
        raise KeyError("a bug, not an outage")

    retrier = Retrier(CircuitBreaker("x", clock=clock), (ConnectionError,), sleep=clock.sleep)
    with pytest.raises(KeyError):
        retrier.call(bug)
    assert clock.sleeps == []

    limited = Retrier(
        CircuitBreaker("y", clock=clock), (ConnectionError,), max_attempts=3, sleep=clock.sleep
    )
    flaky = Flaky(failures=10)
    with pytest.raises(ConnectionError, match="refused #3"):
        limited.call(flaky)
    assert flaky.calls == 3
    dropped: list[BaseException] = []
    on_fail = Retrier(
        CircuitBreaker("z", clock=clock),
        (ConnectionError,),
        deadline=5.0,
        sleep=clock.sleep,
        on_failure=dropped.append,
    )
    with pytest.raises((ConnectionError, CircuitOpen)):
        on_fail.call(Flaky(failures=10**6))
    assert len(dropped) >= 5
