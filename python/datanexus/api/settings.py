"""Settings of the HTTP API, one frozen model (defaults here; the CLI fills it from the
configuration). Secrets (passwords in URLs) never reach ``repr``."""

from __future__ import annotations

import re

from pydantic import BaseModel, ConfigDict, Field, field_validator

from datanexus.store.migrations import check_schema_name

__all__ = ["ApiSettings", "redact_url"]

_URL_PASSWORD = re.compile(r"(?P<head>://[^:/@\s]*:)[^@\s]*@")


def redact_url(url: str) -> str:
    """``url`` with any password replaced by ``***``."""
    return _URL_PASSWORD.sub(r"\g<head>***@", url)


class ApiSettings(BaseModel):
    """Everything :func:`datanexus.api.create_app` needs.

    Durations are seconds. ``cors_origins`` is an exact allow-list; ``"*"`` is refused
    unless ``dev_mode`` (API-2). ``rate_limit_fail_closed`` answers 503 instead of letting
    requests through when Redis cannot be asked (API-13).
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    database_url: str
    redis_url: str
    db_schema: str = "datanexus"
    dev_mode: bool = False
    cors_origins: tuple[str, ...] = ()
    host: str = "127.0.0.1"
    port: int = Field(default=8080, ge=0, le=65535)

    # API-12/13: requests per rolling window per tenant, and GCRA event rates.
    rate_limit_requests: int = Field(default=100, ge=1)
    rate_limit_window_s: int = Field(default=60, ge=1)
    rate_limit_fail_closed: bool = False
    event_rate_per_s: float = Field(default=50_000.0, gt=0)
    event_burst: int = Field(default=100_000, ge=1)

    # API-3, STREAM-20 and STREAM-21: body limit, stream names, the ingest buffer (flush
    # at buffer_batch_events or buffer_flush_interval_s after the oldest event, at most
    # buffer_max_concurrent_flushes in flight, pause at buffer_max_events pending) and
    # stream backpressure.
    max_body_bytes: int = Field(default=10 * 1024 * 1024, ge=1024)
    stream_prefix: str = "dn"
    key_prefix: str = "dn"
    buffer_batch_events: int = Field(default=1000, ge=1)
    buffer_flush_interval_s: float = Field(default=5.0, gt=0, allow_inf_nan=False)
    buffer_max_events: int = Field(default=5000, ge=1)
    buffer_max_concurrent_flushes: int = Field(default=3, ge=1)
    stream_max_length: int = Field(default=1_000_000, ge=1)
    retry_after_s: int = Field(default=1, ge=1)

    # API-4: live queries.
    live_prefix: str = "dn:live"
    live_max_subscriptions: int = Field(default=20, ge=1)
    live_ping_interval_s: float = Field(default=30.0, gt=0)
    live_auth_timeout_s: float = Field(default=10.0, gt=0)

    # API-7: JSON Web Tokens beside API keys. HS256 needs jwt_secret, RS256 jwt_public_key
    # (PEM); with jwt_enabled and neither, start-up fails.
    jwt_enabled: bool = False
    jwt_secret: str | None = Field(default=None, repr=False, min_length=32)
    jwt_public_key: str | None = Field(default=None, repr=False)
    jwt_max_lifetime_s: int = Field(default=3600, ge=1)

    # /metrics needs ``Authorization: Bearer <metrics_token>`` (Prometheus scrapes with
    # ``authorization: {credentials: ...}``); without a token it answers 401, except in
    # dev_mode, where it is open.
    metrics_token: str | None = Field(default=None, repr=False, min_length=16)

    query_timeout_ms: int = Field(default=10_000, ge=1)
    db_pool_min: int = Field(default=1, ge=0)
    db_pool_max: int = Field(default=10, ge=1)

    @field_validator("db_schema")
    @classmethod
    def _schema(cls, value: str) -> str:
        return check_schema_name(value)

    @field_validator("cors_origins")
    @classmethod
    def _origins(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        for origin in value:
            if origin != "*" and not re.fullmatch(r"https?://[A-Za-z0-9.-]+(:\d{1,5})?", origin):
                raise ValueError(
                    f"cors_origins: {origin!r} is not an origin (scheme://host[:port])"
                )
        return value

    def model_post_init(self, _context: object) -> None:
        if "*" in self.cors_origins and not self.dev_mode:
            raise ValueError("cors_origins: the wildcard '*' is only allowed with dev_mode")
        if self.buffer_batch_events > self.buffer_max_events:
            raise ValueError(
                f"buffer_batch_events ({self.buffer_batch_events}) must be <= "
                f"buffer_max_events ({self.buffer_max_events}): a full batch would pause "
                "ingestion before it is flushed"
            )
        if self.jwt_enabled and not (self.jwt_secret or self.jwt_public_key):
            raise ValueError("jwt_enabled needs jwt_secret (HS256) or jwt_public_key (RS256)")

    def __repr_args__(self) -> list[tuple[str | None, object]]:
        return [
            (k, redact_url(v) if k in ("database_url", "redis_url") else v)
            for k, v in super().__repr_args__()
        ]
