"""Running a pipeline spec in this process: what ``datanexus run`` and the demo do.

:func:`prepare` migrates the store and registers the pipeline in the catalog;
:func:`run_flow` runs a Bytewax dataflow here with ``workers`` worker threads (Bytewax's
own execution, as ``python -m bytewax.run -w N`` would) and, when ``recovery_dir`` is
given, with Bytewax recovery so that a restarted run resumes from the last snapshot.
The flow's connector tasks (CONN-8), if its source tracks them, are closed with the run:
STOPPED when it ends normally or is interrupted, FAILED with the error when it raises.
"""

from __future__ import annotations

import logging
from datetime import timedelta
from pathlib import Path
from typing import Any

import psycopg

from datanexus.pipeline import PipelineSpec
from datanexus.pipeline.schema import SchemaRegistry
from datanexus.pipeline.storage import stored_aggregations
from datanexus.store.catalog import CatalogEntry, register_pipeline
from datanexus.store.migrations import migrate

__all__ = ["prepare", "run_flow"]

log = logging.getLogger(__name__)

EPOCH = timedelta(seconds=2)
COMPACTED = {3_600_000, 86_400_000}
RECOVERY_PARTITIONS = 2
"""Fixed, so a recovery directory keeps working when the worker count changes."""


def prepare(database_url: str, schema: str, spec: PipelineSpec) -> list[CatalogEntry]:
    """Migrate ``schema``, register the spec's event schema in the registry (raising
    :class:`~datanexus.errors.CompatibilityError` when it breaks the subject's mode) and
    each stored aggregation in the catalog (its version rises when the spec changed)."""
    entries: list[CatalogEntry] = []
    with psycopg.connect(database_url, autocommit=True) as conn:
        migrate(conn, schema)
        if spec.schema is not None:
            # An incompatible schema change stops the start with every violation listed.
            registry = SchemaRegistry(conn, schema=schema, tenant=spec.tenant)
            registry.set_compatibility(spec.schema.subject, spec.schema.compatibility)
            registry.register(spec.schema.subject, spec.schema.document)
        for stored in stored_aggregations(spec):
            granularities = {stored.aggregation.size_ms}
            if 60_000 in granularities:
                granularities |= COMPACTED  # compaction builds these from the minutes
            metrics = {field: sorted(kinds) for field, kinds in stored.fields.items()}
            metrics["*"] = ["count"]
            entries.append(
                register_pipeline(
                    conn,
                    schema,
                    tenant=spec.tenant,
                    name=stored.rollup_name,
                    spec=spec.text,
                    dims=stored.aggregation.group_by,
                    metrics=metrics,
                    granularities=granularities,
                )
            )
    return entries


def run_flow(
    flow: Any,
    *,
    workers: int = 1,
    recovery_dir: Path | None = None,
    epoch: timedelta = EPOCH,
) -> None:
    """Run ``flow`` to completion (or until interrupted) in this process. The tasks of
    its tracked sources this process ran are finished with the run (see the module);
    the run's own exception always propagates unchanged."""
    from bytewax._bytewax import cli_main
    from bytewax.recovery import RecoveryConfig, init_db_dir

    from datanexus.stream.task_tracking import finish_run

    recovery = None
    if recovery_dir is not None:
        if not recovery_dir.exists() or not any(recovery_dir.iterdir()):
            recovery_dir.mkdir(parents=True, exist_ok=True)
            init_db_dir(recovery_dir, RECOVERY_PARTITIONS)  # type: ignore[no-untyped-call]
        recovery = RecoveryConfig(str(recovery_dir))  # type: ignore[no-untyped-call]
    try:
        cli_main(  # type: ignore[no-untyped-call]
            flow,
            workers_per_process=workers,
            process_id=None,
            addresses=None,
            epoch_interval=epoch,
            recovery_config=recovery,
        )
    except BaseException as error:
        finish_run(flow, error)
        raise
    finish_run(flow, None)
