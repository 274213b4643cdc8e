"""Prequalification models: one round of 资格预审 of a section and the applications submitted to it."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import CheckConstraint, ForeignKey, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.core.clock import now
from app.core.db import UTCDateTime, db

from .enums import PrequalResult, PrequalStatus


def _in(column: str, values: list[str]) -> str:
    return f"{column} IN ({', '.join(repr(v) for v in values)})"


class Prequalification(db.Model):  # type: ignore[name-defined]
    """Prequalification — 资格预审: one round of a section's prequalification, with its notice (资格预审公告),
    its documents (资格预审文件), their sale period (条例 Art. 16), the application deadline (Art. 17) and,
    once the results are notified (Art. 19), whether at least 3 applicants qualified. A failed round is
    followed by a new one (``round`` + 1)."""

    __tablename__ = "prequalification"
    __table_args__ = (
        CheckConstraint(_in("status", [s.value for s in PrequalStatus]), name="status_valid"),
        CheckConstraint("(status = 'draft') = (published_at IS NULL)", name="published_iff_at"),
        CheckConstraint(
            "(status IN ('passed', 'failed')) = (notified_at IS NOT NULL)", name="notified_iff_at"
        ),
        UniqueConstraint("section_id", "round", name="one_round_number"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    section_id: Mapped[int] = mapped_column(ForeignKey("section.id"), index=True)
    round: Mapped[int] = mapped_column(Integer, default=1, comment="1, then 2… after a failed round")
    status: Mapped[str] = mapped_column(String(16), default=PrequalStatus.DRAFT.value)
    notice_text: Mapped[str] = mapped_column(Text, default="", comment="资格预审公告")
    docs_available_from: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    docs_available_until: Mapped[dt.datetime | None] = mapped_column(
        UTCDateTime, comment="资格预审文件停止发售 (≥ 5 日 after the start, 条例 Art. 16)"
    )
    application_deadline: Mapped[dt.datetime | None] = mapped_column(
        UTCDateTime, comment="提交资格预审申请文件的截止时间 (≥ 5 日 after the sale ends, 条例 Art. 17)"
    )
    document_filename: Mapped[str | None] = mapped_column(String(200), comment="资格预审文件")
    document_blob_path: Mapped[str | None] = mapped_column(String(255))
    document_sha256: Mapped[str | None] = mapped_column(String(64))
    document_size: Mapped[int | None] = mapped_column(Integer)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=now)
    created_by: Mapped[int] = mapped_column(ForeignKey("user_account.id"))
    published_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    notified_at: Mapped[dt.datetime | None] = mapped_column(
        UTCDateTime, comment="资格预审结果通知书 sent to every applicant"
    )
    qualified_count: Mapped[int | None] = mapped_column(Integer)

    section = relationship("Section")
    applications: Mapped[list[PrequalApplication]] = relationship(
        back_populates="prequalification", order_by="PrequalApplication.id"
    )


class PrequalApplication(db.Model):  # type: ignore[name-defined]
    """PrequalApplication — 资格预审申请文件: one bidder organization's application to a round, the file and
    its SHA-256, and the review result. Who applied is confidential until the deadline."""

    __tablename__ = "prequal_application"
    __table_args__ = (
        CheckConstraint(_in("result", [r.value for r in PrequalResult]), name="result_valid"),
        CheckConstraint("(result = 'pending') = (reviewed_at IS NULL)", name="reviewed_iff_at"),
        CheckConstraint("result != 'not_qualified' OR reason != ''", name="refusal_has_reason"),
        UniqueConstraint("prequalification_id", "applicant_org_id", name="one_per_applicant"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    prequalification_id: Mapped[int] = mapped_column(ForeignKey("prequalification.id"), index=True)
    applicant_org_id: Mapped[int] = mapped_column(ForeignKey("organization.id"))
    applicant_user_id: Mapped[int] = mapped_column(ForeignKey("user_account.id"))
    filename: Mapped[str] = mapped_column(String(200))
    blob_path: Mapped[str] = mapped_column(String(255))
    sha256: Mapped[str] = mapped_column(String(64))
    size: Mapped[int] = mapped_column(Integer)
    submitted_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, comment="the latest version's arrival")
    result: Mapped[str] = mapped_column(String(16), default=PrequalResult.PENDING.value)
    reason: Mapped[str] = mapped_column(Text, default="", comment="why not qualified (told to the applicant)")
    reviewed_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    reviewed_by: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))

    prequalification: Mapped[Prequalification] = relationship(back_populates="applications")
    applicant = relationship("Organization")
