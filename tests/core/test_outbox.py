"""The outbox: messages leave after commit, failures are retried up to a limit, and several deliverers at
once (two machines running ``flask outbox deliver``) never send one message twice."""

from __future__ import annotations

import datetime as dt
import threading
import time
from collections import Counter
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import delete, select

from app.core import outbox
from app.core.clock import clock, now
from app.core.db import db
from app.core.models import OutboxMessage


@pytest.fixture
def sent(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Record what the adapter sends; a recipient starting with "bad" makes the gateway fail."""
    out: list[str] = []
    lock = threading.Lock()

    def send(msg: OutboxMessage) -> None:
        if msg.recipient.startswith("bad"):
            raise RuntimeError("gateway answered 503")
        time.sleep(0.002)  # a network call: lets concurrent deliverers interleave
        with lock:
            out.append(msg.recipient)

    monkeypatch.setattr(outbox, "_send", send)
    return out


def _queue(*recipients: str) -> None:
    for r in recipients:
        outbox.enqueue(channel="sms", recipient=r, subject="s", body="b")
    db.session.commit()


def test_pending_messages_are_sent_once_and_recorded(db_session: Any, sent: list[str]) -> None:
    _queue("13900000001", "13900000002", "13900000003")
    assert outbox.deliver_pending() == 3
    assert sent == ["13900000001", "13900000002", "13900000003"]
    rows = db_session.scalars(select(OutboxMessage)).all()
    assert all(m.sent_at is not None and m.attempts == 1 and m.claimed_until is None for m in rows)
    assert outbox.deliver_pending() == 0  # nothing is sent again
    assert len(sent) == 3


def test_a_failing_gateway_is_recorded_and_retried_up_to_the_limit(db_session: Any, sent: list[str]) -> None:
    _queue("bad-13900000009", "13900000001")
    assert outbox.deliver_pending() == 1
    bad = db_session.scalars(select(OutboxMessage).where(OutboxMessage.recipient.startswith("bad"))).one()
    assert bad.sent_at is None and bad.attempts == 1 and bad.last_error == "gateway answered 503"
    assert bad.claimed_until is None  # the lease is given back: the next run retries it
    for _ in range(outbox.MAX_ATTEMPTS + 2):
        outbox.deliver_pending()
    db_session.refresh(bad)
    assert bad.attempts == outbox.MAX_ATTEMPTS and bad.sent_at is None
    assert sent == ["13900000001"]


def test_a_leased_message_waits_for_its_lease_to_expire(db_session: Any, sent: list[str]) -> None:
    """A deliverer that crashed after leasing leaves its lease; the message goes out once it expires."""
    clock.freeze(dt.datetime(2026, 3, 2, 9, 0, tzinfo=dt.UTC))
    _queue("13900000001")
    msg = db_session.scalars(select(OutboxMessage)).one()
    msg.claim_token, msg.claimed_until = "crashed-deliverer", now() + outbox.LEASE
    db_session.commit()
    assert outbox.deliver_pending() == 0 and sent == []
    clock.advance(outbox.LEASE + dt.timedelta(seconds=1))
    assert outbox.deliver_pending() == 1 and sent == ["13900000001"]


def test_two_deliverers_at_once_send_every_message_exactly_once(app: Flask) -> None:
    """Real concurrent transactions (committed, cleaned up afterwards): two deliverers race over 60
    messages in small batches."""
    recipients = [f"1390000{i:04d}" for i in range(60)]
    calls: list[str] = []
    lock = threading.Lock()
    original = outbox._send

    def send(msg: OutboxMessage) -> None:
        time.sleep(0.002)
        with lock:
            calls.append(msg.recipient)

    outbox._send = send  # type: ignore[assignment]
    errors: list[BaseException] = []
    counts: list[int] = []
    try:
        with app.app_context():
            _queue(*recipients)
            db.session.remove()

        def deliverer() -> None:
            total = 0
            try:
                with app.app_context():
                    while n := outbox.deliver_pending(limit=4):
                        total += n
                    db.session.remove()
            except BaseException as err:
                errors.append(err)
            counts.append(total)

        threads = [threading.Thread(target=deliverer) for _ in range(2)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=120)
        assert not errors, errors
        assert Counter(calls) == Counter(recipients)  # each exactly once
        assert sum(counts) == 60
        with app.app_context():
            rows = db.session.scalars(select(OutboxMessage)).all()
            assert len(rows) == 60 and all(m.sent_at is not None and m.attempts == 1 for m in rows)
            db.session.remove()
    finally:
        outbox._send = original  # type: ignore[assignment]
        with app.app_context():
            db.session.execute(delete(OutboxMessage))
            db.session.commit()
            db.session.remove()
