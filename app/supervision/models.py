"""Supervision models: alerts for the regulator and the panel, rectification notices, witness keys."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import JSON, CheckConstraint, ForeignKey, Index, Integer, String, Text, UniqueConstraint, text
from sqlalchemy.orm import Mapped, mapped_column

from app.core.clock import now
from app.core.db import UTCDateTime, db

from .enums import AlertRule, AlertStatus, NoticeStatus


def _in(column: str, values: list[str]) -> str:
    quoted = ", ".join(f"'{v}'" for v in values)
    return f"{column} IN ({quoted})"


class SupervisionAlert(db.Model):  # type: ignore[name-defined]
    """A flag (预警) raised by a rule on a section: shown to the regulator and the evaluation panel, never an
    automatic rejection. ``fingerprint`` makes re-running the rules idempotent: the same finding on the same
    section is one alert, whatever its status."""

    __tablename__ = "supervision_alert"
    __table_args__ = (
        CheckConstraint(_in("status", [s.value for s in AlertStatus]), name="status_valid"),
        CheckConstraint(_in("rule", [r.value for r in AlertRule]), name="rule_valid"),
        CheckConstraint("(status = 'open') = (decided_at IS NULL)", name="decided_iff_not_open"),
        CheckConstraint("status <> 'dismissed' OR decision_note IS NOT NULL", name="dismissed_has_reason"),
        UniqueConstraint("section_id", "rule", "fingerprint", name="finding"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    section_id: Mapped[int] = mapped_column(ForeignKey("section.id"), index=True)
    rule: Mapped[str] = mapped_column(String(32))
    fingerprint: Mapped[str] = mapped_column(String(64), comment="SHA-256 of the finding's evidence keys")
    summary: Mapped[str] = mapped_column(Text)
    legal_basis: Mapped[str] = mapped_column(String(200))
    evidence: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict, comment="ids, values, leaf indexes")
    status: Mapped[str] = mapped_column(String(16), default=AlertStatus.OPEN.value, index=True)
    raised_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=now)
    decided_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    decided_by: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))
    decision_note: Mapped[str | None] = mapped_column(Text)
    case_ref: Mapped[str | None] = mapped_column(String(64), comment="complaints case id, when escalated")


class RectificationNotice(db.Model):  # type: ignore[name-defined]
    """A rectification notice (整改通知书) from a regulator about a section, with a due date and the
    addressee's response as received by the regulator."""

    __tablename__ = "rectification_notice"
    __table_args__ = (
        CheckConstraint(_in("status", [s.value for s in NoticeStatus]), name="status_valid"),
        CheckConstraint("(status = 'open') = (responded_at IS NULL)", name="responded_iff_not_open"),
        CheckConstraint("(status = 'closed') = (closed_at IS NOT NULL)", name="closed_iff_at"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    section_id: Mapped[int] = mapped_column(ForeignKey("section.id"), index=True)
    addressee_org_id: Mapped[int] = mapped_column(ForeignKey("organization.id"))
    body: Mapped[str] = mapped_column(Text)
    due_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    status: Mapped[str] = mapped_column(String(16), default=NoticeStatus.OPEN.value)
    issued_by: Mapped[int] = mapped_column(ForeignKey("user_account.id"))
    issued_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=now)
    response: Mapped[str | None] = mapped_column(Text)
    responded_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    closed_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    closed_by: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))


class WitnessKey(db.Model):  # type: ignore[name-defined]
    """A regulator's Ed25519 witness key (public half only). The private key stays on the regulator's own
    machine; cosignatures are made offline with ``ggzy-witness sign`` and pasted."""

    __tablename__ = "witness_key"
    __table_args__ = (
        Index(
            "uq_witness_key_active",
            "user_id",
            unique=True,
            sqlite_where=text("revoked_at IS NULL"),
            postgresql_where=text("revoked_at IS NULL"),
        ),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("user_account.id"), index=True)
    public_key: Mapped[str] = mapped_column(String(64), comment="base64 of the raw 32-byte key")
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=now)
    revoked_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
