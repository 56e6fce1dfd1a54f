"""``/v1/live``: WebSocket live queries over the Redis live sink (API-4).

Protocol (JSON text frames):

- authenticate with the ``Authorization: Bearer`` or ``X-API-Key`` header of the
  handshake, or with a first message ``{"type": "auth", "key": "dnx_…"}`` within
  ``live_auth_timeout_s``; failure → an ``error`` message and close code 4401. The server
  answers ``{"type": "ready", "tenant": …}``.
- ``{"type": "subscribe", "id": "s1", "pipeline": "web", "filter": {"key_prefix":
  "region=eu"}, "cursor": {"<key>": <revision>, …}}`` (filter and cursor optional; needs
  scope ``streams:read:<pipeline>``; at most ``live_max_subscriptions``). The server first
  sends the stored latest value of every matching key newer than the cursor (resume),
  then each new or amended value as it is published: ``{"type": "update", "subscription":
  "s1", "key": …, "revision": …, "value": {…}}``. ``{"type": "unsubscribe", "id": "s1"}``.
- every ``live_ping_interval_s`` the server sends ``{"type": "ping"}``.

Tenancy: the channel is ``channel_name(<the key's tenant>, pipeline)``; a tenant can only
ever name its own channels, and a pipeline missing from its catalog answers NOT_FOUND.
Slow clients: updates wait in a map keyed by (subscription, key) holding only the newest
revision, so a client that reads slowly gets the latest value of each key, not a backlog;
revisions a client receives for a key only go up.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Any

import psycopg
import redis
import structlog
from fastapi import APIRouter, WebSocket, WebSocketDisconnect
from redis.asyncio.client import PubSub

from datanexus.api.auth import api_state, credential_from, principal_for_key
from datanexus.api.keys import Principal
from datanexus.api.scopes import has_scope
from datanexus.api.state import ApiState
from datanexus.connectors.redis_live import channel_name
from datanexus.errors import DataNexusError, InvalidArgument
from datanexus.store.tenancy import tenant_scope

__all__ = ["router"]

log = logging.getLogger(__name__)
router = APIRouter()

CLOSE_UNAUTHENTICATED = 4401
CLOSE_PROTOCOL = 4400


@dataclass
class _Subscription:
    id: str
    pipeline: str
    channel: str
    key_prefix: str


@dataclass
class _Session:
    state: ApiState
    socket: WebSocket
    principal: Principal
    pubsub: PubSub
    subs: dict[str, _Subscription] = field(default_factory=dict)
    pending: OrderedDict[tuple[str, str], dict[str, Any]] = field(default_factory=OrderedDict)
    sent: dict[tuple[str, str], int] = field(default_factory=dict)
    wake: asyncio.Event = field(default_factory=asyncio.Event)
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)

    async def send(self, body: dict[str, Any]) -> None:
        # One writer at a time: the command loop, the sender and the pinger share it.
        async with self.lock:
            await self.socket.send_json(body)

    def offer(self, sub: _Subscription, message: dict[str, Any]) -> None:
        """Queue ``message`` for ``sub`` unless an equal or newer revision is queued or
        was sent; a queued older one is replaced (coalescing)."""
        key = message.get("key")
        revision = message.get("revision")
        if not isinstance(key, str) or not isinstance(revision, int):
            return
        if not key.startswith(sub.key_prefix):
            return
        slot = (sub.id, key)
        if self.sent.get(slot, -1) >= revision:
            return
        queued = self.pending.get(slot)
        if queued is not None:
            if queued["revision"] >= revision:
                return
            self.state.metrics.live_dropped.inc()
        self.pending[slot] = {
            "type": "update",
            "subscription": sub.id,
            "key": key,
            "revision": revision,
            "value": message.get("value"),
        }
        self.wake.set()

    async def error(self, code: str, message: str, sub: str | None = None) -> None:
        body: dict[str, Any] = {"type": "error", "code": code, "message": message}
        if sub is not None:
            body["id"] = sub
        await self.send(body)


async def _pipeline_known(state: ApiState, tenant: str, pipeline: str) -> bool:
    """True when the tenant's catalog has ``pipeline``."""

    def run(conn: psycopg.Connection[Any]) -> bool:
        with tenant_scope(conn, tenant):
            return (
                conn.execute(
                    "SELECT 1 FROM pipelines WHERE tenant_id = %s AND name = %s", (tenant, pipeline)
                ).fetchone()
                is not None
            )

    return await state.db(run)


async def _authenticate(socket: WebSocket, state: ApiState) -> Principal | None:
    key = credential_from(socket)
    if key is None:
        try:
            first = await asyncio.wait_for(
                socket.receive_json(), state.settings.live_auth_timeout_s
            )
        except (TimeoutError, ValueError, KeyError):
            first = None
        if isinstance(first, dict) and first.get("type") == "auth":
            candidate = first.get("key")
            key = candidate if isinstance(candidate, str) else None
    try:
        return await principal_for_key(state, key)
    except DataNexusError:
        return None


@router.websocket("/v1/live")
async def live(socket: WebSocket) -> None:
    state = api_state(socket)
    await socket.accept()
    principal = await _authenticate(socket, state)
    if principal is None:
        await socket.send_json(
            {"type": "error", "code": "UNAUTHENTICATED", "message": "invalid or missing API key"}
        )
        await socket.close(CLOSE_UNAUTHENTICATED)
        return
    structlog.contextvars.bind_contextvars(tenant=principal.tenant)
    assert state.redis is not None
    session = _Session(state, socket, principal, state.redis.pubsub())
    await session.send({"type": "ready", "tenant": principal.tenant})
    tasks = [
        asyncio.create_task(_forward(session)),
        asyncio.create_task(_send(session)),
        asyncio.create_task(_ping(session)),
    ]
    try:
        await _commands(session)
    except WebSocketDisconnect:
        pass
    finally:
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        with contextlib.suppress(redis.RedisError, OSError):
            await session.pubsub.aclose()  # type: ignore[no-untyped-call]


async def _commands(session: _Session) -> None:
    settings = session.state.settings
    while True:
        try:
            message = await session.socket.receive_json()
        except ValueError:
            await session.error("INVALID_MESSAGE", "messages must be JSON objects")
            continue
        kind = message.get("type") if isinstance(message, dict) else None
        if kind == "pong":
            continue
        if kind == "unsubscribe" and isinstance(message.get("id"), str):
            sub = session.subs.pop(message["id"], None)
            if sub is not None and not any(s.channel == sub.channel for s in session.subs.values()):
                await session.pubsub.unsubscribe(sub.channel)
            await session.send({"type": "unsubscribed", "id": message["id"]})
            continue
        if kind != "subscribe":
            await session.error("INVALID_MESSAGE", "type must be subscribe, unsubscribe or pong")
            continue
        sub_id, pipeline = message.get("id"), message.get("pipeline")
        filt = message.get("filter") or {}
        cursor = message.get("cursor") or {}
        prefix = filt.get("key_prefix", "") if isinstance(filt, dict) else None
        if (
            not isinstance(sub_id, str)
            or not isinstance(pipeline, str)
            or not isinstance(prefix, str)
            or not isinstance(cursor, dict)
            or set(message) - {"type", "id", "pipeline", "filter", "cursor"}
            or (isinstance(filt, dict) and set(filt) - {"key_prefix"})
        ):
            await session.error(
                "INVALID_MESSAGE",
                "subscribe needs id and pipeline (strings); optional filter {key_prefix} "
                "and cursor {key: revision}",
                sub_id if isinstance(sub_id, str) else None,
            )
            continue
        if sub_id in session.subs:
            await session.error("INVALID_MESSAGE", f"subscription {sub_id!r} exists", sub_id)
            continue
        if len(session.subs) >= settings.live_max_subscriptions:
            await session.error(
                "LIMIT_EXCEEDED",
                f"at most {settings.live_max_subscriptions} subscriptions per connection",
                sub_id,
            )
            continue
        try:
            channel = channel_name(session.principal.tenant, pipeline, settings.live_prefix)
        except InvalidArgument as error:
            await session.error("INVALID_MESSAGE", str(error), sub_id)
            continue
        if not await _pipeline_known(session.state, session.principal.tenant, pipeline):
            await session.error("NOT_FOUND", f"pipeline {pipeline!r} not found", sub_id)
            continue
        if not has_scope(session.principal.scopes, f"streams:read:{pipeline}"):
            await session.error(
                "FORBIDDEN", f"this API key lacks scope 'streams:read:{pipeline}'", sub_id
            )
            continue
        sub = _Subscription(sub_id, pipeline, channel, prefix)
        session.subs[sub_id] = sub
        # Subscribe before reading the stored values: nothing published in between is lost
        # (a value seen twice is sent once, by revision).
        await session.pubsub.subscribe(channel)
        await session.send({"type": "subscribed", "id": sub_id})
        stored = await session.state.redis.hgetall(f"{channel}:latest")  # type: ignore[union-attr]
        for raw in stored.values():
            try:
                update = json.loads(raw)
            except ValueError:
                continue
            seen = cursor.get(update.get("key"))
            if isinstance(seen, int) and update.get("revision", 0) <= seen:
                continue
            session.offer(sub, update)


async def _forward(session: _Session) -> None:
    """Pub/sub messages → the pending map of every subscription on that channel."""
    while True:
        if not session.subs:
            await asyncio.sleep(0.05)
            continue
        message = await session.pubsub.get_message(ignore_subscribe_messages=True, timeout=1.0)
        if message is None or message.get("type") != "message":
            continue
        channel = message["channel"]
        channel = channel.decode() if isinstance(channel, bytes) else str(channel)
        try:
            update = json.loads(message["data"])
        except ValueError:
            log.warning("live: message on %s is not JSON", channel)
            continue
        for sub in list(session.subs.values()):
            if sub.channel == channel:
                session.offer(sub, update)


async def _send(session: _Session) -> None:
    while True:
        await session.wake.wait()
        session.wake.clear()
        while session.pending:
            slot, message = session.pending.popitem(last=False)
            if slot[0] not in session.subs:
                continue
            session.sent[slot] = message["revision"]
            await session.send(message)


async def _ping(session: _Session) -> None:
    interval = session.state.settings.live_ping_interval_s
    while True:
        await asyncio.sleep(interval)
        await session.send({"type": "ping"})
