"""Deterministic models of payment and IoT event streams (no Bytewax here), beside
:class:`~datanexus.connectors.web_traffic.WebTraffic`.

Like the web model, each is a function of ``(seed, parameters, event index)``: events are
made in blocks of :data:`BLOCK_SIZE`, each block from its own PCG64 stream, so event ``i``
is the same whatever partition, batch size or resume point produced it. Timestamps spread
evenly over ``[start, start + duration)`` with a bounded backwards jitter.

- :class:`Payments`: card payments of merchants in several countries; ``amount`` is a
  string with two decimals (as payment APIs send it), ``currency`` in random case (for
  the pipeline to normalise), a 16-digit ``card`` (for the pipeline to mask), ``status``
  ok / failed / declined with one merchant going through an outage.
- :class:`IotReadings`: sensors at sites in several time zones; ``ts`` is RFC 3339, and
  one site's gateway sends naive local time (for the pipeline's time-zone step);
  readings nested under ``reading`` (for flattening), ``battery`` sometimes null.

The :class:`EventModel` protocol is what :class:`~datanexus.connectors.generator.
ModelEventsSource` deals to partitions.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol
from zoneinfo import ZoneInfo

import numpy as np

from datanexus.connectors.web_traffic import BLOCK_SIZE, DEFAULT_START, check_int
from datanexus.errors import InvalidArgument

__all__ = ["EventModel", "IotReadings", "Payments"]

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MS = timedelta(milliseconds=1)


class EventModel(Protocol):
    """What a generator source needs: the event count and events by block."""

    @property
    def name(self) -> str: ...
    @property
    def events(self) -> int: ...
    @property
    def blocks(self) -> int: ...
    def block(self, index: int) -> list[dict[str, Any]]: ...


@dataclass(frozen=True, kw_only=True)
class _Model:
    events: int
    seed: int = 0
    start: datetime = DEFAULT_START
    duration: timedelta = timedelta(hours=1)
    jitter: timedelta = timedelta(seconds=2)
    tenant: str = "demo"

    def __post_init__(self) -> None:
        check_int("events", self.events, 0)
        check_int("seed", self.seed, 0)
        if self.start.utcoffset() is None:
            raise InvalidArgument(f"start must be timezone-aware, got naive {self.start}")
        if self.duration <= timedelta(0) or self.jitter < timedelta(0):
            raise InvalidArgument("duration must be positive and jitter not negative")

    @property
    def blocks(self) -> int:
        return -(-self.events // BLOCK_SIZE)

    def _draw(self, index: int) -> tuple[np.random.Generator, range, int, np.ndarray]:
        """The block's generator, its event indexes and their timestamps (epoch ms)."""
        if not 0 <= index < self.blocks:
            raise InvalidArgument(f"block must be in 0..{self.blocks - 1}, got {index}")
        lo = index * BLOCK_SIZE
        size = min(BLOCK_SIZE, self.events - lo)
        rng = np.random.Generator(
            np.random.PCG64(np.random.SeedSequence(self.seed, spawn_key=(index,)))
        )
        start_ms = (self.start - _EPOCH) // _MS
        span = self.duration // _MS
        share = (np.arange(lo, lo + BLOCK_SIZE, dtype=np.float64) + 0.5) / max(self.events, 1)
        jitter = rng.integers(0, self.jitter // _MS, size=BLOCK_SIZE, endpoint=True)
        ts = np.maximum(start_ms + (share * span).astype(np.int64) - jitter, start_ms)
        return rng, range(lo, lo + size), size, ts


_MERCHANTS = ("acme-books", "blue-bikes", "cloud-cafe", "dune-travel", "echo-games", "fjord-fish")
_MERCHANT_P = np.array([0.3, 0.2, 0.18, 0.12, 0.12, 0.08])
_COUNTRIES = ("DE", "FR", "GB", "US", "BR", "IN")
_CURRENCIES = ("eur", "eur", "gbp", "usd", "brl", "inr")
_OUTAGE_MERCHANT = 3  # dune-travel fails a third of its payments mid-period
_OUTAGE = (0.55, 0.62)


@dataclass(frozen=True, kw_only=True)
class Payments(_Model):
    """Card payments; see the module docstring for the shape."""

    @property
    def name(self) -> str:
        return "payments"

    def block(self, index: int) -> list[dict[str, Any]]:
        rng, indexes, size, ts = self._draw(index)
        n = BLOCK_SIZE
        merchant = rng.choice(len(_MERCHANTS), size=n, p=_MERCHANT_P)
        country = rng.integers(0, len(_COUNTRIES), size=n)
        cents = np.maximum(np.rint(np.exp(rng.normal(3.4, 1.0, size=n)) * 100), 50).astype(np.int64)
        draw = rng.random(n)
        frac = (np.arange(index * n, index * n + n) + 0.5) / max(self.events, 1)
        outage = (merchant == _OUTAGE_MERCHANT) & (frac >= _OUTAGE[0]) & (frac < _OUTAGE[1])
        p_fail = np.where(outage, 0.33, 0.01)
        status = np.where(draw < p_fail, 1, np.where(draw < p_fail + 0.03, 2, 0))
        upper = rng.random(n) < 0.5
        card = rng.integers(4_000_000_000_000_000, 4_999_999_999_999_999, size=n)
        prefix = f"p{self.seed:08x}-"
        statuses = ("ok", "failed", "declined")
        return [
            {
                "ts": t,
                "tenant": self.tenant,
                "id": f"{prefix}{i:010d}",
                "merchant": _MERCHANTS[m],
                "amount": f"{c // 100}.{c % 100:02d}",
                "currency": _CURRENCIES[k].upper() if up else _CURRENCIES[k],
                "card": str(cd),
                "status": statuses[s],
                "country": _COUNTRIES[k],
            }
            for i, t, m, k, c, s, up, cd in zip(
                indexes,
                ts[:size].tolist(),
                merchant[:size].tolist(),
                country[:size].tolist(),
                cents[:size].tolist(),
                status[:size].tolist(),
                upper[:size].tolist(),
                card[:size].tolist(),
                strict=False,
            )
        ]


_SITES = (("berlin", "Europe/Berlin"), ("oslo", "Europe/Oslo"), ("pune", "Asia/Kolkata"),
          ("austin", "America/Chicago"))  # fmt: skip
_NAIVE_SITE = 0  # the Berlin gateway sends local wall-clock time without an offset
_DEVICES_PER_SITE = 25


@dataclass(frozen=True, kw_only=True)
class IotReadings(_Model):
    """Sensor readings; see the module docstring for the shape."""

    @property
    def name(self) -> str:
        return "iot"

    def block(self, index: int) -> list[dict[str, Any]]:
        rng, indexes, size, ts = self._draw(index)
        n = BLOCK_SIZE
        site = rng.integers(0, len(_SITES), size=n)
        device = rng.integers(0, _DEVICES_PER_SITE, size=n)
        day = (ts % 86_400_000) / 86_400_000.0
        temperature = 18.0 + 4.0 * np.sin(2 * np.pi * day) + site * 1.5 + rng.normal(0, 0.6, n)
        humidity = np.clip(45.0 + 10.0 * np.cos(2 * np.pi * day) + rng.normal(0, 3.0, n), 0, 100)
        battery = np.clip(100.0 - device * 2.5 - day * 3 + rng.normal(0, 0.5, n), 0, 100)
        missing = rng.random(n) < 0.02
        zones = [ZoneInfo(z) for _, z in _SITES]
        prefix = f"i{self.seed:08x}-"
        out: list[dict[str, Any]] = []
        for i, t, s, d, temp, hum, bat, miss in zip(
            indexes,
            ts[:size].tolist(),
            site[:size].tolist(),
            device[:size].tolist(),
            np.round(temperature[:size], 2).tolist(),
            np.round(humidity[:size], 1).tolist(),
            np.round(battery[:size], 1).tolist(),
            missing[:size].tolist(),
            strict=False,
        ):
            when = _EPOCH + t * _MS
            if s == _NAIVE_SITE:
                stamp = (
                    when.astimezone(zones[s])
                    .replace(tzinfo=None)
                    .isoformat(timespec="milliseconds")
                )
            else:
                stamp = when.astimezone(zones[s]).isoformat(timespec="milliseconds")
            out.append(
                {
                    "ts": stamp,
                    "tenant": self.tenant,
                    "id": f"{prefix}{i:010d}",
                    "device": f"{_SITES[s][0]}-{d:02d}",
                    "site": _SITES[s][0],
                    "reading": {
                        "temperature": temp,
                        "humidity": hum,
                        "battery": None if miss else bat,
                    },
                }
            )
        return out
