"""Kernel tables: the audit log (RFC 6962 Merkle tree), calendar overrides, the notification outbox and
platform settings."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    CheckConstraint,
    Date,
    Integer,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from .clock import now
from .db import UTCDateTime, db


class AuditLeaf(db.Model):  # type: ignore[name-defined]
    """One entry of the append-only audit log. ``leaf_hash = SHA-256(0x00 ‖ leaf_bytes)`` where the leaf
    bytes are the canonical JSON of the columns below (see ``app.core.audit.leaf_bytes``).

    UPDATE and DELETE are refused by a database trigger (both engines) and by an ORM guard."""

    __tablename__ = "audit_leaf"

    idx: Mapped[int] = mapped_column(
        BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=False
    )
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    actor_id: Mapped[int | None] = mapped_column(
        Integer, comment="user id; NULL for the system or the public"
    )
    actor_role: Mapped[str | None] = mapped_column(String(32))
    org_id: Mapped[int | None] = mapped_column(Integer)
    action: Mapped[str] = mapped_column(String(100), index=True, comment="scope:subject:action")
    object_type: Mapped[str | None] = mapped_column(String(64))
    object_id: Mapped[str | None] = mapped_column(String(64))
    source_ip: Mapped[str | None] = mapped_column(String(64))
    payload: Mapped[str] = mapped_column(Text, comment="canonical JSON of the event payload")
    payload_sha256: Mapped[str] = mapped_column(String(64))
    leaf_hash: Mapped[bytes] = mapped_column(LargeBinary(32))

    __table_args__ = (
        CheckConstraint("idx >= 0", name="idx_nonneg"),
        db.Index("ix_audit_leaf_object", "object_type", "object_id"),
    )


class AuditNode(db.Model):  # type: ignore[name-defined]
    """Hash of a complete (perfect) subtree: level ≥ 1, covering leaves [index·2^level, (index+1)·2^level).
    Stored once when completed, so proofs need only ⌈log₂ n⌉ look-ups and appends stay O(1) amortized."""

    __tablename__ = "audit_node"

    level: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    index: Mapped[int] = mapped_column(
        BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=False
    )
    hash: Mapped[bytes] = mapped_column(LargeBinary(32))


class AuditHead(db.Model):  # type: ignore[name-defined]
    """The single row holding the log's size and frontier (roots of the perfect subtrees of the
    binary decomposition of ``size``, largest first). Locked for each append."""

    __tablename__ = "audit_head"
    __table_args__ = (CheckConstraint("id = 1", name="single_row"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    size: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), default=0)
    frontier: Mapped[list[str]] = mapped_column(
        JSON, default=list, comment="hex hashes, largest subtree first"
    )


class AuditCheckpoint(db.Model):  # type: ignore[name-defined]
    """A signed tree head (C2SP tlog-checkpoint note) with optional regulator cosignatures."""

    __tablename__ = "audit_checkpoint"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    tree_size: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), index=True)
    root_hash: Mapped[bytes] = mapped_column(LargeBinary(32))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=now)
    reason: Mapped[str] = mapped_column(String(64), default="on_demand")
    note: Mapped[str] = mapped_column(Text, comment="the signed note text, as published")
    cosignatures: Mapped[list[dict[str, str]]] = mapped_column(JSON, default=list)


class SigningKey(db.Model):  # type: ignore[name-defined]
    """A retired platform signing key (Ed25519). What it signed (checkpoints, receipts, reports, archives)
    keeps verifying after a rotation; recorded by ``flask audit retire-key`` before the new key goes in."""

    __tablename__ = "signing_key"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    public_key: Mapped[bytes] = mapped_column(LargeBinary(32), unique=True, comment="raw Ed25519 key")
    retired_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=now)


class CalendarOverride(db.Model):  # type: ignore[name-defined]
    """A management-office correction to the national holiday calendar for one date."""

    __tablename__ = "calendar_override"

    day: Mapped[dt.date] = mapped_column(Date, primary_key=True)
    is_workday: Mapped[bool] = mapped_column(Boolean)
    note: Mapped[str] = mapped_column(String(200), default="")
    created_by: Mapped[int | None] = mapped_column(Integer)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=now)


class OutboxMessage(db.Model):  # type: ignore[name-defined]
    """A notification written in the same transaction as the change it reports and delivered after
    commit by an adapter (log/console by default; SMS gateway or SMTP when configured)."""

    __tablename__ = "outbox_message"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    channel: Mapped[str] = mapped_column(String(16), comment="email | sms | voice | inbox")
    recipient: Mapped[str] = mapped_column(String(200))
    user_id: Mapped[int | None] = mapped_column(Integer, index=True)
    subject: Mapped[str] = mapped_column(String(200))
    body: Mapped[str] = mapped_column(Text)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=now)
    sent_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    last_error: Mapped[str | None] = mapped_column(String(500))
    claim_token: Mapped[str | None] = mapped_column(String(32), comment="the deliverer holding the lease")
    claimed_until: Mapped[dt.datetime | None] = mapped_column(
        UTCDateTime, comment="lease: no other deliverer sends it before then"
    )
    sensitive: Mapped[bool] = mapped_column(
        Boolean,
        default=False,
        server_default="0",
        comment="carries a one-time credential link: never logged, body scrubbed once sent",
    )


class Setting(db.Model):  # type: ignore[name-defined]
    """Platform settings editable at run time (e.g. the demo clock offset)."""

    __tablename__ = "setting"

    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    value: Mapped[str] = mapped_column(Text)


class Throttle(db.Model):  # type: ignore[name-defined]
    """A shared attempt counter (sign-in, two-factor codes, anonymous reports): one row per keyed subject,
    the same for every worker and machine. The key is an HMAC of what it counts (an account name and a
    source address, say), so the table never holds a name or an address in clear."""

    __tablename__ = "throttle"

    key: Mapped[str] = mapped_column(String(64), primary_key=True, comment="HMAC-SHA256 hex of the subject")
    count: Mapped[int] = mapped_column(Integer, default=0)
    window_started_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    blocked_until: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    expires_at: Mapped[dt.datetime] = mapped_column(
        UTCDateTime, index=True, comment="forgotten after this: the end of a rate window, or a day of quiet"
    )


class IdempotencyKey(db.Model):  # type: ignore[name-defined]
    """An ``Idempotency-Key`` a client sent with a creating API request, and the answer it got: a retry
    with the same key and the same request gets that answer again instead of creating a second object. One
    row per caller and key, shared by every worker; reserved (no answer yet) while the first request runs."""

    __tablename__ = "idempotency_key"
    __table_args__ = (
        UniqueConstraint("user_id", "key"),
        CheckConstraint("(status_code IS NULL) = (response_enc IS NULL)", name="answer_complete"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int] = mapped_column(Integer, comment="the calling account; 0 for anonymous callers")
    key: Mapped[str] = mapped_column(String(255))
    request_hash: Mapped[str] = mapped_column(String(64), comment="SHA-256 hex of method, path and body")
    status_code: Mapped[int | None] = mapped_column(Integer, comment="NULL while the first request runs")
    response_enc: Mapped[bytes | None] = mapped_column(
        LargeBinary, comment="the answer, Fernet under DATA_KEY: it may carry a tracking code or a secret"
    )
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=now)
    expires_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, index=True)
