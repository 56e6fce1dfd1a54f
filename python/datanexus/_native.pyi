"""Type stubs and user documentation for the native extension ``datanexus._native``.

Import these types from :mod:`datanexus`, not from here. Checked against the build by
``mypy.stubtest`` in ``make lint``.
"""

from collections.abc import Iterable, Sequence
from typing import Any, TypeAlias, TypedDict, final

import numpy as np
import numpy.typing as npt

__all__ = ["HyperLogLog", "RollingAggregate", "TDigest", "WatermarkTracker", "__version__"]

__version__: str

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
