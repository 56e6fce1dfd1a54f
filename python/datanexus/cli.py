"""The ``datanexus`` command.

Every command reads the settings (:mod:`datanexus.config`: defaults < ``datanexus.toml``
< ``DATANEXUS_*``) and uses the configured servers, or embedded ones under the data
directory when no URL is set. Errors of DataNexus's own kinds print one clear line and
exit with status 2 (bad input or configuration) or 3 (a server unavailable); anything
else is a bug and shows its traceback.
"""

from __future__ import annotations

import json
import logging
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any, Literal, TypeVar

import typer
from rich.console import Console
from rich.table import Table

from datanexus.config import Settings, load_settings
from datanexus.errors import DataNexusError, ServiceUnavailable

__all__ = ["app", "main"]

app = typer.Typer(
    name="datanexus",
    help="Real-time pipelines and event-time analytics.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
pipeline_app = typer.Typer(help="Check and preview pipeline specs.", no_args_is_help=True)
app.add_typer(pipeline_app, name="pipeline")
tenant_app = typer.Typer(help="Tenants and their first API key.", no_args_is_help=True)
app.add_typer(tenant_app, name="tenant")
task_app = typer.Typer(help="Connector tasks: pause, resume, stop, offsets.", no_args_is_help=True)
app.add_typer(task_app, name="task")

console = Console()
err = Console(stderr=True)
T = TypeVar("T")


def _fail(error: DataNexusError) -> typer.Exit:
    err.print(f"[bold red]error:[/] {error}", highlight=False, soft_wrap=True)
    return typer.Exit(3 if isinstance(error, ServiceUnavailable) else 2)


def _guard(fn: Callable[[], T]) -> T:
    try:
        return fn()
    except DataNexusError as error:
        raise _fail(error) from None


@contextmanager
def _services(settings: Settings) -> Iterator[Any]:
    from datanexus.store.embedded import open_services

    services = _guard(lambda: open_services(settings))
    try:
        yield services
    finally:
        services.close()


def _settings() -> Settings:
    settings = _guard(load_settings)
    logging.basicConfig(
        level=settings.log_level.upper(), format="%(levelname)s %(name)s: %(message)s"
    )
    return settings


@app.command()
def demo(
    events: Annotated[int, typer.Option(help="Events over the simulated day.")] = 1_000_000,
    workers: Annotated[int, typer.Option("--workers", "-w", help="Bytewax worker threads.")] = 1,
) -> None:
    """Generate a day of events for the example pipelines, run them, print the rollups."""
    from datanexus.demo import run_demo

    settings = _settings()
    with _services(settings) as services:
        _guard(lambda: run_demo(settings, services, events=events, workers=workers, out=console))


@app.command()
def run(
    spec: Annotated[Path, typer.Argument(help="The pipeline spec (TOML).")],
    workers: Annotated[int, typer.Option("--workers", "-w", help="Bytewax worker threads.")] = 1,
    until_end: Annotated[
        bool, typer.Option(help="Stop at the end of what the source holds at start.")
    ] = False,
    recovery: Annotated[bool, typer.Option(help="Snapshot state to resume after a crash.")] = True,
) -> None:
    """Run a pipeline until interrupted (or to the end of its input with --until-end)."""
    from datanexus.pipeline import load_spec
    from datanexus.runner import prepare, run_flow
    from datanexus.stream.pipeline_flow import FlowTargets, build_pipeline_flow

    settings = _settings()
    loaded = _guard(lambda: load_spec(spec))
    with _services(settings) as services:
        entries = _guard(lambda: prepare(services.database_url, settings.schema, loaded))
        targets = FlowTargets(
            services.database_url, services.redis_url, services.amqp_url, settings.schema
        )
        flow = _guard(lambda: build_pipeline_flow(loaded, targets, stop_at_end=until_end))
        stored = ", ".join(f"{e.name} v{e.version}" for e in entries) or "none"
        console.print(f"running pipeline [bold]{loaded.name}[/] (rollups: {stored})")
        directory = settings.data_dir / "recovery" / loaded.name if recovery else None
        run_flow(flow, workers=workers, recovery_dir=directory)


@pipeline_app.command("check")
def pipeline_check(
    specs: Annotated[list[Path], typer.Argument(help="Spec files to validate.")],
) -> None:
    """Validate spec files without running anything."""
    from datanexus.pipeline import load_spec

    failed = False
    for path in specs:
        try:
            spec = load_spec(path)
        except DataNexusError as error:
            err.print(f"[red]✗[/] {error}", highlight=False, soft_wrap=True)
            failed = True
            continue
        console.print(
            f"[green]✓[/] {path}: pipeline {spec.name!r}, {len(spec.steps)} steps, "
            f"{len(spec.aggregations)} aggregations"
        )
    if failed:
        raise typer.Exit(2)


@pipeline_app.command("preview")
def pipeline_preview(
    spec: Annotated[Path, typer.Argument(help="The pipeline spec (TOML).")],
    samples: Annotated[
        Path | None, typer.Option(help="JSON lines of sample events (default: generated).")
    ] = None,
    count: Annotated[int, typer.Option(help="Generated samples when no file is given.")] = 5,
) -> None:
    """Show each step's output and errors on sample events; nothing is written anywhere."""
    from datanexus.demo import sample_events
    from datanexus.pipeline import load_spec, preview
    from datanexus.pipeline.schema import SchemaValidator

    loaded = _guard(lambda: load_spec(spec))
    if samples is not None:
        lines = samples.read_text(encoding="utf-8").splitlines()
        events = [json.loads(line) for line in lines if line.strip()]
    else:
        events = sample_events(loaded.name, count)
    validator = SchemaValidator(loaded.schema.document) if loaded.schema else None
    reports = _guard(lambda: preview(loaded, events, validator=validator))
    for number, report in enumerate(reports, 1):
        table = Table(
            title=f"{number}. {report.step} ({report.op})", title_justify="left", show_header=False
        )
        table.add_column("#", justify="right", style="dim")
        table.add_column("result")
        table.add_column("output or reason", overflow="fold")
        for i, result in enumerate(report.results, 1):
            style = {"ok": "green", "error": "red", "filtered": "yellow"}.get(result.status, "")
            detail = result.error or json.dumps(result.event, default=str, ensure_ascii=False)
            if result.destinations:
                detail += f"  → {', '.join(result.destinations)}"
            table.add_row(
                str(i), f"[{style}]{result.status}[/]" if style else result.status, detail
            )
        console.print(table)


@app.command()
def migrate() -> None:
    """Apply pending schema migrations (also done by every flow at start)."""
    import psycopg

    from datanexus.store.migrations import applied_versions
    from datanexus.store.migrations import migrate as apply

    settings = _settings()
    with _services(settings) as services, psycopg.connect(services.database_url) as conn:
        conn.autocommit = True
        applied = _guard(lambda: apply(conn, settings.schema))
        versions = applied_versions(conn, settings.schema)
    console.print(f"schema {settings.schema!r}: at version {max(versions, default=0)}")
    del applied


@app.command()
def status() -> None:
    """Pipelines, consumer lag, watermarks and dead letters."""
    from datanexus.status import collect_status

    settings = _settings()
    with _services(settings) as services:
        report = _guard(lambda: collect_status(settings, services))
    console.print(report)


@app.command()
def compact() -> None:
    """Merge closed minute rollups into hours and hours into days."""
    import psycopg

    from datanexus.store.compaction import compact as run_compaction

    settings = _settings()
    with _services(settings) as services, psycopg.connect(services.database_url) as conn:
        result = _guard(lambda: run_compaction(conn, settings.schema, datetime.now(UTC)))
    console.print(f"compacted: {result}")


@app.command()
def retain() -> None:
    """Drop raw-event partitions past retention (their rollups stay)."""
    import psycopg

    from datanexus.store.retention import retain as run_retention

    settings = _settings()
    with _services(settings) as services, psycopg.connect(services.database_url) as conn:
        result = _guard(lambda: run_retention(conn, settings.schema, datetime.now(UTC)))
    console.print(f"retention: {result}")


@app.command()
def query(
    text: Annotated[str, typer.Argument(help="SELECT … FROM <pipeline> …")],
    fmt: Annotated[str, typer.Option("--format", help="table, json or csv")] = "table",
    tenant: Annotated[str | None, typer.Option(help="Default: the settings' tenant.")] = None,
) -> None:
    """Query the rollups with the SQL-like language."""
    import psycopg

    from datanexus.query import format_result, run_query

    if fmt not in ("table", "json", "csv"):
        raise typer.BadParameter("--format must be table, json or csv")
    settings = _settings()
    with _services(settings) as services, psycopg.connect(services.database_url) as conn:
        result = _guard(
            lambda: run_query(conn, tenant or settings.tenant, text, schema=settings.schema)
        )
    output = format_result(result, fmt)
    sys.stdout.write(output if output.endswith("\n") else output + "\n")


@tenant_app.command("create")
def tenant_create(
    tenant: Annotated[str, typer.Argument(help="The tenant id ([a-z0-9][a-z0-9_-]*).")],
    platform_admin: Annotated[
        bool, typer.Option(help="The key may also create and suspend other tenants.")
    ] = False,
) -> None:
    """Create a tenant and print its admin API key (shown once, stored hashed)."""
    import psycopg

    from datanexus.api import create_tenant_with_admin_key
    from datanexus.store.migrations import migrate as apply

    settings = _settings()
    with _services(settings) as services, psycopg.connect(services.database_url) as conn:
        conn.autocommit = True
        _guard(lambda: apply(conn, settings.schema))
        key = _guard(
            lambda: create_tenant_with_admin_key(
                conn, settings.schema, tenant, platform_admin=platform_admin
            )
        )
    err.print(f"tenant {tenant!r} created; its admin key (shown once):")
    sys.stdout.write(key + "\n")


@contextmanager
def _task_store() -> Iterator[Any]:
    import psycopg

    from datanexus.connectors.tasks import TaskStore
    from datanexus.store.migrations import migrate as apply

    settings = _settings()
    with _services(settings) as services, psycopg.connect(services.database_url) as conn:
        conn.autocommit = True
        _guard(lambda: apply(conn, settings.schema))
        yield _guard(lambda: TaskStore(conn, settings.schema, settings.tenant))


_FLOW = Annotated[str, typer.Argument(help="The flow (e.g. pipeline_<name>).")]
_TASK = Annotated[str, typer.Argument(help="The task (its source partition).")]


def _change_state(flow: str, task: str, change: Literal["pause", "resume", "stop"]) -> None:
    """Apply the task store's method ``change`` and say the task's new state."""
    with _task_store() as store:
        done = _guard(lambda: getattr(store, change)(flow, task))
    console.print(f"{flow} {task}: {done.state.value}")


@task_app.command("pause")
def task_pause(flow: _FLOW, task: _TASK) -> None:
    """Pause a task (it keeps its worker and offsets)."""
    _change_state(flow, task, "pause")


@task_app.command("resume")
def task_resume(flow: _FLOW, task: _TASK) -> None:
    """Resume a paused or stopped task (RUNNING, or UNASSIGNED until it has a worker)."""
    _change_state(flow, task, "resume")


@task_app.command("stop")
def task_stop(flow: _FLOW, task: _TASK) -> None:
    """Stop a task; only a stopped task's offsets may be changed."""
    _change_state(flow, task, "stop")


@task_app.command("reset-offsets")
def task_reset_offsets(
    flow: _FLOW,
    task: _TASK,
    to: Annotated[
        int | None, typer.Option(help="Set this position instead of starting over.")
    ] = None,
) -> None:
    """Reset (or with --to, alter) a STOPPED task's progress position."""
    with _task_store() as store:
        if to is None:
            _guard(lambda: store.reset_offset(flow, task))
        else:
            _guard(lambda: store.alter_offset(flow, task, to))
    console.print(f"{flow} {task}: offset {'reset' if to is None else f'set to {to}'}")


@app.command()
def serve() -> None:
    """Serve the HTTP API (ingestion, query, live results)."""
    from datanexus.api import ApiSettings
    from datanexus.api import serve as serve_api

    settings = _settings()
    with _services(settings) as services:
        api = ApiSettings(
            database_url=services.database_url,
            redis_url=services.redis_url,
            db_schema=settings.schema,
            host=settings.api.host,
            port=settings.api.port,
            cors_origins=settings.api.cors_origins,
            rate_limit_requests=settings.api.requests_per_minute,
        )
        console.print(f"serving the API on http://{api.host}:{api.port} (docs at /docs)")
        _guard(lambda: serve_api(api))


def main() -> None:
    app()


if __name__ == "__main__":
    main()
