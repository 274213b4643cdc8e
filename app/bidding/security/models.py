"""Bid security ledger models. Every amount is an integer number of fen (分), never a float."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    CheckConstraint,
    Date,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.accounts.models import Organization
from app.core.clock import now
from app.core.db import UTCDateTime, db
from app.projects.models import Section

from ..enums import BankDirection, ForfeitureGround, MovementKind, SecurityForm, SecurityStatus

Fen = BigInteger().with_variant(Integer(), "sqlite")


def _in(column: str, values: list[str], *, nullable: bool = False) -> str:
    quoted = ", ".join(f"'{v}'" for v in values)
    clause = f"{column} IN ({quoted})"
    return f"({column} IS NULL OR {clause})" if nullable else clause


class BidSecurity(db.Model):  # type: ignore[name-defined]
    """BidSecurity — 投标保证金: one bidder's security in one section, with its virtual sub-account
    (虚拟子账号).
    The sub-account number is random, so it tells nobody but its holder who intends to bid."""

    __tablename__ = "bid_security"
    __table_args__ = (
        UniqueConstraint("section_id", "org_id", name="one_per_bidder"),
        CheckConstraint(_in("status", [s.value for s in SecurityStatus]), name="status_valid"),
        CheckConstraint(_in("form", [f.value for f in SecurityForm]), name="form_valid"),
        CheckConstraint(
            _in("forfeit_ground", [g.value for g in ForfeitureGround], nullable=True), name="ground_valid"
        ),
        CheckConstraint("required_fen >= 0 AND received_fen >= 0 AND interest_fen >= 0", name="amounts_sane"),
        CheckConstraint("(status = 'forfeited') = (forfeit_ground IS NOT NULL)", name="forfeit_has_ground"),
        CheckConstraint("status != 'secured' OR secured_at IS NOT NULL", name="secured_has_time"),
        CheckConstraint("status != 'refund_due' OR refund_due_at IS NOT NULL", name="refund_has_due"),
        CheckConstraint("status != 'refunded' OR refunded_at IS NOT NULL", name="refunded_has_time"),
        CheckConstraint("(form = 'guarantee') = (guarantee_number IS NOT NULL)", name="guarantee_has_number"),
        Index("guarantee_once", "guarantee_issuer", "guarantee_number", unique=True),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    section_id: Mapped[int] = mapped_column(ForeignKey("section.id"), index=True)
    org_id: Mapped[int] = mapped_column(ForeignKey("organization.id"), index=True)
    account_no: Mapped[str] = mapped_column(String(32), unique=True, comment="the virtual sub-account")
    form: Mapped[str] = mapped_column(String(16), default=SecurityForm.CASH.value)
    status: Mapped[str] = mapped_column(String(16), default=SecurityStatus.AWAITING.value)
    required_fen: Mapped[int] = mapped_column(Fen, comment="the section's security when issued")
    received_fen: Mapped[int] = mapped_column(Fen, default=0, comment="cash credited, principal")
    interest_fen: Mapped[int] = mapped_column(Fen, default=0, comment="interest paid with the refund")
    payer_account: Mapped[str | None] = mapped_column(String(64), comment="first payer (basic account)")
    payer_name: Mapped[str | None] = mapped_column(String(200))
    issued_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=now)
    secured_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    refund_due_at: Mapped[dt.datetime | None] = mapped_column(
        UTCDateTime, comment="statutory refund deadline"
    )
    refund_reason: Mapped[str | None] = mapped_column(Text)
    refunded_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    forfeit_ground: Mapped[str | None] = mapped_column(String(32))
    forfeit_note: Mapped[str | None] = mapped_column(Text)
    guarantee_issuer: Mapped[str | None] = mapped_column(String(64))
    guarantee_number: Mapped[str | None] = mapped_column(String(64))
    guarantee_amount_fen: Mapped[int | None] = mapped_column(Fen)
    guarantee_valid_from: Mapped[dt.date | None] = mapped_column(Date)
    guarantee_valid_until: Mapped[dt.date | None] = mapped_column(Date)
    guarantee_document: Mapped[dict[str, Any] | None] = mapped_column(
        JSON, comment="the issuer's signed data as verified"
    )

    section: Mapped[Section] = relationship()
    org: Mapped[Organization] = relationship()
    movements: Mapped[list[BankMovement]] = relationship(
        back_populates="security", order_by="BankMovement.id"
    )

    @property
    def held_fen(self) -> int:
        """Cash the sub-account holds for this bidder now."""
        held = 0
        for m in self.movements:
            held += m.amount_fen if m.direction == BankDirection.CREDIT else -m.amount_fen
        return held


class BankMovement(db.Model):  # type: ignore[name-defined]
    """One movement on the bank's books of the security account, keyed by the bank's own reference: a callback
    and the day's statement naming the same reference book it once."""

    __tablename__ = "bank_movement"
    __table_args__ = (
        CheckConstraint(_in("direction", [d.value for d in BankDirection]), name="direction_valid"),
        CheckConstraint(_in("kind", [k.value for k in MovementKind]), name="kind_valid"),
        CheckConstraint("amount_fen > 0", name="amount_positive"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    bank_ref: Mapped[str] = mapped_column(String(64), unique=True, comment="the bank's transaction reference")
    security_id: Mapped[int | None] = mapped_column(
        ForeignKey("bid_security.id"), index=True, comment="NULL: money to an unknown sub-account (suspense)"
    )
    account_no: Mapped[str] = mapped_column(String(32))
    direction: Mapped[str] = mapped_column(String(8))
    kind: Mapped[str] = mapped_column(String(16))
    amount_fen: Mapped[int] = mapped_column(Fen)
    counterparty_account: Mapped[str | None] = mapped_column(String(64))
    counterparty_name: Mapped[str | None] = mapped_column(String(200))
    booked_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, index=True, comment="the bank's value time")
    recorded_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=now)
    source: Mapped[str] = mapped_column(String(16), comment="callback, statement or platform")

    security: Mapped[BidSecurity | None] = relationship(back_populates="movements")


class Reconciliation(db.Model):  # type: ignore[name-defined]
    """One reconciliation of the bank's statement of a day (Beijing date) against the ledger."""

    __tablename__ = "security_reconciliation"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    day: Mapped[dt.date] = mapped_column(Date, index=True)
    run_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=now)
    run_by: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))
    statement_lines: Mapped[int] = mapped_column(Integer)
    matched: Mapped[int] = mapped_column(Integer)
    booked_from_statement: Mapped[int] = mapped_column(Integer, comment="callbacks that never came")
    statement_credits_fen: Mapped[int] = mapped_column(Fen)
    statement_debits_fen: Mapped[int] = mapped_column(Fen)
    ledger_credits_fen: Mapped[int] = mapped_column(Fen)
    ledger_debits_fen: Mapped[int] = mapped_column(Fen)
    differences: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)

    @property
    def balanced(self) -> bool:
        return not self.differences


class SimulatedBankEntry(db.Model):  # type: ignore[name-defined]
    """The simulated bank's own books (demo and tests only): what it would print on its statement."""

    __tablename__ = "simulated_bank_entry"
    __table_args__ = (CheckConstraint("amount_fen > 0", name="amount_positive"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    bank_ref: Mapped[str] = mapped_column(String(64), unique=True)
    account_no: Mapped[str] = mapped_column(String(32))
    direction: Mapped[str] = mapped_column(String(8))
    kind: Mapped[str] = mapped_column(String(16))
    amount_fen: Mapped[int] = mapped_column(Fen)
    counterparty_account: Mapped[str | None] = mapped_column(String(64))
    counterparty_name: Mapped[str | None] = mapped_column(String(200))
    booked_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, index=True)
