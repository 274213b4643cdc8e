"""Events go out only after commit, over Redis when configured, in-process otherwise."""

from __future__ import annotations

import threading
import time

from app.core import events
from app.core.db import db


def _collect(bus, channel, out, ready, until=lambda ev: True):
    gen = bus.subscribe([channel], timeout=0.2)
    ready.set()
    for ev in gen:
        if ev is not None:
            out.append(ev)
            if until(ev):
                break
    gen.close()


def test_event_is_sent_after_commit_and_dropped_on_rollback(app, db_session):
    bus = events.bus()
    received: list[events.Event] = []
    ready = threading.Event()
    worker = threading.Thread(
        target=_collect, args=(bus, "test:channel", received, ready, lambda ev: "n" in ev.data), daemon=True
    )
    worker.start()
    ready.wait(5)
    # Subscribing is asynchronous (Redis SUBSCRIBE): send warm-up messages until one arrives.
    deadline = time.monotonic() + 10
    while not received and time.monotonic() < deadline:
        bus.publish(events.Event("test:channel", {"warm": True}))
        time.sleep(0.1)
    assert received, "subscriber never registered"
    time.sleep(0.3)  # let any extra warm-up messages in flight arrive before we reset
    received.clear()
    events.publish(db.session, "test:channel", {"n": 1})
    db.session.rollback()
    events.publish(db.session, "test:channel", {"n": 2}, event_id="42")
    assert received == []  # nothing before commit
    db.session.commit()
    worker.join(5)
    assert [(e.data, e.id) for e in received] == [({"n": 2}, "42")]


def test_bus_matches_configuration(app):
    with app.app_context():
        bus = events.bus()
    if app.config.get("REDIS_URL"):
        assert isinstance(bus, events.RedisBus)
    else:
        assert isinstance(bus, events.InProcessBus)


def test_redis_down_falls_back_to_in_process(app):
    bus = events.RedisBus("redis://127.0.0.1:1/0")
    received: list[events.Event] = []
    ready = threading.Event()
    worker = threading.Thread(target=_collect, args=(bus, "fallback", received, ready), daemon=True)
    worker.start()
    ready.wait(5)
    # Pub/sub is fire-and-forget: publish until the subscriber (which first has to find Redis down and
    # fall back) has registered and received one message, or give up after a few seconds.
    deadline = time.monotonic() + 10
    while not received and time.monotonic() < deadline:
        bus.publish(events.Event("fallback", {"ok": True}))
        time.sleep(0.1)
    worker.join(5)
    assert [e.data for e in received] == [{"ok": True}]


def test_a_savepoint_or_audit_batch_rolled_back_takes_its_events_with_it(app, db_session):
    """An event must never announce what was not committed: a savepoint rolled back inside a transaction
    that goes on, or an audit batch that raised, drops the events queued inside it and keeps the others."""
    from app.core import audit

    session = db.session()
    events.publish(session, "test:keep", {"n": "before"})
    savepoint = session.begin_nested()
    events.publish(session, "test:drop", {"n": "inside"})
    savepoint.rollback()
    events.publish(session, "test:keep", {"n": "after"})
    try:
        with audit.batch():
            audit.record("test:phantom", object_type="test", object_id="1")
            raise RuntimeError("the block fails; the caller goes on")
    except RuntimeError:
        pass
    queued = [(e.channel, e.data.get("n", e.data.get("action"))) for e in session.info[events.PENDING_KEY]]
    assert queued == [("test:keep", "before"), ("test:keep", "after")]
