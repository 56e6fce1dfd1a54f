"""The registry's typed errors refine the builtins callers already catch."""

from __future__ import annotations

import pytest

from datanexus import errors
from datanexus.pipeline.schema import Level, Violation, ViolationKind


@pytest.mark.parametrize(
    ("cls", "builtin"),
    [
        (errors.CompatibilityError, ValueError),
        (errors.EventMigrationError, ValueError),
        (errors.InvalidSchema, ValueError),
        (errors.SchemaLimitExceeded, ValueError),
        (errors.SchemaNotFound, LookupError),
        (errors.SchemaStateError, ValueError),
    ],
)
def test_schema_errors_are_datanexus_errors_and_their_builtin(cls: type, builtin: type) -> None:
    assert issubclass(cls, errors.DataNexusError)
    assert issubclass(cls, builtin)
    assert cls.__name__ in errors.__all__


def test_PIPE_6_compatibility_error_carries_its_violations() -> None:
    v = Violation(ViolationKind.TYPE_CHANGED, "a.b", Level.ERROR, "integer → string", "BACKWARD", 3)
    error = errors.CompatibilityError("broken", (v,))
    assert error.violations == (v,)
    assert str(v) == "ERROR TYPE_CHANGED at a.b (vs version 3) [BACKWARD]: integer → string"
