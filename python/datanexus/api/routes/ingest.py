"""``POST /v1/streams/{stream}/events`` (API-3); see :mod:`datanexus.api.ingest`."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path, Query, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel

from datanexus.api.auth import Caller, api_state, require
from datanexus.api.errors import ApiError
from datanexus.api.ingest import Ingestor, check_rows_encoded, decode_body, received_at
from datanexus.api.models import underscore_key_path
from datanexus.api.schemas import AUTH_ERRORS
from datanexus.errors import RateLimited

router = APIRouter(prefix="/v1", tags=["ingestion"], responses=AUTH_ERRORS)

StreamName = Annotated[str, Path(pattern=r"^[a-z0-9][a-z0-9_.-]{0,62}$")]


class RowOutcome(BaseModel):
    index: int
    status: str
    id: str | None = None
    error: str | None = None


class IngestResult(BaseModel):
    stream: str
    accepted: int
    rejected: int
    published: bool
    results: list[RowOutcome]


_BODY_DOC: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "content": {
            "application/json": {"schema": {"type": "array", "items": {"type": "object"}}},
            "application/x-ndjson": {"schema": {"type": "string"}},
        },
    }
}


@router.post(
    "/streams/{stream}/events",
    response_model=IngestResult,
    status_code=202,
    responses={
        200: {"model": IngestResult},
        207: {"model": IngestResult},
    },
    openapi_extra=_BODY_DOC,
)
async def ingest_events(
    stream: StreamName,
    request: Request,
    principal: Caller,
    wait: Annotated[bool, Query()] = False,
) -> Any:
    """Publish a batch: 202 buffered, 200 published (``wait=true``), 207 when some rows
    were refused (the others are accepted; see ``results``)."""
    require(principal, f"streams:write:{stream}", write=True)
    state = api_state(request)
    limit = state.settings.max_body_bytes
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise ApiError(413, "PAYLOAD_TOO_LARGE", f"body exceeds {limit} bytes")
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise ApiError(413, "PAYLOAD_TOO_LARGE", f"body exceeds {limit} bytes")
        chunks.append(chunk)
    rows = decode_body(
        b"".join(chunks),
        request.headers.get("content-type", ""),
        request.headers.get("content-encoding", ""),
        limit,
    )
    if not rows:
        raise ApiError(400, "INVALID_BODY", "the batch holds no events")
    where = underscore_key_path(rows)
    if where is not None:
        raise ApiError(
            422,
            "VALIDATION_FAILED",
            f"key {where} starts with '_': such keys are never accepted; nothing was published",
            {"path": where},
        )
    events, encoded, results = check_rows_encoded(rows, principal.tenant, stream, received_at())
    ingestor: Ingestor = state.ingest
    if events and state.gcra is not None:
        quota = principal.quota_events_per_s
        rate = state.gcra.rate_per_s if quota is None else float(quota)
        wait_s = await state.gcra.take(principal.tenant, len(events), rate)
        if wait_s is not None:
            state.metrics.rate_limited.labels(stage="events").inc()
            raise RateLimited(
                f"event rate of this tenant exceeded ({rate:g}/s); batch of {len(events)}",
                Ingestor.retry_after(wait_s),
            )
    if events:
        await ingestor.submit(principal.tenant, stream, encoded, wait)
    rejected = len(rows) - len(events)
    state.metrics.events.labels(stage="accepted").inc(len(events))
    state.metrics.events.labels(stage="rejected").inc(rejected)
    # Plain dicts in the shape of IngestResult: a model per row costs more than the rest
    # of the request for large batches (the OpenAPI schema still documents the shape).
    body = {
        "stream": stream,
        "accepted": len(events),
        "rejected": rejected,
        "published": wait and bool(events),
        "results": [r.as_json() for r in results],
    }
    status = 207 if rejected else (200 if wait else 202)
    return JSONResponse(body, status_code=status)
