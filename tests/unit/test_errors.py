from __future__ import annotations

import pytest

import datanexus
from datanexus import errors


@pytest.mark.parametrize(
    ("cls", "builtin"),
    [
        (errors.InvalidArgument, ValueError),
        (errors.InvalidType, TypeError),
        (errors.SerializationError, ValueError),
        (errors.IncompatibleSketches, ValueError),
        (errors.ConfigError, ValueError),
        (errors.ServiceUnavailable, ConnectionError),
        (errors.CircuitOpen, ConnectionError),
        (errors.PathNotAllowed, ValueError),
        (errors.MigrationError, RuntimeError),
        (errors.QueryError, ValueError),
        (errors.StreamNotFound, LookupError),
        (errors.QueryTimeout, TimeoutError),
        (errors.StorageError, ConnectionError),
        (errors.SchemaTooNew, RuntimeError),
    ],
)
def test_each_error_is_a_datanexus_error_and_its_builtin(cls: type, builtin: type) -> None:
    assert issubclass(cls, errors.DataNexusError)
    assert issubclass(cls, builtin)
    assert getattr(datanexus, cls.__name__) is cls


def test_native_code_raises_the_python_classes() -> None:
    with pytest.raises(errors.InvalidArgument, match=r"precision must be in 4\.\.=18, got 30"):
        datanexus.HyperLogLog(30)
    with pytest.raises(errors.SerializationError):
        datanexus.HyperLogLog.from_bytes(b"garbage!")
    with pytest.raises(errors.IncompatibleSketches):
        datanexus.HyperLogLog(10).merge(datanexus.HyperLogLog(11))
    with pytest.raises(errors.InvalidType):
        datanexus.HyperLogLog().add(None)  # type: ignore[arg-type]
