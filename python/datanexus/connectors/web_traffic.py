"""A deterministic model of realistic web request traffic (no Bytewax here).

The traffic is a function of ``(seed, parameters, event index)`` only: event ``i`` is the
same dict whichever partition emits it, whatever the batch size, and after any number of
snapshots and resumes. That makes it usable as a replayable source for recovery tests and
as the input of reference computations (:func:`generate_events`).

Events are generated in fixed blocks of :data:`BLOCK_SIZE` with vectorised numpy calls,
each block from its own PCG64 stream (``SeedSequence(seed, spawn_key=(block,))``). Blocks
are dealt round-robin to partitions, so every partition advances through the simulated
period at the same pace (a contiguous split would put one partition an hour ahead of
another, which event-time watermarks would punish).

The simulated traffic: six regions with skewed weights and region-dependent latency; six
endpoints; users drawn from a Zipf law over a fixed population; a request rate that
follows a slow wave with a flash burst at 62 % of the period; and an incident in
``eu-west-1`` from 35 % to 41 % of the period with many 5xx and slow responses.
Timestamps are epoch milliseconds, non-decreasing in the index before a bounded backwards
jitter (the out-of-orderness) is applied.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import NamedTuple, TypedDict

import numpy as np
import numpy.typing as npt

from datanexus.errors import InvalidArgument, InvalidType

__all__ = [
    "BLOCK_SIZE",
    "DEFAULT_START",
    "MAX_USERS",
    "REGIONS",
    "WebEvent",
    "WebTraffic",
    "generate_events",
]

BLOCK_SIZE = 1024
"""Events per generation block. Part of the output's identity: changing it changes events."""

DEFAULT_START = datetime(2025, 1, 1, tzinfo=UTC)
MAX_USERS = 10_000_000

TENANT = "demo"
STREAM = "web"

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MS = timedelta(milliseconds=1)


class WebEvent(TypedDict):
    """One web request. ``ts`` is epoch milliseconds; ``latency_ms`` and ``bytes`` are
    integers (like most access logs), which keeps their sums exact in any order."""

    ts: int
    id: str
    tenant: str
    stream: str
    user_id: str
    region: str
    method: str
    path: str
    status: int
    latency_ms: int
    bytes: int


class _Region(NamedTuple):
    name: str
    weight: float
    median_latency_ms: float


class _Endpoint(NamedTuple):
    method: str
    path: str
    weight: float
    latency_factor: float
    median_bytes: float
    ok_status: int


_REGIONS = (
    _Region("us-east-1", 0.34, 38.0),
    _Region("eu-west-1", 0.24, 45.0),
    _Region("us-west-2", 0.16, 52.0),
    _Region("ap-southeast-1", 0.12, 85.0),
    _Region("ap-northeast-1", 0.09, 78.0),
    _Region("sa-east-1", 0.05, 110.0),
)
REGIONS: tuple[str, ...] = tuple(r.name for r in _REGIONS)

_ENDPOINTS = (
    _Endpoint("GET", "/", 0.22, 1.0, 18_000.0, 200),
    _Endpoint("GET", "/search", 0.18, 2.2, 42_000.0, 200),
    _Endpoint("GET", "/api/products", 0.25, 1.3, 9_500.0, 200),
    _Endpoint("POST", "/api/cart", 0.12, 1.7, 1_200.0, 201),
    _Endpoint("POST", "/api/checkout", 0.05, 3.5, 2_400.0, 201),
    _Endpoint("GET", "/static/app.js", 0.18, 0.25, 310_000.0, 200),
)

_CLIENT_ERRORS = np.array([400, 401, 404, 429], dtype=np.int64)
_CLIENT_ERROR_CDF = np.cumsum([0.20, 0.15, 0.50, 0.15])
_SERVER_ERRORS = np.array([500, 502, 503, 504], dtype=np.int64)
_SERVER_ERROR_CDF = np.cumsum([0.45, 0.25, 0.20, 0.10])
_P_CLIENT_ERROR = 0.035
_P_SERVER_ERROR = 0.004

_INCIDENT_REGION = REGIONS.index("eu-west-1")
_INCIDENT = (0.35, 0.41)  # fractions of the period
_INCIDENT_P_SERVER_ERROR = 0.18
_INCIDENT_LATENCY_FACTOR = 3.5
_BURST_CENTER, _BURST_WIDTH, _BURST_HEIGHT = 0.62, 0.015, 2.0

_REGION_P = np.array([r.weight for r in _REGIONS])
_REGION_LATENCY = np.array([r.median_latency_ms for r in _REGIONS])
_ENDPOINT_P = np.array([e.weight for e in _ENDPOINTS])
_ENDPOINT_LATENCY = np.array([e.latency_factor for e in _ENDPOINTS])
_ENDPOINT_BYTES = np.array([e.median_bytes for e in _ENDPOINTS])
_ENDPOINT_OK = np.array([e.ok_status for e in _ENDPOINTS], dtype=np.int64)


@functools.cache
def _time_warp() -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]:
    """(cumulative share of events, fraction of the period) on a fine grid: the inverse
    of the rate's cumulative distribution, so that event ``i`` of ``n`` lands at the time
    where a share ``(i + 0.5) / n`` of the traffic has passed."""
    t = np.linspace(0.0, 1.0, 8193)
    rate = (
        1.0
        + 0.25 * np.sin(2.0 * np.pi * t + 0.3)
        + _BURST_HEIGHT * np.exp(-0.5 * ((t - _BURST_CENTER) / _BURST_WIDTH) ** 2)
    )
    cum = np.concatenate(([0.0], np.cumsum((rate[1:] + rate[:-1]) * 0.5)))
    return cum / cum[-1], t


@functools.lru_cache(maxsize=8)
def _user_cdf(users: int, skew: float) -> npt.NDArray[np.float64]:
    weights = np.arange(1, users + 1, dtype=np.float64) ** -skew
    cdf = np.cumsum(weights)
    cdf /= cdf[-1]
    cdf.flags.writeable = False
    return cdf


def check_int(name: str, value: object, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int | np.integer):
        raise InvalidType(f"{name} must be an int, got {type(value).__name__}")
    if value < minimum:
        raise InvalidArgument(f"{name} must be >= {minimum}, got {value}")
    return int(value)


def _check_timedelta(name: str, value: object, *, positive: bool) -> timedelta:
    if not isinstance(value, timedelta):
        raise InvalidType(f"{name} must be a datetime.timedelta, got {type(value).__name__}")
    minimum = _MS if positive else timedelta(0)
    if value < minimum:
        raise InvalidArgument(f"{name} must be at least {minimum}, got {value}")
    return value


@dataclass(frozen=True, kw_only=True)
class WebTraffic:
    """The parameters that determine the traffic; equal parameters give equal events.

    ``events`` requests are spread over ``[start, start + duration)`` (millisecond
    resolution; ``start`` must be timezone-aware). ``users`` is the population; the user
    of rank ``r`` is picked with weight ``r ** -user_skew`` (0 = uniform). Each timestamp
    is moved back by up to ``jitter`` (never before ``start``), so the stream is out of
    order by at most ``jitter``. Invalid values raise :class:`InvalidArgument` (or
    :class:`InvalidType` for a wrong type), naming the parameter.
    """

    events: int
    seed: int = 0
    start: datetime = DEFAULT_START
    duration: timedelta = timedelta(hours=1)
    users: int = 50_000
    user_skew: float = 0.8
    jitter: timedelta = timedelta(seconds=2)

    def __post_init__(self) -> None:
        check_int("events", self.events, 0)
        check_int("seed", self.seed, 0)
        check_int("users", self.users, 1)
        if self.users > MAX_USERS:
            # The user sampler keeps a cumulative weight per user (8 bytes each).
            raise InvalidArgument(f"users must be at most {MAX_USERS:,}, got {self.users:,}")
        if not isinstance(self.start, datetime):
            raise InvalidType(f"start must be a datetime, got {type(self.start).__name__}")
        if self.start.utcoffset() is None:
            raise InvalidArgument(f"start must be timezone-aware, got naive {self.start}")
        _check_timedelta("duration", self.duration, positive=True)
        _check_timedelta("jitter", self.jitter, positive=False)
        skew = self.user_skew
        if isinstance(skew, bool) or not isinstance(skew, int | float):
            raise InvalidType(f"user_skew must be a number, got {type(skew).__name__}")
        if not (math.isfinite(skew) and 0.0 <= skew <= 10.0):
            raise InvalidArgument(f"user_skew must be in [0, 10], got {skew}")

    @property
    def name(self) -> str:
        """The model's name (partition names of its source start with it)."""
        return STREAM

    @property
    def start_ms(self) -> int:
        return (self.start - _EPOCH) // _MS

    @property
    def duration_ms(self) -> int:
        return self.duration // _MS

    @property
    def blocks(self) -> int:
        """Number of generation blocks (the last one may be short)."""
        return -(-self.events // BLOCK_SIZE)

    def block(self, index: int) -> list[WebEvent]:
        """Events ``index * BLOCK_SIZE`` up to the next block or ``events``, in index order.

        Raises :class:`InvalidArgument` for a block outside ``range(self.blocks)``.
        """
        if not 0 <= index < self.blocks:
            raise InvalidArgument(f"block must be in 0..{self.blocks - 1}, got {index}")
        lo = index * BLOCK_SIZE
        size = min(BLOCK_SIZE, self.events - lo)
        # Always draw a full block so an event's values never depend on where `events`
        # cuts the last block.
        rng = np.random.Generator(
            np.random.PCG64(np.random.SeedSequence(self.seed, spawn_key=(index,)))
        )
        n = BLOCK_SIZE
        region = rng.choice(len(_REGIONS), size=n, p=_REGION_P)
        endpoint = rng.choice(len(_ENDPOINTS), size=n, p=_ENDPOINT_P)
        user = np.minimum(
            np.searchsorted(_user_cdf(self.users, float(self.user_skew)), rng.random(n), "right"),
            self.users - 1,
        )
        status_draw = rng.random(n)
        code_draw = rng.random(n)
        latency_z = rng.standard_normal(n)
        bytes_z = rng.standard_normal(n)
        jitter = rng.integers(0, self.jitter // _MS, size=n, endpoint=True)

        share = (np.arange(lo, lo + n, dtype=np.float64) + 0.5) / max(self.events, 1)
        cum, grid = _time_warp()
        frac = np.interp(share, cum, grid)
        offset = np.minimum((frac * self.duration_ms).astype(np.int64), self.duration_ms - 1)
        ts = np.maximum(self.start_ms + offset - jitter, self.start_ms)

        incident = (region == _INCIDENT_REGION) & (frac >= _INCIDENT[0]) & (frac < _INCIDENT[1])
        p_server = np.where(incident, _INCIDENT_P_SERVER_ERROR, _P_SERVER_ERROR)
        server_error = status_draw < p_server
        client_error = ~server_error & (status_draw < p_server + _P_CLIENT_ERROR)
        status = np.where(
            server_error,
            _SERVER_ERRORS[np.searchsorted(_SERVER_ERROR_CDF, code_draw * _SERVER_ERROR_CDF[-1])],
            np.where(
                client_error,
                _CLIENT_ERRORS[
                    np.searchsorted(_CLIENT_ERROR_CDF, code_draw * _CLIENT_ERROR_CDF[-1])
                ],
                _ENDPOINT_OK[endpoint],
            ),
        )

        median = _REGION_LATENCY[region] * _ENDPOINT_LATENCY[endpoint]
        median *= np.where(incident, _INCIDENT_LATENCY_FACTOR, 1.0)
        median *= np.where(server_error, 2.0, 1.0)
        latency = np.maximum(np.rint(median * np.exp(0.55 * latency_z)), 1.0).astype(np.int64)
        error = server_error | client_error
        size_median = np.where(error, 350.0, _ENDPOINT_BYTES[endpoint])
        size_bytes = np.rint(size_median * np.exp(0.35 * bytes_z)).astype(np.int64)

        prefix = f"{self.seed:08x}-"
        regions, endpoints = REGIONS, _ENDPOINTS
        return [
            {
                "ts": t,
                "id": f"{prefix}{i:010d}",
                "tenant": TENANT,
                "stream": STREAM,
                "user_id": f"u{u + 1}",
                "region": regions[r],
                "method": endpoints[e].method,
                "path": endpoints[e].path,
                "status": s,
                "latency_ms": lat,
                "bytes": b,
            }
            for i, t, u, r, e, s, lat, b in zip(
                range(lo, lo + size),
                ts[:size].tolist(),
                user[:size].tolist(),
                region[:size].tolist(),
                endpoint[:size].tolist(),
                status[:size].tolist(),
                latency[:size].tolist(),
                size_bytes[:size].tolist(),
                strict=False,
            )
        ]


def generate_events(
    n: int,
    seed: int = 0,
    *,
    start: datetime = DEFAULT_START,
    duration: timedelta = timedelta(hours=1),
    users: int = 50_000,
    user_skew: float = 0.8,
    jitter: timedelta = timedelta(seconds=2),
) -> list[WebEvent]:
    """All ``n`` events of :class:`WebTraffic` with these parameters, in index order.

    The same list a one-partition :class:`WebEventsSource` emits, concatenated; with more
    partitions the same events arrive interleaved by block.
    """
    traffic = WebTraffic(
        events=n,
        seed=seed,
        start=start,
        duration=duration,
        users=users,
        user_skew=user_skew,
        jitter=jitter,
    )
    out: list[WebEvent] = []
    for b in range(traffic.blocks):
        out.extend(traffic.block(b))
    return out
