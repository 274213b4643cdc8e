"""Contracts models: the signed contract of a section, its amendments, and procurement intentions."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from sqlalchemy import CheckConstraint, Date, ForeignKey, Integer, Numeric, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.core.clock import now
from app.core.db import UTCDateTime, db

from .enums import ContractStatus, IntentionStatus


def _in(column: str, values: list[str]) -> str:
    return f"{column} IN ({', '.join(repr(v) for v in values)})"


class Contract(db.Model):  # type: ignore[name-defined]
    """Contract — 合同: the contract signed by the tenderer (purchaser) and the winner of a section, uploaded
    as the signed PDF and, for government procurement, published within 2 working days of signing
    (政府采购法实施条例 Art. 50)."""

    __tablename__ = "contract"
    __table_args__ = (
        CheckConstraint(_in("status", [s.value for s in ContractStatus]), name="status_valid"),
        CheckConstraint("(status = 'published') = (published_at IS NOT NULL)", name="published_iff_at"),
        CheckConstraint("amount > 0", name="amount_positive"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    section_id: Mapped[int] = mapped_column(ForeignKey("section.id"), unique=True)
    evaluation_id: Mapped[int] = mapped_column(ForeignKey("evaluation.id"), index=True)
    supplier_org_id: Mapped[int] = mapped_column(ForeignKey("organization.id"), comment="the winner")
    supplier_name: Mapped[str] = mapped_column(String(200))
    title: Mapped[str] = mapped_column(String(200))
    amount: Mapped[Decimal] = mapped_column(Numeric(16, 2), comment="contract amount in yuan")
    signed_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    status: Mapped[str] = mapped_column(String(16), default=ContractStatus.SIGNED.value)
    filename: Mapped[str] = mapped_column(String(200))
    blob_path: Mapped[str] = mapped_column(String(255))
    sha256: Mapped[str] = mapped_column(String(64))
    size: Mapped[int] = mapped_column(Integer)
    uploaded_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=now)
    uploaded_by: Mapped[int] = mapped_column(ForeignKey("user_account.id"))
    publish_due_at: Mapped[dt.datetime | None] = mapped_column(
        UTCDateTime, comment="government procurement: end of the 2nd working day after signing"
    )
    published_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    published_by: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))

    amendments: Mapped[list[ContractAmendment]] = relationship(
        back_populates="contract", order_by="ContractAmendment.number"
    )

    @property
    def published_late(self) -> bool:
        return (
            self.publish_due_at is not None
            and self.published_at is not None
            and self.published_at > self.publish_due_at
        )


class ContractAmendment(db.Model):  # type: ignore[name-defined]
    """Contract amendment — 合同变更/补充合同: recorded with its signed document and the amount after it."""

    __tablename__ = "contract_amendment"
    __table_args__ = (
        UniqueConstraint("contract_id", "number", name="contract_number"),
        CheckConstraint("amount_after > 0", name="amount_positive"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    contract_id: Mapped[int] = mapped_column(ForeignKey("contract.id"), index=True)
    number: Mapped[int] = mapped_column(Integer, comment="1, 2, … per contract")
    summary: Mapped[str] = mapped_column(Text)
    amount_after: Mapped[Decimal] = mapped_column(Numeric(16, 2))
    signed_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    filename: Mapped[str] = mapped_column(String(200))
    blob_path: Mapped[str] = mapped_column(String(255))
    sha256: Mapped[str] = mapped_column(String(64))
    size: Mapped[int] = mapped_column(Integer)
    recorded_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=now)
    recorded_by: Mapped[int] = mapped_column(ForeignKey("user_account.id"))

    contract: Mapped[Contract] = relationship(back_populates="amendments")


class ProcurementIntention(db.Model):  # type: ignore[name-defined]
    """Procurement intention — 采购意向: what a government procurement purchaser intends to buy, published at
    least 30 days before the procurement starts (财库〔2020〕10号)."""

    __tablename__ = "procurement_intention"
    __table_args__ = (
        CheckConstraint(_in("status", [s.value for s in IntentionStatus]), name="status_valid"),
        CheckConstraint("status = 'draft' OR published_at IS NOT NULL", name="published_has_at"),
        CheckConstraint("(status = 'withdrawn') = (withdrawn_at IS NOT NULL)", name="withdrawn_iff_at"),
        CheckConstraint("budget > 0", name="budget_positive"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    project_id: Mapped[int] = mapped_column(ForeignKey("project.id"), index=True)
    org_id: Mapped[int] = mapped_column(ForeignKey("organization.id"), index=True, comment="the purchaser")
    project_name: Mapped[str] = mapped_column(String(200))
    budget: Mapped[Decimal] = mapped_column(Numeric(16, 2), comment="yuan")
    needs_summary: Mapped[str] = mapped_column(Text)
    expected_month: Mapped[dt.date] = mapped_column(Date, comment="first day of the expected month")
    status: Mapped[str] = mapped_column(String(16), default=IntentionStatus.DRAFT.value)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=now)
    created_by: Mapped[int] = mapped_column(ForeignKey("user_account.id"))
    published_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    withdrawn_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    withdraw_reason: Mapped[str | None] = mapped_column(Text)
