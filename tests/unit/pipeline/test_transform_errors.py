"""The pipeline's error classes sit in the one hierarchy."""

from __future__ import annotations

import datanexus
from datanexus import errors


def test_transform_errors_are_datanexus_value_errors():
    for cls in (errors.TransformError, errors.MissingField):
        assert issubclass(cls, errors.DataNexusError)
        assert issubclass(cls, ValueError)
        assert getattr(datanexus, cls.__name__) is cls
    assert issubclass(errors.MissingField, errors.TransformError)
    exc = errors.TransformError("bad value", step="cast_0")
    assert (str(exc), exc.reason, exc.step) == ("cast_0: bad value", "bad value", "cast_0")
    assert str(errors.TransformError("bad value")) == "bad value"
