"""What is pushed to the provincial platform, and what the simulated provincial platform received."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    CheckConstraint,
    ForeignKey,
    Integer,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.core.clock import now
from app.core.db import UTCDateTime, db


class ExchangeMessage(db.Model):  # type: ignore[name-defined]
    """One public record to push (an announcement, an amendment, an opening record, …), made from the audit
    leaf that recorded it: ``leaf_idx`` is unique, so sweeping the log twice never makes a second message, and
    the idempotency key sent with every attempt lets the receiver drop a repeat."""

    __tablename__ = "exchange_message"
    __table_args__ = (
        UniqueConstraint("leaf_idx", name="exchange_leaf_once"),
        CheckConstraint("status IN ('pending', 'sent', 'dead')", name="exchange_status"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    leaf_idx: Mapped[int] = mapped_column(Integer, comment="the audit leaf that recorded the event")
    kind: Mapped[str] = mapped_column(String(32), index=True)
    transaction_code: Mapped[str] = mapped_column(String(64), index=True, comment="unified transaction code")
    idempotency_key: Mapped[str] = mapped_column(String(64), unique=True)
    payload: Mapped[dict[str, Any]] = mapped_column(JSON)
    status: Mapped[str] = mapped_column(String(16), default="pending", index=True)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=now)
    last_error: Mapped[str | None] = mapped_column(String(500))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=now)
    sent_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    remote_receipt: Mapped[str | None] = mapped_column(String(200))
    claim_token: Mapped[str | None] = mapped_column(String(32))
    claimed_until: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)


class SimulatedProvinceRecord(db.Model):  # type: ignore[name-defined]
    """What the simulated provincial platform (demo and tests) accepted, once per idempotency key; a repeat
    only counts in ``repeats``."""

    __tablename__ = "simulated_province_record"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    idempotency_key: Mapped[str] = mapped_column(String(64), unique=True)
    kind: Mapped[str] = mapped_column(String(32))
    transaction_code: Mapped[str] = mapped_column(String(64))
    body: Mapped[str] = mapped_column(Text)
    received_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=now)
    repeats: Mapped[int] = mapped_column(Integer, default=0)


class WebhookSubscription(db.Model):  # type: ignore[name-defined]
    """A subscriber's endpoint (a regulator's system, a bidder's tool) for the public-record events, signed
    with its own HMAC secret (encrypted at rest; shown to the subscriber once)."""

    __tablename__ = "webhook_subscription"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("user_account.id"), index=True)
    url: Mapped[str] = mapped_column(String(500))
    kinds: Mapped[list[str]] = mapped_column(JSON, default=list, comment="empty: every kind")
    secret_enc: Mapped[bytes] = mapped_column(LargeBinary)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=now)


class WebhookDelivery(db.Model):  # type: ignore[name-defined]
    """One event for one subscription: retried with backoff like the provincial push."""

    __tablename__ = "webhook_delivery"
    __table_args__ = (
        UniqueConstraint("subscription_id", "message_id", name="webhook_delivery_once"),
        CheckConstraint("status IN ('pending', 'sent', 'dead')", name="webhook_status"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    subscription_id: Mapped[int] = mapped_column(ForeignKey("webhook_subscription.id"), index=True)
    message_id: Mapped[int] = mapped_column(ForeignKey("exchange_message.id"))
    status: Mapped[str] = mapped_column(String(16), default="pending", index=True)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=now)
    last_error: Mapped[str | None] = mapped_column(String(500))
    sent_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    claim_token: Mapped[str | None] = mapped_column(String(32))
    claimed_until: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)

    subscription: Mapped[WebhookSubscription] = relationship()
    message: Mapped[ExchangeMessage] = relationship()
