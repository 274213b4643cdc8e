"""A small publish/subscribe bus for live pages, used only after commit.

``publish()`` queues a message on the current database session; the message goes out when that
transaction commits and is dropped if it rolls back, so nobody is told about a change that did not
happen. Transport: Redis pub/sub when ``REDIS_URL`` is set (fan-out across gunicorn workers and
machines), otherwise an in-process bus. Redis is never the system of record: a subscriber that missed
messages replays them from the audit log (``Last-Event-ID``).
"""

from __future__ import annotations

import json
import logging
import queue
import threading
import weakref
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from flask import current_app, has_app_context
from sqlalchemy import event
from sqlalchemy.orm import Session, scoped_session

log = logging.getLogger(__name__)
PENDING_KEY = "pending_events"
MARKS_KEY = "pending_events_at_savepoints"  # savepoint -> queue length when it began


@dataclass(frozen=True)
class Event:
    channel: str
    data: dict[str, Any]
    id: str | None = None

    def encode(self) -> str:
        return json.dumps({"data": self.data, "id": self.id}, ensure_ascii=False, separators=(",", ":"))


class InProcessBus:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._subscribers: dict[str, list[queue.Queue[Event]]] = {}

    def publish(self, ev: Event) -> None:
        with self._lock:
            targets = list(self._subscribers.get(ev.channel, ()))
        for q in targets:
            q.put_nowait(ev)

    def subscribe(self, channels: list[str], *, timeout: float = 15.0) -> Iterator[Event | None]:
        """Yield events on the channels, or None after ``timeout`` seconds without one (keep-alive)."""
        q: queue.Queue[Event] = queue.Queue()
        with self._lock:
            for ch in channels:
                self._subscribers.setdefault(ch, []).append(q)
        try:
            while True:
                try:
                    yield q.get(timeout=timeout)
                except queue.Empty:
                    yield None
        finally:
            with self._lock:
                for ch in channels:
                    subs = self._subscribers.get(ch, [])
                    if q in subs:
                        subs.remove(q)


@dataclass
class RedisBus:
    url: str
    fallback: InProcessBus = field(default_factory=InProcessBus)
    _redis: Any = field(default=None, init=False, repr=False, compare=False)

    def _client(self) -> Any:
        import redis

        return redis.Redis.from_url(self.url, socket_connect_timeout=1, socket_timeout=2)

    def _publisher(self) -> Any:
        # One publishing client (one small pool) per bus: every audit leaf is published, and a new
        # connection per message would cost more than the append itself. Subscribers keep their own
        # client each: a live page holds its connection for minutes and must not exhaust a shared pool.
        if self._redis is None:
            self._redis = self._client()
        return self._redis

    def publish(self, ev: Event) -> None:
        try:
            self._publisher().publish(ev.channel, ev.encode())
        except Exception as err:  # Redis down must not fail the request that already committed
            log.warning("redis publish failed (%s); delivering in-process only", err)
            self.fallback.publish(ev)

    def publish_all(self, evs: list[Event]) -> None:
        """Several events in one round trip (a transaction may append thousands of audit leaves)."""
        try:
            pipe = self._publisher().pipeline(transaction=False)
            for ev in evs:
                pipe.publish(ev.channel, ev.encode())
            pipe.execute()
        except Exception as err:  # Redis down must not fail the request that already committed
            log.warning("redis publish failed (%s); delivering in-process only", err)
            for ev in evs:
                self.fallback.publish(ev)

    def subscribe(self, channels: list[str], *, timeout: float = 15.0) -> Iterator[Event | None]:
        try:
            pubsub = self._client().pubsub(ignore_subscribe_messages=True)
            pubsub.subscribe(*channels)
        except Exception as err:  # live pages fall back to this worker's own events
            log.warning("redis subscribe failed (%s); using the in-process bus", err)
            yield from self.fallback.subscribe(channels, timeout=timeout)
            return
        try:
            while True:
                msg = pubsub.get_message(timeout=timeout)
                if msg is None:
                    yield None
                    continue
                body = json.loads(msg["data"])
                channel = msg["channel"].decode() if isinstance(msg["channel"], bytes) else msg["channel"]
                yield Event(channel, body["data"], body.get("id"))
        finally:
            pubsub.close()


_buses: dict[str, InProcessBus | RedisBus] = {}
_buses_lock = threading.Lock()


def bus() -> InProcessBus | RedisBus:
    url = current_app.config.get("REDIS_URL") or ""
    with _buses_lock:
        if url not in _buses:
            _buses[url] = RedisBus(url) if url else InProcessBus()
        return _buses[url]


def publish(
    session: Session | scoped_session[Session],
    channel: str,
    data: dict[str, Any],
    *,
    event_id: str | None = None,
) -> None:
    """Queue an event on ``session``; it is sent after the transaction commits."""
    if isinstance(session, scoped_session):
        session = session()
    if not session.in_transaction():
        session.begin()  # tie the event to a transaction so a rollback drops it
    session.info.setdefault(PENDING_KEY, []).append(Event(channel, data, event_id))


@event.listens_for(Session, "after_commit")
def _send_after_commit(session: Session) -> None:
    pending: list[Event] = session.info.pop(PENDING_KEY, [])
    if not pending or not has_app_context():
        return
    target = bus()
    if isinstance(target, RedisBus):
        target.publish_all(pending)
        return
    for ev in pending:
        target.publish(ev)


def mark(session: Session) -> int:
    """Where the queue of ``session`` stands now (see :func:`drop_since`)."""
    return len(session.info.get(PENDING_KEY, ()))


def drop_since(session: Session, position: int) -> None:
    """Forget the events queued after ``position`` (what they announced was not written after all)."""
    pending = session.info.get(PENDING_KEY)
    if pending is not None:
        del pending[position:]


@event.listens_for(Session, "after_transaction_create")
def _mark_savepoint(session: Session, transaction: Any) -> None:
    if transaction.nested:
        marks = session.info.setdefault(MARKS_KEY, weakref.WeakKeyDictionary())
        marks[transaction] = mark(session)


@event.listens_for(Session, "after_soft_rollback")
def _drop_after_rollback(session: Session, previous_transaction: Any) -> None:
    # The session's own transaction ending drops the whole queue; a begin_nested() savepoint rolling back
    # inside a transaction that goes on drops what was published inside it (its rows are gone: an event
    # must never announce an audit leaf or a change that was not committed) and keeps what came before.
    if not previous_transaction.nested:
        session.info.pop(PENDING_KEY, None)
        session.info.pop(MARKS_KEY, None)
        return
    position = session.info.get(MARKS_KEY, {}).get(previous_transaction)
    if position is not None:
        drop_since(session, position)
