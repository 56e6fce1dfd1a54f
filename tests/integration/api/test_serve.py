"""`serve` runs the app under uvicorn with WebSockets and JSON logs (a real socket)."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time

import httpx2 as httpx
import pytest
from tests.integration.api.api_helpers import Tenant
from websockets.sync.client import connect


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_serve_answers_http_and_websocket(
    database_url: str, redis_url: str, api_schema: str, prefix: str, tenant_a: Tenant
) -> None:
    port = _free_port()
    code = (
        "from datanexus.api import ApiSettings, serve; "
        f"serve(ApiSettings(database_url={database_url!r}, redis_url={redis_url!r}, "
        f"db_schema={api_schema!r}, stream_prefix={prefix!r}, key_prefix={prefix!r}, "
        f"port={port}))"
    )
    proc = subprocess.Popen(
        [sys.executable, "-c", code], stderr=subprocess.PIPE, env={**os.environ}, text=True
    )
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                r = httpx.get(f"http://127.0.0.1:{port}/ready", timeout=2)
                break
            except httpx.TransportError:
                if time.monotonic() > deadline or proc.poll() is not None:
                    pytest.fail("the server did not start")
                time.sleep(0.1)
        assert r.status_code == 200, r.text
        assert httpx.get(f"http://127.0.0.1:{port}/v1/keys", timeout=2).status_code == 401
        with connect(
            f"ws://127.0.0.1:{port}/v1/live", additional_headers={"X-API-Key": tenant_a.key}
        ) as ws:
            assert json.loads(ws.recv(timeout=5)) == {"type": "ready", "tenant": tenant_a.id}
    finally:
        proc.terminate()
        _, err = proc.communicate(timeout=20)
    lines = [json.loads(line) for line in err.splitlines() if line.startswith("{")]
    requests = [x for x in lines if x.get("event") == "request"]
    assert {x["route"] for x in requests} >= {"/ready", "/v1/keys"}
    assert all({"request_id", "trace_id", "span_id", "tenant"} <= set(x) for x in requests)
    assert tenant_a.key not in err
