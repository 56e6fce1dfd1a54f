"""Chaos tests use the integration suite's server fixtures (loaded from its conftest, as
pytest does not share fixtures between sibling directories) and can restart a server.

Restarts hit the servers every test shares: each helper restarts one server, waits until
it answers again, and is used by one short test, run last (the file name sorts last).
"""

from __future__ import annotations

import contextlib
import importlib.util
import os
import subprocess
import time
from pathlib import Path

import psycopg
import pytest
import redis

_spec = importlib.util.spec_from_file_location(
    "_integration_conftest", Path(__file__).parents[1] / "integration" / "conftest.py"
)
assert _spec is not None
assert _spec.loader is not None
_integration = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(_integration)

database_url = _integration.database_url
redis_url = _integration.redis_url
amqp_url = _integration.amqp_url
pg = _integration.pg
schema = _integration.schema

ROOT = Path(__file__).parents[2]
SBIN = os.pathsep.join(["/usr/local/sbin", "/usr/sbin", "/sbin"])


def _env() -> dict[str, str]:
    return {**os.environ, "PATH": os.environ.get("PATH", "") + os.pathsep + SBIN}


def wait_until(probe: object, what: str, timeout: float = 90.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if probe():  # type: ignore[operator]
                return
        except Exception:  # the server is still coming back
            pass
        time.sleep(0.2)
    raise pytest.fail.Exception(f"{what} did not come back within {timeout} s", pytrace=False)


def restart_postgres(url: str) -> None:
    versions = sorted(p.name for p in Path("/usr/lib/postgresql").iterdir())
    subprocess.run(
        ["pg_ctlcluster", versions[-1], "main", "restart", "-m", "fast"],
        check=True, timeout=120, env=_env(), capture_output=True,
    )  # fmt: skip
    wait_until(lambda: psycopg.connect(url, connect_timeout=2).close() is None, "PostgreSQL")


def restart_redis(url: str) -> None:
    """SHUTDOWN SAVE, then start the server again as scripts/services.sh does, on the same
    data directory, so the RDB file (streams included) is loaded back."""
    client = redis.Redis.from_url(url, socket_timeout=10)
    data_dir = str(client.config_get("dir")["dir"])
    port = str(client.connection_pool.connection_kwargs.get("port", 6379))
    # Shutting down closes our connection.
    with contextlib.suppress(redis.ConnectionError):
        client.shutdown(save=True)
    client.close()
    wait_until(lambda: _redis_down(url), "Redis shutdown", timeout=30)
    # Daemonized, so no child of ours outlives the test; same options as the script.
    subprocess.run(
        ["redis-server", "--bind", "127.0.0.1", "--port", port, "--dir", data_dir,
         "--pidfile", str(Path(data_dir) / "redis.pid"), "--daemonize", "yes",
         "--logfile", str(Path(data_dir) / "redis.log")],
        check=True, timeout=30, env=_env(), capture_output=True, stdin=subprocess.DEVNULL,
    )  # fmt: skip
    wait_until(lambda: redis.Redis.from_url(url, socket_timeout=2).ping(), "Redis")


def _redis_down(url: str) -> bool:
    try:
        redis.Redis.from_url(url, socket_timeout=1).ping()
    except redis.ConnectionError:
        return True
    return False


def _rabbit_node() -> str:
    if os.environ.get("RABBITMQ_NODENAME"):
        return os.environ["RABBITMQ_NODENAME"]
    host = os.uname().nodename.split(".")[0]
    resolves = subprocess.run(["getent", "hosts", host], capture_output=True).returncode == 0
    return f"rabbit@{host}" if resolves else "rabbit@localhost"


def restart_rabbitmq(url: str) -> None:
    import pika

    node = _rabbit_node()
    for command in ("stop_app", "start_app"):
        subprocess.run(
            ["rabbitmqctl", "-n", node, command],
            check=True, timeout=120, env=_env(), capture_output=True,
        )  # fmt: skip

    def up() -> bool:
        pika.BlockingConnection(pika.URLParameters(url)).close()
        return True

    wait_until(up, "RabbitMQ")
