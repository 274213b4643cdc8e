"""Notifications through the outbox: written in the same transaction as the change they report,
delivered after commit by an adapter.

Adapters: ``log`` (default; notes the message's id and channel in the application log — never its
recipient, subject or body; the message stays in the outbox table), ``smtp``
(``SMTP_HOST``/``SMTP_PORT``/``SMTP_FROM``) and ``http`` (an SMS/voice gateway at ``SMS_GATEWAY_URL`` that
accepts a JSON POST). ``flask outbox deliver`` sends what is pending (run it from cron or after requests).

Delivery is safe from several machines at once: a deliverer first leases a batch (one conditional UPDATE,
committed), then sends each message and records it in its own transaction. Another deliverer skips leased
messages; a lease left by a crashed deliverer expires after :data:`LEASE`. A message is sent at least once
and, short of a crash between the send and its record, exactly once.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import secrets
import smtplib
import urllib.request
from collections.abc import Sequence
from email.message import EmailMessage

from flask import current_app
from sqlalchemy import or_, select, update

from app.core.clock import now
from app.core.db import db
from app.core.models import OutboxMessage

log = logging.getLogger(__name__)
MAX_ATTEMPTS = 5
LEASE = dt.timedelta(minutes=5)  # longer than any adapter's timeout
SCRUBBED = "(a one-time link: delivered to its holder only)"


def enqueue(
    *,
    channel: str,
    recipient: str,
    subject: str,
    body: str,
    user_id: int | None = None,
    sensitive: bool = False,
) -> OutboxMessage:
    """Queue one message in the current transaction (it is lost with a rollback, as it should be). No
    message's recipient, subject or body is ever written to the log; a ``sensitive`` message (a one-time
    credential link) also has its body scrubbed once it is sent."""
    if channel not in {"email", "sms", "voice", "inbox"}:
        raise ValueError(f"unknown channel {channel!r}")
    msg = OutboxMessage(
        channel=channel,
        recipient=recipient[:200],
        subject=subject[:200],
        body=body,
        user_id=user_id,
        sensitive=sensitive,
    )
    db.session.add(msg)
    return msg


def _send(msg: OutboxMessage) -> None:
    adapter = current_app.config.get(f"OUTBOX_{msg.channel.upper()}_ADAPTER") or current_app.config.get(
        "OUTBOX_ADAPTER", "log"
    )
    if adapter == "log" or msg.channel == "inbox":
        # The log names no recipient, subject or link: a recipient or subject can tell who bid on a sealed
        # section, who obtained the documents or who was drawn for a panel, and a body may hold a one-time
        # link. The message itself stays in the outbox table (and the holder's inbox).
        log.info("outbox message %s (%s) delivered", msg.id, msg.channel)
        return
    if adapter == "smtp":
        email = EmailMessage()
        email["From"] = current_app.config.get("SMTP_FROM", "noreply@localhost")
        email["To"] = msg.recipient
        email["Subject"] = msg.subject
        email.set_content(msg.body)
        host = current_app.config.get("SMTP_HOST", "127.0.0.1")
        with smtplib.SMTP(host, int(current_app.config.get("SMTP_PORT", 25)), timeout=10) as smtp:
            smtp.send_message(email)
        return
    if adapter == "http":
        url = str(current_app.config["SMS_GATEWAY_URL"])
        if not url.startswith(("http://", "https://")):
            raise ValueError("SMS_GATEWAY_URL must be http(s)")
        payload = {"channel": msg.channel, "to": msg.recipient, "subject": msg.subject, "text": msg.body}
        req = urllib.request.Request(  # noqa: S310 - scheme checked above
            url,
            data=json.dumps(payload).encode(),
            headers={"Content-Type": "application/json"},
            method="POST",
        )
        with urllib.request.urlopen(req, timeout=10) as resp:  # noqa: S310 - scheme checked above
            if resp.status >= 300:
                raise RuntimeError(f"gateway answered {resp.status}")
        return
    raise ValueError(f"unknown outbox adapter {adapter!r}")


def _lease(limit: int) -> Sequence[OutboxMessage]:
    """Lease up to ``limit`` pending messages to this deliverer and commit the lease."""
    token = secrets.token_hex(16)
    at = now()
    free = or_(OutboxMessage.claimed_until.is_(None), OutboxMessage.claimed_until < at)
    due = (OutboxMessage.sent_at.is_(None), OutboxMessage.attempts < MAX_ATTEMPTS, free)
    batch = select(OutboxMessage.id).where(*due).order_by(OutboxMessage.id).limit(limit)
    # The conditions are repeated on the row itself: a concurrent deliverer that leased it meanwhile wins.
    db.session.execute(
        update(OutboxMessage)
        .where(OutboxMessage.id.in_(batch.scalar_subquery()), *due)
        .values(claim_token=token, claimed_until=at + LEASE)
        .execution_options(synchronize_session=False)
    )
    db.session.commit()
    return db.session.scalars(
        select(OutboxMessage).where(OutboxMessage.claim_token == token).order_by(OutboxMessage.id)
    ).all()


def deliver_pending(limit: int = 100) -> int:
    """Send pending messages; failures are counted and retried by a later run. Returns the number sent."""
    sent = 0
    for msg in _lease(limit):
        msg.attempts += 1
        try:
            _send(msg)
        except Exception as err:  # any adapter failure is recorded and retried, never lost
            msg.last_error = str(err)[:500]
        else:
            msg.sent_at = now()
            msg.last_error = None
            if msg.sensitive:
                msg.body = SCRUBBED
            sent += 1
        msg.claim_token, msg.claimed_until = None, None
        db.session.commit()  # one message at a time: a crash re-sends at most the one in flight
    return sent
