"""What every polling partition here shares: never block, sleep through ``next_awake``
when idle, and reconnect with backoff after a lost connection."""

from __future__ import annotations

import logging
import random
from datetime import UTC, datetime, timedelta

from datanexus.retry import Backoff

__all__ = ["Pacer"]

log = logging.getLogger(__name__)


class Pacer:
    """Tells a partition when to poll next: at once while data flows, after
    ``idle`` when a poll found nothing, after a jittered backoff after failures."""

    def __init__(self, name: str, idle: timedelta, backoff: Backoff | None = None) -> None:
        self._name = name
        self._idle = idle
        self._backoff = backoff or Backoff(base=0.2, cap=5.0)
        self._rng = random.Random()
        self._failures = 0
        self.awake: datetime | None = None

    def busy(self) -> None:
        self._failures = 0
        self.awake = None

    def idle(self) -> None:
        self._failures = 0
        self.awake = datetime.now(UTC) + self._idle

    def failed(self, error: BaseException) -> None:
        pause = self._backoff.pause(self._failures, self._rng)
        self._failures += 1
        log.warning(
            "%s: %s: %s; reconnecting in %.2f s", self._name, type(error).__name__, error, pause
        )
        self.awake = datetime.now(UTC) + timedelta(seconds=pause)

    def due(self) -> bool:
        return self.awake is None or datetime.now(UTC) >= self.awake
