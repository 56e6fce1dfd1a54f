"""Shared checks for the native sketches."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

import numpy as np
import pytest


def assert_runs_without_the_gil(batch: Callable[[], object], min_ticks: int = 100) -> None:
    """Runs ``batch`` in a thread while this thread keeps ticking.

    Holding the GIL would stall the ticking loop for the whole call; released, the loop
    keeps going, so no gap between ticks comes near the call's duration.
    """
    done = threading.Event()

    def work() -> None:
        batch()
        done.set()

    ticks: list[float] = []
    worker = threading.Thread(target=work)
    start = time.perf_counter()
    worker.start()
    while not done.is_set():
        ticks.append(time.perf_counter())
    worker.join()
    elapsed = time.perf_counter() - start
    gaps = np.diff([start, *ticks, time.perf_counter()])
    assert len(ticks) > min_ticks
    assert gaps.max() < 0.5 * elapsed, (gaps.max(), elapsed)


@pytest.fixture
def runs_without_the_gil() -> Callable[..., None]:
    return assert_runs_without_the_gil
