"""Any pipeline spec as a Bytewax flow:

    python -m bytewax.run "flows.pipeline:build('pipelines/web.toml')"
    python -m bytewax.run "flows.pipeline:build('pipelines/web.toml')" -w 2
    python -m bytewax.run "flows.pipeline:build('pipelines/web.toml', until_end=True)" \\
        -r .datanexus/recovery/web -s 10

The servers come from the settings (``DATANEXUS_*_URL``), or are the embedded ones under
the data directory, kept for the life of the process. The store is migrated and the
pipeline registered before the flow is returned. The logic lives in
:mod:`datanexus.stream.pipeline_flow` and :mod:`datanexus.runner`.
"""

from __future__ import annotations

import atexit

from bytewax.dataflow import Dataflow

from datanexus.config import load_settings
from datanexus.pipeline import load_spec
from datanexus.runner import prepare
from datanexus.store.embedded import open_services
from datanexus.stream.pipeline_flow import FlowTargets, build_pipeline_flow

__all__ = ["build"]


def build(spec_path: str, *, until_end: bool = False) -> Dataflow:
    """The dataflow of the spec at ``spec_path``; ``until_end`` stops at the end of what
    the source holds now. Bad specs or settings raise ConfigError naming file and key."""
    settings = load_settings()
    spec = load_spec(spec_path)
    services = open_services(settings)
    atexit.register(services.close)
    prepare(services.database_url, settings.schema, spec)
    targets = FlowTargets(
        services.database_url, services.redis_url, services.amqp_url, settings.schema
    )
    return build_pipeline_flow(spec, targets, stop_at_end=until_end)
