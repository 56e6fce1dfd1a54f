"""API-4: slow clients get only the newest revision of each key (coalescing)."""

from __future__ import annotations

from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from datanexus.api.keys import Principal
from datanexus.api.live import _Session, _Subscription
from datanexus.api.metrics import ApiMetrics
from datanexus.api.settings import ApiSettings
from datanexus.api.state import ApiState


def _session() -> _Session:
    state = ApiState(
        ApiSettings(database_url="postgresql://x", redis_url="redis://x"), ApiMetrics()
    )
    principal = Principal("t", "key_x", None, ("*:*:*",), "active")
    return _Session(state, socket=None, principal=principal, pubsub=None)  # type: ignore[arg-type]


@given(st.lists(st.tuples(st.sampled_from(["a|1", "a|2", "b|1"]), st.integers(0, 9)), max_size=40))
def test_pending_holds_the_newest_revision_per_key(updates: list[tuple[str, int]]) -> None:
    session = _session()
    sub = _Subscription("s", "web", "ch", "a")
    for key, revision in updates:
        session.offer(sub, {"key": key, "revision": revision, "value": {"r": revision}})
    newest: dict[str, int] = {}
    for key, revision in updates:
        if key.startswith("a"):
            newest[key] = max(newest.get(key, -1), revision)
    pending: dict[str, Any] = {k[1]: m for k, m in session.pending.items()}
    assert {k: m["revision"] for k, m in pending.items()} == newest
    assert all(m["value"] == {"r": m["revision"]} for m in pending.values())


def test_nothing_at_or_below_a_sent_revision_is_queued() -> None:
    session = _session()
    sub = _Subscription("s", "web", "ch", "")
    session.sent[("s", "k")] = 5
    session.offer(sub, {"key": "k", "revision": 5, "value": {}})
    session.offer(sub, {"key": "k", "revision": 4, "value": {}})
    assert not session.pending
    session.offer(sub, {"key": "k", "revision": 6, "value": {}})
    assert session.pending[("s", "k")]["revision"] == 6
