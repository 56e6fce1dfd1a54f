"""Sources and sinks implementing Bytewax's partition contracts, and the publishers that
feed them.

Every source here never blocks in ``next_batch``, keeps its position as resume state and
resumes after the last item it returned; sinks do not rely on ``close`` running. Sinks
into PostgreSQL are idempotent and write progress rows in the same transaction, so with
Bytewax recovery a crash at any point leaves the same store as an uninterrupted run.

- sources: :class:`RabbitStreamSource`, :class:`RedisStreamSource`, :class:`FileSource`,
  :class:`WebEventsSource`; :class:`QueueConsumer` for classic/quorum queues (not Bytewax:
  it acks after the sink committed);
- decoding: :func:`decode_batch` (bodies → events + dead letters), :func:`to_store_batch`;
- sinks: :class:`PostgresSink`, :class:`RedisLiveSink`, :class:`RabbitTopicSink`;
- publishers: :class:`RabbitStreamPublisher`, :class:`RedisStreamPublisher`;
- partition ownership (STREAM-19): :func:`assign`, :class:`Coordinator` over a
  :class:`MemoryMembership` or :class:`RedisMembership`;
- connector tasks (CONN-8): :class:`TaskState`, :class:`TaskStore`, :func:`is_healthy`.
"""

from __future__ import annotations

from datanexus.connectors.decode import Decoded, MessageBatch, decode_batch, to_store_batch
from datanexus.connectors.files import FileSource, resolve_in_base
from datanexus.connectors.generator import WebEventsSource
from datanexus.connectors.ownership import (
    Coordinator,
    Membership,
    MemoryMembership,
    View,
    assign,
    owner_of,
)
from datanexus.connectors.ownership_redis import RedisMembership
from datanexus.connectors.postgres import PostgresSink
from datanexus.connectors.publishers import RabbitStreamPublisher, RedisStreamPublisher
from datanexus.connectors.rabbitmq_queue import QueueConsumer, QueueSpec, store_deliveries
from datanexus.connectors.rabbitmq_stream import RabbitStreamSource
from datanexus.connectors.rabbitmq_topic import RabbitTopicSink
from datanexus.connectors.redis_live import LiveUpdate, RedisLiveSink
from datanexus.connectors.redis_streams import RedisStreamSource
from datanexus.connectors.tasks import Task, TaskState, TaskStore, check_transition, is_healthy
from datanexus.connectors.web_traffic import WebEvent, WebTraffic, generate_events

__all__ = [
    "Coordinator",
    "Decoded",
    "FileSource",
    "LiveUpdate",
    "Membership",
    "MemoryMembership",
    "MessageBatch",
    "PostgresSink",
    "QueueConsumer",
    "QueueSpec",
    "RabbitStreamPublisher",
    "RabbitStreamSource",
    "RabbitTopicSink",
    "RedisLiveSink",
    "RedisMembership",
    "RedisStreamPublisher",
    "RedisStreamSource",
    "Task",
    "TaskState",
    "TaskStore",
    "View",
    "WebEvent",
    "WebEventsSource",
    "WebTraffic",
    "assign",
    "check_transition",
    "decode_batch",
    "generate_events",
    "is_healthy",
    "owner_of",
    "resolve_in_base",
    "store_deliveries",
    "to_store_batch",
]
