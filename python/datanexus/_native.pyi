"""Type stubs and user documentation for the native extension ``datanexus._native``.

Import these types from :mod:`datanexus`, not from here. Checked against the build by
``mypy.stubtest`` in ``make lint``.
"""

from collections.abc import Iterable, Sequence
from datetime import datetime, timedelta
from typing import Any, TypeAlias, TypedDict, final

import numpy as np
import numpy.typing as npt

__all__ = [
    "COPY_SIGNATURE",
    "COPY_TRAILER",
    "HyperLogLog",
    "RollingAggregate",
    "ShardBatch",
    "TDigest",
    "WatermarkTracker",
    "WindowEngine",
    "WindowResult",
    "WindowRouter",
    "__version__",
    "copy_binary",
]

__version__: str
COPY_SIGNATURE: bytes
"""The start of a binary COPY stream (see :func:`copy_binary`)."""
COPY_TRAILER: bytes
"""The end of a binary COPY stream."""

_Item: TypeAlias = int | float | str | bytes | bytearray
_Column: TypeAlias = Sequence[int | float] | npt.NDArray[Any]

@final
class HyperLogLog:
    """Distinct-count sketch (HyperLogLog with sparse mode, HIP and Ertl's estimator).

    Items are hashed with MurmurHash3 x64-128 (seed 9001) exactly as Apache DataSketches
    does: ints by their 8 little-endian bytes, floats canonicalised, str by UTF-8 (the
    empty string is ignored, as in DataSketches), bytes as they are. Ints beyond 64 bits
    hash by their signed little-endian bytes. Hashing never uses Python's ``hash()``, so
    sketches agree across processes and machines.

    Raises :class:`datanexus.InvalidArgument` for a precision outside 4..18.
    """

    def __new__(cls, precision: int = 12) -> HyperLogLog: ...
    @property
    def precision(self) -> int:
        """log2 of the number of registers, 4..18."""

    @property
    def standard_error(self) -> float:
        """The conventional relative standard error 1.04/√(2^precision)."""

    @property
    def is_sparse(self) -> bool:
        """True while the sketch keeps exact coupons instead of registers."""

    def is_empty(self) -> bool:
        """True when nothing has been added (or merged in)."""

    def add(self, item: _Item, /) -> None:
        """Add one item; other types raise :class:`datanexus.InvalidType`."""

    def add_many(self, items: Iterable[_Item] | npt.NDArray[Any]) -> None:
        """Add a batch: any iterable, or a 1-D numpy array (int, uint, float arrays are
        hashed with the GIL released and no per-item Python call; object, str and bytes
        arrays item by item). Gives the same sketch as ``add`` on each item in order."""

    def estimate(self) -> float:
        """Estimated number of distinct items; 0.0 for an empty sketch."""

    def merge(self, other: HyperLogLog | None) -> None:
        """Fold ``other`` into this sketch (register-wise max); ``other`` is untouched and
        ``None`` is a no-op. Different precision raises
        :class:`datanexus.IncompatibleSketches`."""

    @staticmethod
    def merge_images(images: Iterable[bytes], precision: int | None = None) -> HyperLogLog:
        """The union of the sketches whose images (``to_bytes``) are ``images``, parsed
        and merged natively with the GIL released. Every image must have one precision
        (``precision`` if given; :class:`datanexus.IncompatibleSketches` otherwise); an
        image that is not ours raises :class:`datanexus.SerializationError` naming its
        position. No images: an empty sketch of ``precision`` (default 12)."""

    def clear(self) -> None:
        """Forget every item, keeping the precision."""

    def copy(self) -> HyperLogLog: ...
    def __copy__(self) -> HyperLogLog: ...
    def __deepcopy__(self, memo: Any) -> HyperLogLog: ...
    def registers(self) -> bytes:
        """The 2^precision register values, one byte each (also for a sparse sketch)."""

    def to_bytes(self) -> bytes:
        """Our versioned image (sparse: 6 + 4 bytes per coupon; dense: ~m/2 bytes)."""

    def to_datasketches(self) -> bytes:
        """The compact HLL_8 image that Apache DataSketches (and Druid, Pinot) read."""

    @classmethod
    def from_bytes(cls, data: bytes | bytearray) -> HyperLogLog:
        """Read our image or a DataSketches HLL image (HLL_4, HLL_6, HLL_8; list, set or
        HLL mode). Anything else raises :class:`datanexus.SerializationError`."""

    def __reduce__(self) -> tuple[Any, tuple[bytes]]: ...
    def __eq__(self, value: object, /) -> bool:
        """Identical state: precision, mode, coupons or registers, and estimator. A merged
        sketch and a one-pass sketch of the same items have equal ``registers()`` but may
        differ here, since only the latter keeps its HIP estimate."""

    __hash__: None  # type: ignore[assignment]

_Partition: TypeAlias = str | int

class _PartitionStatus(TypedDict):
    watermark: float
    idle: bool
    last_seen: float | None

@final
class WatermarkTracker:
    """Event-time watermarks per source partition, combined into one, with idleness.

    A partition's watermark is the largest timestamp it produced minus
    ``max_out_of_orderness``; it never goes backwards. The tracker's watermark is the
    minimum over *active* partitions. A partition silent for longer than ``idle_timeout``
    becomes idle at the next :meth:`tick` and stops holding the watermark back; if every
    partition is idle the watermark is the maximum over them. A partition that speaks again
    is active again.

    The tracker's watermark never goes backwards, with one exception: a partition seen for
    the first time joins the minimum with its own watermark (p1 at 8000, then p2's first
    event at 6000 gives 6000), since the tracker cannot know of it earlier. An idle
    partition that resumes behind the watermark does *not* pull it back: the watermark
    holds until that partition catches up, and its events behind it are late.

    Timestamps are numbers in any consistent unit (epoch milliseconds, microseconds,
    seconds as floats), kept as float64: ints must lie within ±(2^53 − 1), where that is
    exact (epoch nanoseconds do not fit and raise). Event-time answers (watermarks, lags,
    ``max_out_of_orderness``) are ints while ``max_out_of_orderness`` and every timestamp
    were ints, floats otherwise; clock answers (``last_seen``, ``idle_timeout``) likewise
    follow ``idle_timeout`` and the ``now`` readings.

    Idleness is judged on the caller's clock: the ``now`` readings given to
    :meth:`observe` and :meth:`tick` (say ``time.monotonic()``); the tracker never reads a
    clock itself. A reading older than the latest one is taken as the latest. Partitions
    heard before the first reading count as heard at it.

    Partitions are named by str or int (``1`` and ``"1"`` are different partitions).
    Copying, pickling and :meth:`to_bytes` keep everything, names included.

    Raises :class:`datanexus.InvalidArgument` for a negative, NaN or infinite
    ``max_out_of_orderness`` or ``idle_timeout``, and :class:`datanexus.InvalidType` for
    non-numbers.
    """

    def __new__(
        cls, max_out_of_orderness: float = 0, idle_timeout: float | None = None
    ) -> WatermarkTracker: ...
    @property
    def max_out_of_orderness(self) -> float: ...
    @property
    def idle_timeout(self) -> float | None:
        """None: partitions never become idle."""

    @property
    def watermark(self) -> float | None:
        """The tracker's watermark; None until the first event."""

    def observe(self, partition: _Partition, ts: float, now: float | None = None) -> float:
        """Record an event of ``partition`` at event time ``ts`` (at clock reading ``now``,
        if given) and return the watermark. O(1), except when the partition holding the
        watermark back advances (O(partitions)). NaN or ±inf, or an int beyond
        ±(2^53 − 1), raises :class:`datanexus.InvalidArgument` and changes nothing."""

    def observe_many(
        self,
        partition: _Partition,
        ts: Iterable[float] | npt.NDArray[Any],
        now: float | None = None,
    ) -> float | None:
        """Record a batch of one partition's events and return the watermark (None only if
        nothing was ever observed). The same as :meth:`observe` on each item with the same
        ``now``; an empty batch changes nothing. A 1-D int64 or float64 array (other int
        and float dtypes are widened) is read with the GIL released and no per-item Python
        work. A bad item raises :class:`datanexus.InvalidArgument` naming its index and
        leaves the tracker untouched."""

    def tick(self, now: float) -> float | None:
        """Advance the clock to ``now``, mark idle every partition silent for longer than
        ``idle_timeout`` (strictly), and return the watermark. O(partitions)."""

    def partition_watermark(self, partition: _Partition) -> float | None:
        """The partition's own watermark; None for a partition never observed."""

    def is_late(self, ts: float, allowed_lateness: float = 0) -> bool:
        """True iff ``ts < watermark − allowed_lateness``; nothing is late before the first
        event. A negative ``allowed_lateness`` raises :class:`datanexus.InvalidArgument`."""

    def holdback(self) -> tuple[_Partition, float] | None:
        """The active partition holding the watermark back (the first seen among equals)
        and by how much the watermark trails the most advanced active partition; None
        before the first event and while every partition is idle. For metrics."""

    def partitions(self) -> dict[_Partition, _PartitionStatus]:
        """Every partition, in order of first appearance, with its own watermark, whether
        it is idle and the clock reading of its latest event (None without a clock)."""

    def __len__(self) -> int:
        """The number of partitions observed."""

    def copy(self) -> WatermarkTracker: ...
    def __copy__(self) -> WatermarkTracker: ...
    def __deepcopy__(self, memo: Any) -> WatermarkTracker: ...
    def to_bytes(self) -> bytes:
        """Our versioned image: about 30 bytes plus 25 to 40 per partition."""

    @classmethod
    def from_bytes(cls, data: bytes | bytearray) -> WatermarkTracker:
        """Read :meth:`to_bytes`; anything else raises
        :class:`datanexus.SerializationError`."""

    def __reduce__(self) -> tuple[Any, tuple[bytes]]: ...
    def __eq__(self, value: object, /) -> bool: ...
    __hash__: None  # type: ignore[assignment]

@final
class RollingAggregate:
    """Count, sum, mean, variance, min and max over a sliding time window.

    Holds the points with ``ts > newest − window``, where ``newest`` is the largest
    timestamp seen; timestamps are numbers in any consistent unit (epoch ms, seconds as
    floats, ...). A point at or before ``newest − window`` when it arrives is ignored
    and counted in :attr:`dropped`; a late point still inside the window is accepted and
    leaves when its own time is up.

    Timestamps and values are kept as exact 64-bit integers until the first float
    arrives (window, timestamp or value), which turns that column into floats for good,
    as numpy promotes a column: integer sums are then exact at any size (returned as
    ``int``), float sums compensated (within a few ulps of ``math.fsum`` of the values
    held, also after any number of evictions), and the variance is kept within ~1e-9
    relative of the variance of the values held (it is recomputed from the points when
    eviction would cost more accuracy than that).

    Costs: an in-order point O(1) amortised, a late point O(log L) for L late points
    held; every statistic O(1); 16 bytes per point held. Batches release the GIL.

    ints beyond 64 signed bits raise :class:`datanexus.InvalidArgument` (pass a float),
    NaN or ±inf anywhere raise :class:`datanexus.InvalidArgument`, other types
    :class:`datanexus.InvalidType`. Not thread-safe: share one per key, not per thread.
    """

    def __new__(cls, window: int | float) -> RollingAggregate:
        """A window of positive, finite length; anything else raises
        :class:`datanexus.InvalidArgument`."""

    def push(self, ts: int | float, value: int | float, /) -> None:
        """Add one point (or count it in :attr:`dropped` if older than the window)."""

    def push_many(self, ts: _Column, values: _Column) -> None:
        """Add a batch: 1-D numpy arrays (int64 and float64 are read in place with the
        GIL released; other int, uint and float dtypes are converted) or sequences of
        numbers. The result is the state that ``push`` on each point in order gives
        (float sums equal up to rounding); only the points that end inside the window
        are stored, so a batch much longer than the window costs little more than a
        scan. Different lengths raise :class:`datanexus.InvalidArgument`."""

    @property
    def window(self) -> int | float:
        """The window length, in the timestamps' unit."""

    @property
    def count(self) -> int:
        """Number of points held."""

    def __len__(self) -> int: ...
    @property
    def sum(self) -> int | float:
        """Sum of the values held: an exact ``int`` while every value was an int, else a
        compensated float; ``0`` when empty."""

    @property
    def mean(self) -> float | None:
        """Mean of the values held (sum / count), ``None`` when empty."""

    @property
    def variance(self) -> float | None:
        """Population variance (divide by count), ``None`` when empty."""

    @property
    def sample_variance(self) -> float | None:
        """Sample variance (divide by count − 1), ``None`` below two points."""

    @property
    def stddev(self) -> float | None:
        """Population standard deviation, ``None`` when empty."""

    @property
    def min(self) -> int | float | None:
        """Smallest value held, ``None`` when empty."""

    @property
    def max(self) -> int | float | None:
        """Largest value held, ``None`` when empty."""

    @property
    def dropped(self) -> int:
        """Points ignored because they were older than the window on arrival."""

    @property
    def newest(self) -> int | float | None:
        """Largest timestamp seen (it stays after its point left), ``None`` at first."""

    def clear(self) -> None:
        """Forget every point, the newest timestamp and the dropped count; keep the
        window, the number types and the memory already allocated."""

    def copy(self) -> RollingAggregate: ...
    def __copy__(self) -> RollingAggregate: ...
    def __deepcopy__(self, memo: Any) -> RollingAggregate: ...
    def to_bytes(self) -> bytes:
        """Versioned image: ~100 bytes plus 16 per point held, running sums included,
        so a restored aggregate gives the very same figures."""

    @classmethod
    def from_bytes(cls, data: bytes | bytearray) -> RollingAggregate:
        """Read an image of :meth:`to_bytes`; corrupt, truncated, foreign or newer
        images raise :class:`datanexus.SerializationError`."""

    def __reduce__(self) -> tuple[Any, tuple[bytes]]: ...
    def __eq__(self, value: object, /) -> bool: ...
    __hash__: None  # type: ignore[assignment]

_Number: TypeAlias = float | int
_Value: TypeAlias = float | int | bytes
"""A window measure's value: a number, or a sketch image (``digest(f)``, ``hll(f)``)."""

@final
class TDigest:
    """Quantile sketch: a merging t-digest (Dunning & Ertl 2019) of weighted values.

    ``compression`` (10..10 000, default 200) sets the size: about 380 centroids and 4 KB
    serialised for 10⁶ values at 200. Small inputs are exact: up to 100 values, and any
    number of copies of few distinct values, ``quantile`` is the nearest rank
    ``sorted[⌈q·n⌉ − 1]`` (p90 of 1..20 is 18). ``min`` and ``max`` are exact and are
    ``quantile(0)`` and ``quantile(1)``; ``quantile`` is monotone in q and ``cdf`` in x.
    At n = 10⁶ the rank error is a few 1e-5 from p50 to p99.9 and the value error at
    p99.9 of lognormal data a few tenths of a percent.

    Values must be finite: NaN or ±inf raise :class:`datanexus.InvalidArgument` (a
    ``ValueError``), as do weights that are negative or not finite. Querying merges the
    internal buffer; a digest is not safe to share between threads without a lock.
    """

    def __new__(cls, compression: float = 200.0) -> TDigest: ...
    @property
    def compression(self) -> float:
        """The compression δ this digest was made with."""

    @property
    def count(self) -> float:
        """The total weight added (the number of values when every weight is 1)."""

    @property
    def min(self) -> float:
        """The smallest value, exactly; NaN when empty."""

    @property
    def max(self) -> float:
        """The largest value, exactly; NaN when empty."""

    @property
    def sum(self) -> float:
        """The weighted sum of the values, compensated (Neumaier); 0.0 when empty."""

    @property
    def mean(self) -> float:
        """``sum / count``; NaN when empty."""

    def is_empty(self) -> bool:
        """True when no weight has been added (or merged in)."""

    def add(self, x: _Number, /, weight: _Number | None = None) -> None:
        """Add one value with weight 1 (or ``weight`` ≥ 0; 0 adds nothing)."""

    def add_many(
        self,
        values: Sequence[_Number] | npt.NDArray[Any],
        weights: Sequence[_Number] | npt.NDArray[Any] | None = None,
    ) -> None:
        """Add a batch: 1-D numpy arrays (float64 without a copy, other numeric dtypes
        converted) or sequences, with the GIL released. Gives the same digest as ``add``
        on each value in order. Everything is checked first: a NaN anywhere adds nothing.
        """

    def quantile(self, q: _Number) -> float:
        """The value at quantile ``q`` in [0, 1] (NaN when empty); other q raise
        :class:`datanexus.InvalidArgument`."""

    def quantiles(self, qs: Sequence[_Number] | npt.NDArray[Any]) -> npt.NDArray[np.float64]:
        """``quantile`` of each q, as a float64 array."""

    def cdf(self, x: _Number) -> float:
        """The fraction of the weight at or below ``x`` (NaN when empty): 0.0 below
        ``min``, 1.0 from ``max`` on; ±inf are allowed, NaN is not."""

    def merge(self, other: TDigest | None) -> None:
        """Fold ``other`` in (it is untouched; ``None`` is a no-op). Compressions may
        differ: this digest keeps its own."""

    @staticmethod
    def merge_all(digests: Iterable[TDigest], compression: float | None = None) -> TDigest:
        """A new digest of all ``digests`` built in one pass, more accurate than merging
        them one by one; its compression is ``compression`` or else the first digest's
        (200 for none). The result does not depend on the order of ``digests``."""

    @staticmethod
    def merge_images(images: Iterable[bytes], compression: float | None = None) -> TDigest:
        """``merge_all`` of the digests whose images (``to_bytes``) are ``images``,
        parsed and merged natively with the GIL released (no digest object per image).
        An image that is not ours raises :class:`datanexus.SerializationError` naming
        its position (``image 3: …``), and nothing is merged; a non-bytes item raises
        :class:`datanexus.InvalidType`. No images: an empty digest."""

    def centroids(self) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]:
        """The centroids' means and weights, ascending by mean."""

    def clear(self) -> None:
        """Forget everything, keeping the compression."""

    def copy(self) -> TDigest: ...
    def __copy__(self) -> TDigest: ...
    def __deepcopy__(self, memo: Any) -> TDigest: ...
    def to_bytes(self) -> bytes:
        """Our versioned image: about 10 bytes per centroid plus 53."""

    @classmethod
    def from_bytes(cls, data: bytes | bytearray) -> TDigest:
        """Read an image of ``to_bytes``; anything else raises
        :class:`datanexus.SerializationError`."""

    def __reduce__(self) -> tuple[Any, tuple[bytes]]: ...
    def __eq__(self, value: object, /) -> bool: ...
    __hash__: None  # type: ignore[assignment]

_Duration: TypeAlias = timedelta | int

@final
class WindowResult:
    """One emission of an event-time window: the window's values at that point.

    ``key`` is the tuple of the group-by values; ``start`` and ``end`` the window
    ``[start, end)`` as aware UTC datetimes (``start_ms``, ``end_ms``: epoch ms);
    ``values`` maps each measure name to its value (an int, a float, bytes for the sketch
    images of ``digest(f)`` and ``hll(f)``, or None when the window holds no value of the
    measure's field). ``revision`` is 0 for the window's first
    emission and +1 for each amendment by late events, which carries the values it replaces
    in ``previous``. Results are identified by ``(key, start)``: a sink upserting on that
    and keeping the highest revision converges. ``retracted`` marks a session window that
    no longer exists (it merged into another, or moved its start); its ``values`` are
    empty and ``previous`` holds its last values: delete it.
    """

    def __new__(
        cls,
        key: tuple[Any, ...],
        start_ms: int,
        end_ms: int,
        values: dict[str, _Value | None],
        revision: int = 0,
        previous: dict[str, _Value | None] | None = None,
        retracted: bool = False,
    ) -> WindowResult: ...
    @property
    def key(self) -> tuple[Any, ...]: ...
    @property
    def start(self) -> datetime:
        """Aware UTC; a time outside the years 1 to 9999 raises
        :class:`datanexus.InvalidArgument` (use ``start_ms``)."""

    @property
    def end(self) -> datetime: ...
    @property
    def start_ms(self) -> int: ...
    @property
    def end_ms(self) -> int: ...
    @property
    def values(self) -> dict[str, _Value | None]:
        """A copy of the measure values."""

    @property
    def revision(self) -> int: ...
    @property
    def previous(self) -> dict[str, _Value | None] | None: ...
    @property
    def retracted(self) -> bool: ...
    def __reduce__(self) -> tuple[Any, tuple[Any, ...]]: ...
    def __eq__(self, value: object, /) -> bool: ...
    __hash__: None  # type: ignore[assignment]

class _WindowStats(TypedDict):
    events: int
    late: int
    late_windows: int
    emitted: int
    amended: int
    retracted: int
    early: int
    purged: int
    windows: int
    open_windows: int
    series: int

class _WindowState(TypedDict):
    key: tuple[Any, ...]
    start: datetime
    end: datetime
    values: dict[str, _Value | None]
    revision: int | None

@final
class WindowEngine:
    """Event-time windows over batches of events, in native code (usable without
    Bytewax; :func:`datanexus.stream.window_aggregate` runs it in a flow).

    ``window`` is ``"tumbling"`` (``size``), ``"sliding"`` (``size`` every ``slide``,
    0 < slide ≤ size) or ``"session"`` (``gap``); grid windows are aligned to the epoch,
    ``[k·size, (k+1)·size)``, with negative times in the window before zero. Durations are
    ``timedelta`` or ints of milliseconds, in whole milliseconds.

    ``measures`` maps result names to specs: ``count``, ``sum(f)``, ``min(f)``,
    ``max(f)``, ``mean(f)``, ``stddev(f)`` (sample), ``pNN(f)`` (``p50``, ``p99``,
    ``p99.9``: t-digest, nearest rank exactly up to its exact-points limit),
    ``distinct(f)`` (HyperLogLog, precision 12, hashed as :class:`HyperLogLog`) and
    ``rate(f)`` (a counter's increase per second between the window's first and last
    samples; a decrease is a reset; one sample → 0). Integer sums are exact, float sums
    compensated; a field that is absent or None is skipped by its measure (as SQL NULL).

    The mergeable state a rollup store keeps (:mod:`datanexus.stream.rollup`):
    ``count(f)`` or ``n(f)`` (values of ``f`` that are not None; a field no other measure
    reads as a number is read as distinct items, so strings count, and ``""`` does not, as
    in :class:`HyperLogLog`), ``m2(f)`` (Welford's sum of squared deviations, None without
    values), ``digest(f)`` / ``digest(f, δ)`` (bytes: ``TDigest(δ).to_bytes()`` of the
    finite values in arrival order, δ 100 by default; None without any) and ``hll(f)`` /
    ``hll(f, p)`` (bytes: ``HyperLogLog(p).to_bytes()`` of the items, p 12 by default;
    None without any). An image shares the state of ``pNN(f)`` (δ 200), ``distinct(f)``
    (p 12) or ``stddev(f)`` on the same field.
    ``group_by`` names the fields of the series key (missing → None); keys keep their
    types (``True``, ``1`` and ``1.0`` are three keys).

    Event time comes from ``time_field``: epoch milliseconds (int or float), an RFC 3339
    string with an offset, or an aware datetime; sub-millisecond parts are dropped
    (floor). Times must lie within ±(2^53 − 1) ms.

    Semantics, event by event in input order: an event updates each of its windows whose
    ``end + allowed_lateness > watermark`` (sessions: judged on the event's own window
    ``[t, t + gap)``); an event that updates none is *late*. A window is emitted once the
    watermark reaches its end, in end order; a change to an emitted window whose end the
    watermark has passed re-emits it at once with ``revision + 1``. The watermark is, per
    partition, the largest event time minus ``max_out_of_orderness``, and overall the
    minimum over active partitions (see :class:`WatermarkTracker`); it never goes back.
    Partitions silent for longer than ``idle_timeout`` on the caller's clock (the ``now``
    readings, in ms) stop holding it back. State is dropped once the watermark passes a
    window's ``end + allowed_lateness`` (sessions: plus one gap). More than
    ``max_open_windows`` windows awaiting their first emission make the oldest emit
    early. Output depends only on each partition's event order and the parameters,
    never on how a stream is cut into batches.

    Bad parameters raise :class:`datanexus.InvalidArgument` (naming the measure, window
    or field) or :class:`datanexus.InvalidType`.
    """

    def __new__(
        cls,
        window: str,
        size: _Duration | None = None,
        slide: _Duration | None = None,
        gap: _Duration | None = None,
        *,
        measures: dict[str, str],
        group_by: Sequence[str] | str | None = None,
        time_field: str = "ts",
        max_out_of_orderness: _Duration | None = None,
        allowed_lateness: _Duration | None = None,
        idle_timeout: _Duration | None = None,
        max_open_windows: int = 10_000,
    ) -> WindowEngine:
        """Defaults: ``max_out_of_orderness`` 0, ``allowed_lateness`` 5 s, no idleness."""

    def process(
        self, events: Iterable[Any], partition: str | int | None = None, now: int | None = None
    ) -> tuple[list[WindowResult], list[Any], list[tuple[Any, str]]]:
        """Process a batch of events (mappings) from one source partition (default
        ``""``); ``now`` is the caller's clock in ms, for idleness. Returns the results in
        emission order, the late events, and ``(event, reason)`` for events that cannot be
        windowed (no or unparseable time, a non-numeric measure field, an unsupported
        group-by value…). The numeric work runs with the GIL released."""

    def process_json(
        self,
        docs: Iterable[bytes | bytearray | str],
        partition: str | int | None = None,
        now: int | None = None,
    ) -> tuple[list[WindowResult], list[Any], list[tuple[Any, str]]]:
        """The raw path: a batch of JSON documents, each an object, parsed natively with
        the GIL released (only the fields the engine reads are decoded). Values mean what
        they mean in :meth:`process` (a JSON time is epoch ms or an RFC 3339 string); a
        duplicated field takes its last value. Late events and errors are the documents
        as given."""

    def process_routed(
        self, batch: ShardBatch, now: int | None = None
    ) -> tuple[list[WindowResult], list[Any]]:
        """Process one shard's part of a batch split by a :class:`WindowRouter`: the
        results and the late events."""

    def process_routed_marks(
        self, batch: ShardBatch, now: int | None = None
    ) -> tuple[list[WindowResult], list[int], list[int]]:
        """:meth:`process_routed` for callers that keep more state per window:
        ``(results, late, marks)``, ``late`` the indices of the too-late events in
        ``batch.events``, ``marks[i]`` the number of results that came out before event
        ``i`` was applied (``results[marks[i]:]`` include it)."""

    def tick(self, now: int) -> list[WindowResult]:
        """Advance the clock (ms); emit what partitions gone idle were holding back."""

    def flush(self) -> list[WindowResult]:
        """End of input: emit every window still waiting, in end order. State stays, so
        input that resumes later amends these windows."""

    def expect_partitions(self, partitions: Iterable[str | int]) -> None:
        """Announce partitions before they speak: each holds the watermark (at None)
        until its first event, or until it goes idle."""

    @property
    def watermark(self) -> int | None:
        """Epoch ms; None until every announced partition has spoken."""

    @property
    def params(self) -> dict[str, Any]:
        """The configuration as the constructor took it, durations in ms: ``window``,
        ``size``, ``slide``, ``gap``, ``measures``, ``group_by``, ``time_field``,
        ``max_out_of_orderness``, ``allowed_lateness``, ``idle_timeout``,
        ``max_open_windows``."""

    @property
    def measures(self) -> list[tuple[str, str]]:
        """``(name, spec)`` of each measure, in order."""

    @property
    def open_windows(self) -> int:
        """Windows not yet emitted."""

    def __len__(self) -> int:
        """Windows held (open, or emitted and within lateness)."""

    def stats(self) -> _WindowStats:
        """Counters for metrics: accepted and late events, emissions, amendments,
        retractions, early emissions, purged windows, and current sizes."""

    def windows(self) -> list[_WindowState]:
        """Every held window's current values (``revision``: of the latest emission)."""

    def copy(self) -> WindowEngine: ...
    def __copy__(self) -> WindowEngine: ...
    def __deepcopy__(self, memo: Any) -> WindowEngine: ...
    def to_bytes(self) -> bytes:
        """Our versioned image: configuration, watermark tracker and every window."""

    @classmethod
    def from_bytes(cls, data: bytes | bytearray) -> WindowEngine:
        """Read :meth:`to_bytes`; anything else raises
        :class:`datanexus.SerializationError`."""

    def __reduce__(self) -> tuple[Any, tuple[bytes]]: ...
    def __eq__(self, value: object, /) -> bool: ...
    __hash__: None  # type: ignore[assignment]

@final
class WindowRouter:
    """Splits a partition's batches by shard (a stable hash of the series key) for
    engines that each hold many series; every part carries the partition's progress, so
    each shard engine emits exactly what one engine of all series would, when it would."""

    def __new__(cls, engine: WindowEngine, shards: int) -> WindowRouter:
        """Reads events as ``engine`` does; ``shards`` in 1..65536."""

    @property
    def shards(self) -> int: ...
    @staticmethod
    def only_dicts(items: list[Any]) -> bool:
        """Whether every item of ``items`` is exactly a dict."""
    def split(
        self,
        events: Iterable[Any],
        partition: str | int | None = None,
        partitions: Iterable[str | int] | None = None,
        now: int | None = None,
    ) -> tuple[list[tuple[int, ShardBatch]], list[tuple[Any, str]]]:
        """The ``(shard, part)`` of the batch (parts without events carry the
        partition's progress when it matters) and the ``(event, reason)`` of events that
        cannot be windowed. ``partitions``, when given, are announced to the engines
        (:meth:`WindowEngine.expect_partitions`)."""

    def split_json(
        self,
        docs: Iterable[bytes | bytearray | str],
        partition: str | int | None = None,
        partitions: Iterable[str | int] | None = None,
        now: int | None = None,
    ) -> tuple[list[tuple[int, ShardBatch]], list[tuple[Any, str]]]:
        """:meth:`split` for JSON documents, read as :meth:`WindowEngine.process_json`
        reads them."""

@final
class ShardBatch:
    """One shard's part of a batch; picklable, so it crosses processes."""

    def __len__(self) -> int: ...
    @property
    def partition(self) -> str | int: ...
    @property
    def events(self) -> list[Any]: ...
    @property
    def times(self) -> list[int]:
        """The event times (epoch ms), aligned with ``events``."""

    @property
    def keys(self) -> list[tuple[Any, ...]]:
        """The series keys (tuples of the group-by values), aligned with ``events``."""

    def __reduce__(self) -> tuple[Any, tuple[bytes, list[Any]]]: ...

def copy_binary(rows: list[Any], kinds: list[str]) -> bytes:
    """The binary COPY tuples of ``rows`` (tuples; one value per column of ``kinds``:
    ``text``, ``bytea``, ``int8``, ``float8``, ``timestamptz_ms``), without signature
    and trailer."""
