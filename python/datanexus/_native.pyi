"""Type stubs and user documentation for the native extension ``datanexus._native``.

Import these types from :mod:`datanexus`, not from here. Checked against the build by
``mypy.stubtest`` in ``make lint``.
"""

from collections.abc import Iterable, Sequence
from typing import Any, TypeAlias, final

import numpy as np
import numpy.typing as npt

__all__ = ["HyperLogLog", "TDigest", "__version__"]

__version__: str

_Item: TypeAlias = int | float | str | bytes | bytearray

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
