"""Event schemas: the registry, compatibility, diffs, inference, event migrations and
validation (PIPE-2..9). See docs/schemas.md.

The public surface::

    SchemaRegistry(conn, schema="datanexus", tenant="acme")   # versions in PostgreSQL
    check_compatibility(new, [old, ...], "BACKWARD")          # -> [Violation]
    diff(old, new), infer_schema(samples)                     # fields added/removed/modified
    Migrator([SchemaMigration(1, 2, (Operation.rename("name", "full_name"), ...))])
    SchemaValidator(schema).errors(event)                     # ["/items/0/price: ..."]
"""

from __future__ import annotations

from .canonical import MAX_SCHEMA_BYTES, MAX_SCHEMA_DEPTH, Schema, canonical_text, fingerprint
from .compatibility import (
    CompatibilityMode,
    Level,
    Violation,
    ViolationKind,
    check_compatibility,
    ensure_compatible,
)
from .diff import ChangeKind, FieldChange, SchemaDiff, diff
from .event_migrations import Migrator, Operation, OpKind, SchemaMigration
from .inference import infer_schema
from .registry import RegisteredSchema, SchemaRegistry, SchemaVersion
from .validator import SchemaValidator

__all__ = [
    "MAX_SCHEMA_BYTES",
    "MAX_SCHEMA_DEPTH",
    "ChangeKind",
    "CompatibilityMode",
    "FieldChange",
    "Level",
    "Migrator",
    "OpKind",
    "Operation",
    "RegisteredSchema",
    "Schema",
    "SchemaDiff",
    "SchemaMigration",
    "SchemaRegistry",
    "SchemaValidator",
    "SchemaVersion",
    "Violation",
    "ViolationKind",
    "canonical_text",
    "check_compatibility",
    "diff",
    "ensure_compatible",
    "fingerprint",
    "infer_schema",
]
