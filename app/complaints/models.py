"""Cases (objections, complaints, reports), their clocks, routing, threads and evidence.

One ``complaint_case`` table holds the three kinds (single-table inheritance: :class:`Objection`,
:class:`Complaint`, :class:`Report`), because they share the routing, clock, thread and supervision
machinery; CHECK constraints keep each kind's required columns.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import (
    Boolean,
    CheckConstraint,
    Date,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.accounts.models import Organization, User
from app.core.clock import now
from app.core.db import UTCDateTime, db

from .enums import (
    Audience,
    CaseKind,
    CaseStatus,
    Matter,
    NoticeKind,
    PauseReason,
    Regime,
    Remedy,
    TransferKind,
)


def _in(column: str, values: list[str]) -> str:
    return f"{column} IN ({', '.join(repr(v) for v in values)})"


def _values(enum: Any) -> list[str]:
    return [m.value for m in enum]


class Case(db.Model):  # type: ignore[name-defined]
    """A case (案件) on a statutory clock: objection, complaint or report."""

    __tablename__ = "complaint_case"
    __table_args__ = (
        CheckConstraint(_in("kind", _values(CaseKind)), name="kind_valid"),
        CheckConstraint(_in("status", _values(CaseStatus)), name="status_valid"),
        CheckConstraint(_in("regime", _values(Regime)), name="regime_valid"),
        CheckConstraint(_in("matter", _values(Matter)), name="matter_valid"),
        CheckConstraint("remedy IS NULL OR " + _in("remedy", _values(Remedy)), name="remedy_valid"),
        CheckConstraint(
            "kind = 'report' OR status = 'draft' OR section_id IS NOT NULL", name="section_unless_report"
        ),
        CheckConstraint("kind = 'report' OR filer_id IS NOT NULL", name="real_name_unless_report"),
        CheckConstraint("(status = 'draft') = (filed_at IS NULL)", name="filed_iff_not_draft"),
        CheckConstraint("(kind = 'report') = (tracking_hash IS NOT NULL)", name="tracking_iff_report"),
        CheckConstraint("status <> 'upheld' OR remedy IS NOT NULL", name="upheld_has_remedy"),
        CheckConstraint("(status = 'published') = (published_at IS NOT NULL)", name="published_iff_at"),
        CheckConstraint("status <> 'answered' OR answered_at IS NOT NULL", name="answered_has_at"),
        CheckConstraint(
            "primary_handler_id IS NULL OR backup_handler_id IS NULL"
            " OR primary_handler_id <> backup_handler_id",
            name="ab_distinct",
        ),
        Index("ix_complaint_case_open_due", "status", "due_at"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    number: Mapped[str | None] = mapped_column(
        String(32), unique=True, comment="public reference, set on filing"
    )
    kind: Mapped[str] = mapped_column(String(16))
    regime: Mapped[str] = mapped_column(String(16), default=Regime.CONSTRUCTION.value)
    matter: Mapped[str] = mapped_column(String(16), default=Matter.OTHER.value)
    status: Mapped[str] = mapped_column(String(16), default=CaseStatus.DRAFT.value, index=True)
    section_id: Mapped[int | None] = mapped_column(ForeignKey("section.id"), index=True)
    subject: Mapped[str] = mapped_column(String(200), default="")

    # who filed
    filer_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"), index=True)
    filer_org_id: Mapped[int | None] = mapped_column(ForeignKey("organization.id"), index=True)
    by_agent: Mapped[bool] = mapped_column(Boolean, default=False, comment="filed by an agent (代理人)")
    power_of_attorney_id: Mapped[int | None] = mapped_column(
        Integer, comment="attachment carrying the power of attorney (授权委托书)"
    )
    # required content of a complaint (11号令 Art. 7), field by field
    complainant_name: Mapped[str] = mapped_column(String(200), default="")
    complainant_address: Mapped[str] = mapped_column(String(300), default="")
    complainant_contact: Mapped[str] = mapped_column(String(100), default="")
    respondent_name: Mapped[str] = mapped_column(String(200), default="")
    respondent_address: Mapped[str] = mapped_column(String(300), default="")
    respondent_contact: Mapped[str] = mapped_column(String(100), default="")
    facts: Mapped[str] = mapped_column(Text, default="")
    claims: Mapped[str] = mapped_column(Text, default="")
    evidence: Mapped[str] = mapped_column(Text, default="", comment="leads and evidence (线索和证据)")
    other_regulator: Mapped[str] = mapped_column(Text, default="", comment="another regulator already seized")
    cross_department: Mapped[bool] = mapped_column(
        Boolean, default=False, comment="concerns several departments: filed with the management office"
    )
    prior_objection_id: Mapped[int | None] = mapped_column(ForeignKey("complaint_case.id"))
    fingerprint: Mapped[str | None] = mapped_column(
        String(64), index=True, comment="sha256(section, matter, complainant): same facts after a withdrawal"
    )

    # reports
    anonymous: Mapped[bool] = mapped_column(Boolean, default=False)
    reporter_name: Mapped[str] = mapped_column(
        String(100), default="", comment="visible to the handlers only"
    )
    reporter_contact: Mapped[str] = mapped_column(
        String(100), default="", comment="visible to the handlers only"
    )
    tracking_hash: Mapped[str | None] = mapped_column(
        String(64), unique=True, comment="sha256 of the tracking code; the code itself is never stored"
    )

    # routing: 首问负责, 转办/交办, AB角
    respondent_org_id: Mapped[int | None] = mapped_column(ForeignKey("organization.id"), index=True)
    handling_org_id: Mapped[int | None] = mapped_column(
        ForeignKey("organization.id"), index=True, comment="department currently responsible"
    )
    owner_id: Mapped[int | None] = mapped_column(
        ForeignKey("user_account.id"), comment="首问负责: who received it in the handling department"
    )
    primary_handler_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"), index=True)
    backup_handler_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"), index=True)
    backup_may_act: Mapped[bool] = mapped_column(
        Boolean,
        default=False,
        comment="AB角: set when the backup was alerted (primary absent or case untouched)",
    )

    # clocks
    knew_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime, comment="when the filer knew (知道)")
    filed_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    received_at: Mapped[dt.datetime | None] = mapped_column(
        UTCDateTime, comment="received by the current department (restarts at each transfer)"
    )
    accepted_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    assigned_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    due_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime, comment="the running clock's end")
    overdue_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime, comment="marked overdue by the tick")
    last_activity_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    answered_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    decided_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    published_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    closed_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)

    # outcome
    answer: Mapped[str] = mapped_column(Text, default="", comment="answer to an objection or a report")
    decision: Mapped[str] = mapped_column(Text, default="", comment="decision text (facts found, basis)")
    remedy: Mapped[str | None] = mapped_column(String(16))
    violation_established: Mapped[bool] = mapped_column(
        Boolean, default=False, comment="a clear violation is established: withdrawal is refused"
    )
    groundless: Mapped[bool] = mapped_column(Boolean, default=False, comment="rejected as groundless")
    suspended_section: Mapped[bool] = mapped_column(
        Boolean, default=False, comment="this case suspended its section and must resume it"
    )
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=now)

    __mapper_args__ = {"polymorphic_on": "kind"}  # noqa: RUF012 - SQLAlchemy reads a plain dict

    filer: Mapped[User | None] = relationship(foreign_keys=[filer_id])
    filer_org: Mapped[Organization | None] = relationship(foreign_keys=[filer_org_id])
    respondent_org: Mapped[Organization | None] = relationship(foreign_keys=[respondent_org_id])
    handling_org: Mapped[Organization | None] = relationship(foreign_keys=[handling_org_id])
    owner: Mapped[User | None] = relationship(foreign_keys=[owner_id])
    primary_handler: Mapped[User | None] = relationship(foreign_keys=[primary_handler_id])
    backup_handler: Mapped[User | None] = relationship(foreign_keys=[backup_handler_id])
    section: Mapped[Any] = relationship("Section", foreign_keys=[section_id])
    prior_objection: Mapped[Case | None] = relationship(remote_side=[id], foreign_keys=[prior_objection_id])
    pauses: Mapped[list[CasePause]] = relationship(back_populates="case", order_by="CasePause.id")
    transfers: Mapped[list[CaseTransfer]] = relationship(back_populates="case", order_by="CaseTransfer.id")
    events: Mapped[list[CaseEvent]] = relationship(back_populates="case", order_by="CaseEvent.id")
    messages: Mapped[list[CaseMessage]] = relationship(back_populates="case", order_by="CaseMessage.id")
    attachments: Mapped[list[CaseAttachment]] = relationship(
        back_populates="case", order_by="CaseAttachment.id"
    )

    @property
    def first_receipt(self) -> CaseTransfer | None:
        """首问: the first person on the platform who received the case (it stays theirs to follow up even
        after the case moves to another department, where a new receiver owns the handling)."""
        return next((t for t in self.transfers if t.kind == TransferKind.RECEIVED.value), None)

    @property
    def kind_enum(self) -> CaseKind:
        return CaseKind(self.kind)

    @property
    def status_enum(self) -> CaseStatus:
        return CaseStatus(self.status)

    @property
    def regime_enum(self) -> Regime:
        return Regime(self.regime)

    @property
    def matter_enum(self) -> Matter:
        return Matter(self.matter)

    @property
    def is_paused(self) -> bool:
        return any(p.ended_at is None for p in self.pauses)


class Objection(Case):
    """Objection — 异议 (construction, 条例 22/44/54) or challenge — 质疑 (procurement, 采购法 52), raised
    with the tenderer."""

    __mapper_args__ = {"polymorphic_identity": CaseKind.OBJECTION.value}  # noqa: RUF012


class Complaint(Case):
    """Complaint — 投诉, to the regulator of the section's industry (条例 60–62; 94号令)."""

    __mapper_args__ = {"polymorphic_identity": CaseKind.COMPLAINT.value}  # noqa: RUF012


class Report(Case):
    """Report — 举报, by anyone, anonymous allowed; followed with a tracking code."""

    __mapper_args__ = {"polymorphic_identity": CaseKind.REPORT.value}  # noqa: RUF012


class CasePause(db.Model):  # type: ignore[name-defined]
    """A period that does not count towards the decision clock (expert review, testing, appraisal)."""

    __tablename__ = "complaint_case_pause"
    __table_args__ = (
        CheckConstraint(_in("reason", _values(PauseReason)), name="reason_valid"),
        CheckConstraint("ended_at IS NULL OR ended_at >= started_at", name="interval"),
        Index(
            "uq_complaint_case_pause_open",
            "case_id",
            unique=True,
            sqlite_where=text("ended_at IS NULL"),
            postgresql_where=text("ended_at IS NULL"),
        ),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("complaint_case.id"), index=True)
    reason: Mapped[str] = mapped_column(String(16))
    note: Mapped[str] = mapped_column(Text, default="")
    started_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    ended_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    started_by: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))

    case: Mapped[Case] = relationship(back_populates="pauses")


class CaseTransfer(db.Model):  # type: ignore[name-defined]
    """One link of the transfer chain: received (首问), forwarded (转办), assigned (交办), transferred
    (移送)."""

    __tablename__ = "complaint_case_transfer"
    __table_args__ = (CheckConstraint(_in("kind", _values(TransferKind)), name="kind_valid"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("complaint_case.id"), index=True)
    kind: Mapped[str] = mapped_column(String(16))
    from_org_id: Mapped[int | None] = mapped_column(ForeignKey("organization.id"))
    to_org_id: Mapped[int | None] = mapped_column(ForeignKey("organization.id"))
    to_user_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))
    backup_user_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))
    actor_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))
    due_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    note: Mapped[str] = mapped_column(Text, default="")
    at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=now)

    case: Mapped[Case] = relationship(back_populates="transfers")
    from_org: Mapped[Organization | None] = relationship(foreign_keys=[from_org_id])
    to_org: Mapped[Organization | None] = relationship(foreign_keys=[to_org_id])
    to_user: Mapped[User | None] = relationship(foreign_keys=[to_user_id])
    actor: Mapped[User | None] = relationship(foreign_keys=[actor_id])


class CaseEvent(db.Model):  # type: ignore[name-defined]
    """The case history as the parties see it (the audit log holds the signed record)."""

    __tablename__ = "complaint_case_event"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("complaint_case.id"), index=True)
    action: Mapped[str] = mapped_column(String(32))
    from_status: Mapped[str | None] = mapped_column(String(16))
    to_status: Mapped[str | None] = mapped_column(String(16))
    note: Mapped[str] = mapped_column(Text, default="")
    internal: Mapped[bool] = mapped_column(Boolean, default=False, comment="shown to handlers only")
    actor_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))
    at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=now)

    case: Mapped[Case] = relationship(back_populates="events")
    actor: Mapped[User | None] = relationship()


class CaseMessage(db.Model):  # type: ignore[name-defined]
    """A message in the case thread; ``audience`` says who may read it."""

    __tablename__ = "complaint_case_message"
    __table_args__ = (CheckConstraint(_in("audience", _values(Audience)), name="audience_valid"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("complaint_case.id"), index=True)
    author_id: Mapped[int | None] = mapped_column(
        ForeignKey("user_account.id"), comment="NULL: the reporter, through the tracking code"
    )
    author_side: Mapped[str] = mapped_column(String(16), comment="filer, respondent or handler")
    audience: Mapped[str] = mapped_column(String(16), default=Audience.PARTIES.value)
    body: Mapped[str] = mapped_column(Text)
    at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=now)

    case: Mapped[Case] = relationship(back_populates="messages")
    author: Mapped[User | None] = relationship()


class CaseAttachment(db.Model):  # type: ignore[name-defined]
    """Evidence in the thread: a durable blob addressed by the server, with its SHA-256."""

    __tablename__ = "complaint_case_attachment"
    __table_args__ = (
        CheckConstraint(_in("audience", _values(Audience)), name="audience_valid"),
        CheckConstraint("size >= 0", name="size_nonneg"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("complaint_case.id"), index=True)
    uploaded_by: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))
    audience: Mapped[str] = mapped_column(String(16), default=Audience.PARTIES.value)
    filename: Mapped[str] = mapped_column(String(255))
    content_type: Mapped[str] = mapped_column(String(100))
    size: Mapped[int] = mapped_column(Integer)
    sha256: Mapped[str] = mapped_column(String(64))
    blob_path: Mapped[str] = mapped_column(String(255))
    at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=now)

    case: Mapped[Case] = relationship(back_populates="attachments")


class CaseNotice(db.Model):  # type: ignore[name-defined]
    """A notice the tick sent (overdue, escalation, AB角 alert): the unique key makes the tick idempotent."""

    __tablename__ = "complaint_case_notice"
    __table_args__ = (
        UniqueConstraint("case_id", "kind", "key", name="case_kind_key"),
        CheckConstraint(_in("kind", _values(NoticeKind)), name="kind_valid"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("complaint_case.id"), index=True)
    kind: Mapped[str] = mapped_column(String(24))
    key: Mapped[str] = mapped_column(String(64), comment="what the notice is about, e.g. the due date")
    sent_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=now)


class HandlerAbsence(db.Model):  # type: ignore[name-defined]
    """A handler's leave (请假): while it lasts, the backup handler (B角) acts on the handler's cases."""

    __tablename__ = "complaint_handler_absence"
    __table_args__ = (CheckConstraint("last_day >= first_day", name="order"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("user_account.id"), index=True)
    first_day: Mapped[dt.date] = mapped_column(Date)
    last_day: Mapped[dt.date] = mapped_column(Date)
    note: Mapped[str] = mapped_column(String(200), default="")
    created_by: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=now)


class DepartmentHead(db.Model):  # type: ignore[name-defined]
    """The head of a handling department, who receives escalations (督办升级)."""

    __tablename__ = "complaint_department_head"

    org_id: Mapped[int] = mapped_column(ForeignKey("organization.id"), primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("user_account.id"))


class CreditRecord(db.Model):  # type: ignore[name-defined]
    """A credit-file entry flagged to the regulator: three or more groundless complaints in 12 months
    (94号令 Art. 37; 浙江省招标投标条例 Art. 49)."""

    __tablename__ = "complaint_credit_record"
    __table_args__ = (UniqueConstraint("org_id", "last_case_id", name="org_last_case"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    org_id: Mapped[int] = mapped_column(ForeignKey("organization.id"), index=True)
    regulator_org_id: Mapped[int | None] = mapped_column(ForeignKey("organization.id"))
    reason: Mapped[str] = mapped_column(Text)
    case_ids: Mapped[str] = mapped_column(Text, comment="comma-separated ids of the groundless complaints")
    last_case_id: Mapped[int] = mapped_column(ForeignKey("complaint_case.id"))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=now)

    org: Mapped[Organization] = relationship(foreign_keys=[org_id])
