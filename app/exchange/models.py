"""What is pushed to the provincial platform, and what the simulated provincial platform received."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import JSON, CheckConstraint, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

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
