"""Type stubs and user documentation for the native extension ``datanexus._native``.

Import these types from :mod:`datanexus`, not from here. Checked against the build by
``mypy.stubtest`` in ``make lint``.
"""

from collections.abc import Iterable
from typing import Any, TypeAlias, final

import numpy.typing as npt

__all__ = ["HyperLogLog", "__version__"]

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
    def __eq__(self, value: object, /) -> bool:
        """Identical state: precision, mode, coupons or registers, and estimator. A merged
        sketch and a one-pass sketch of the same items have equal ``registers()`` but may
        differ here, since only the latter keeps its HIP estimate."""

    __hash__: None  # type: ignore[assignment]
