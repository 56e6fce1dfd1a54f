"""The outermost ASGI layer of the API: request context, CORS, metrics, last-resort errors.

Per HTTP request it: picks the correlation id (OBS-4) and a span continuing the caller's
``traceparent`` (OBS-3), binds them for logs (OBS-5) and resets them afterwards; answers
CORS preflights with 204 before any authentication, from the origin allow-list (API-2);
adds the correlation id, ``traceparent``, CORS and rate-limit headers to every response;
counts the request by method, route template and status (OBS-1); and turns an exception
nobody handled into the 500 envelope with the correlation id, logged with its traceback
but never sent (API-1).
"""

from __future__ import annotations

import json
import logging
import re
import time
from collections.abc import Iterable
from typing import Any

import structlog
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from datanexus.api.errors import envelope, map_error
from datanexus.api.metrics import ApiMetrics, method_label
from datanexus.api.ratelimit import QuotaDecision
from datanexus.api.settings import ApiSettings
from datanexus.api.tracing import (
    child_of,
    correlation_id,
    current_span,
    parse_traceparent,
    pick_correlation_id,
)

__all__ = ["RequestContext", "ratelimit_headers"]

log = logging.getLogger(__name__)

_ALLOWED_HEADERS = (
    "authorization, content-type, content-encoding, x-api-key, "
    "x-correlation-id, traceparent, tracestate"
)
_EXPOSED = (
    "x-correlation-id, traceparent, retry-after, ratelimit, ratelimit-policy, "
    "x-ratelimit-limit, x-ratelimit-remaining, x-ratelimit-reset"
)


def ratelimit_headers(decision: QuotaDecision, window_s: int) -> list[tuple[str, str]]:
    """RateLimit-Policy / RateLimit (IETF draft 7 syntax) and the X-RateLimit trio;
    reset in seconds until a slot frees (X-RateLimit-Reset: epoch seconds)."""
    reset_s = max(0, -(-decision.reset_ms // 1000))
    return [
        ("ratelimit-policy", f"{decision.limit};w={window_s}"),
        ("ratelimit", f"limit={decision.limit}, remaining={decision.remaining}, reset={reset_s}"),
        ("x-ratelimit-limit", str(decision.limit)),
        ("x-ratelimit-remaining", str(decision.remaining)),
        ("x-ratelimit-reset", str(-(-(decision.now_ms + decision.reset_ms) // 1000))),
    ]


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope.get("headers", ()):
        if key == name:
            return bytes(value).decode("latin-1")
    return None


class RequestContext:
    """See the module docstring; wraps the whole FastAPI app."""

    def __init__(self, app: ASGIApp, settings: ApiSettings, metrics: ApiMetrics) -> None:
        self.app = app
        self.settings = settings
        self.metrics = metrics
        self.origins = frozenset(settings.cors_origins)

    def _origin_allowed(self, origin: str | None) -> bool:
        return origin is not None and (origin in self.origins or "*" in self.origins)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        cid = pick_correlation_id(_header(scope, b"x-correlation-id"))
        span = child_of(parse_traceparent(_header(scope, b"traceparent")))
        cid_token = correlation_id.set(cid)
        span_token = current_span.set(span)
        structlog.contextvars.clear_contextvars()
        try:
            if scope["type"] == "websocket":
                await self.app(scope, receive, send)
            else:
                await self._http(scope, receive, send, cid, span.traceparent)
        finally:
            structlog.contextvars.clear_contextvars()
            current_span.reset(span_token)
            correlation_id.reset(cid_token)

    async def _http(
        self, scope: Scope, receive: Receive, send: Send, cid: str, traceparent: str
    ) -> None:
        origin = _header(scope, b"origin")
        method = scope["method"]
        started = time.perf_counter()
        status = 500
        response_started = False

        if method == "OPTIONS" and origin and _header(scope, b"access-control-request-method"):
            await self._preflight(scope, send, origin, cid, traceparent)
            self._count(scope, method, 204 if self._origin_allowed(origin) else 403, started)
            return

        refusal = _content_type_refusal(scope)
        if refusal is not None:
            await _send_json(
                send,
                415,
                envelope("UNSUPPORTED_MEDIA_TYPE", refusal, {}),
                [("x-correlation-id", cid), ("traceparent", traceparent)],
            )
            self._count(scope, method, 415, started)
            return

        async def send_wrapper(message: Message) -> None:
            nonlocal status, response_started
            if message["type"] == "http.response.start":
                response_started = True
                status = int(message["status"])
                headers = list(message.get("headers", []))
                headers.extend(self._extra_headers(scope, origin, cid, traceparent))
                message = {**message, "headers": headers}
            await send(message)

        try:
            await self.app(scope, receive, send_wrapper)
        except Exception as error:
            log.exception("unhandled error in %s %s", method, _route(scope))
            if response_started:
                # Too late for an envelope; the client sees a cut response. Not re-raised:
                # it is logged above, and the server would only log it again.
                return
            mapped = map_error(error, cid)
            status = mapped.status
            await _send_json(
                send_wrapper,
                mapped.status,
                envelope(mapped.code, mapped.message, mapped.details),
                mapped.headers.items(),
            )
        finally:
            self._count(scope, method, status, started)

    def _extra_headers(
        self, scope: Scope, origin: str | None, cid: str, traceparent: str
    ) -> list[tuple[bytes, bytes]]:
        out = [(b"x-correlation-id", cid.encode()), (b"traceparent", traceparent.encode())]
        decision = scope.get("state", {}).get("ratelimit")
        if isinstance(decision, QuotaDecision):
            out.extend(
                (k.encode(), v.encode())
                for k, v in ratelimit_headers(decision, self.settings.rate_limit_window_s)
            )
        if self._origin_allowed(origin) and origin is not None:
            out.extend(
                [
                    (b"access-control-allow-origin", origin.encode("latin-1")),
                    (b"access-control-expose-headers", _EXPOSED.encode()),
                    (b"vary", b"Origin"),
                ]
            )
        return out

    async def _preflight(
        self, scope: Scope, send: Send, origin: str, cid: str, traceparent: str
    ) -> None:
        base = [(b"x-correlation-id", cid.encode()), (b"traceparent", traceparent.encode())]
        if not self._origin_allowed(origin):
            await _send_json(
                send,
                403,
                envelope("CORS_ORIGIN_DENIED", "origin not allowed", {}),
                [(k.decode(), v.decode()) for k, v in base],
            )
            return
        headers = [
            *base,
            (b"access-control-allow-origin", origin.encode("latin-1")),
            (b"access-control-allow-methods", b"GET, POST, PUT, PATCH, DELETE, OPTIONS"),
            (b"access-control-allow-headers", _ALLOWED_HEADERS.encode()),
            (b"access-control-max-age", b"86400"),
            (b"vary", b"Origin"),
        ]
        await send({"type": "http.response.start", "status": 204, "headers": headers})
        await send({"type": "http.response.body", "body": b""})

    def _count(self, scope: Scope, method: str, status: int, started: float) -> None:
        route = _route(scope)
        m = method_label(method)
        if log.isEnabledFor(logging.INFO):
            log.info(
                "request",
                extra={
                    "method": m,
                    "route": route,
                    "status": status,
                    "duration_ms": round((time.perf_counter() - started) * 1000, 3),
                },
            )
        self.metrics.requests.labels(method=m, route=route, status=str(status)).inc()
        self.metrics.latency.labels(method=m, route=route).observe(time.perf_counter() - started)


_INGEST_PATH = re.compile(r"^/v1/streams/[^/]+/events/?$")
_JSON = ("application/json",)
_NDJSON = ("application/x-ndjson", "application/ndjson", "application/jsonl")


def _content_type_refusal(scope: Scope) -> str | None:
    """Why a write's body type is refused (API-1), or None: writes with a body must be
    JSON; the ingestion route also takes NDJSON."""
    if scope["method"] not in ("POST", "PUT", "PATCH"):
        return None
    length = _header(scope, b"content-length")
    if (length is None or length == "0") and _header(scope, b"transfer-encoding") is None:
        return None
    ctype = (_header(scope, b"content-type") or "").split(";")[0].strip().lower()
    allowed = _JSON + _NDJSON if _INGEST_PATH.match(scope["path"]) else _JSON
    if ctype in allowed or (ctype.startswith("application/") and ctype.endswith("+json")):
        return None
    return f"content type {ctype or '(none)'!r} not accepted here; use {' or '.join(allowed)}"


def _route(scope: Scope) -> str:
    route = scope.get("route")
    path = getattr(route, "path", None)
    return path if isinstance(path, str) else "<unmatched>"


async def _send_json(
    send: Send, status: int, body: dict[str, Any], headers: Iterable[tuple[str, str]]
) -> None:
    data = json.dumps(body, separators=(",", ":")).encode()
    raw = [
        (b"content-type", b"application/json"),
        (b"content-length", str(len(data)).encode()),
        *((k.lower().encode(), v.encode()) for k, v in headers),
    ]
    await send({"type": "http.response.start", "status": status, "headers": raw})
    await send({"type": "http.response.body", "body": data})
