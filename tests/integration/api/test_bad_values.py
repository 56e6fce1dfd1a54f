"""Values PostgreSQL cannot hold answer 4xx in the error envelope, never 500."""

from __future__ import annotations

from fastapi.testclient import TestClient
from tests.integration.api.api_helpers import Tenant


def test_nul_in_a_path_parameter_is_a_bad_request(client: TestClient, tenant_a: Tenant) -> None:
    reply = client.get("/v1/streams/we%00b", headers=tenant_a.headers)
    assert reply.status_code == 422, reply.text  # the path pattern refuses it first
    assert set(reply.json()) == {"error"}


def test_a_database_data_error_maps_to_400_without_its_message() -> None:
    import psycopg

    from datanexus.api.errors import map_error

    mapped = map_error(psycopg.DataError("text fields cannot contain NUL (0x00) bytes"), "c1")
    assert (mapped.status, mapped.code) == (400, "INVALID_ARGUMENT")
    assert "0x00" not in mapped.message


def test_nul_in_a_body_is_unprocessable(client: TestClient, tenant_a: Tenant) -> None:
    reply = client.post("/v1/teams", json={"name": "a\x00"}, headers=tenant_a.headers)
    assert reply.status_code == 422, reply.text
    assert "NUL" in reply.text
