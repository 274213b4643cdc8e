"""Trading catalogue, projects, sections and what hangs off a section before the bids arrive.

State columns are strings with a CHECK of allowed values; further CHECKs tie each state to the columns it
needs (a published section has ``published_at``, a cancelled one a reason, …), so a bug in a service cannot
store an impossible row.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    CheckConstraint,
    Date,
    ForeignKey,
    Index,
    Integer,
    Numeric,
    String,
    Text,
    UniqueConstraint,
    event,
    false,
    inspect,
    text,
)
from sqlalchemy import false as sa_false
from sqlalchemy.orm import Mapped, Session, mapped_column, relationship

from app.accounts.models import Organization, User
from app.core.clock import now
from app.core.db import UTCDateTime, db

from .enums import (
    CatalogueStatus,
    Category,
    DayUnit,
    EvaluationMethod,
    Procedure,
    ProjectStatus,
    SectionStatus,
)

Money = Numeric(18, 2)


def _in(column: str, values: list[str]) -> str:
    return f"{column} IN ({', '.join(repr(v) for v in values)})"


_UNITS = [u.value for u in DayUnit]


class CatalogueVersion(db.Model):  # type: ignore[name-defined]
    """One version of the trading catalogue (交易目录): drafted, opened for public comment for a set
    period, then published by the management office. Earlier versions stay as history."""

    __tablename__ = "catalogue_version"
    __table_args__ = (
        CheckConstraint(_in("status", [s.value for s in CatalogueStatus]), name="status_valid"),
        CheckConstraint(
            "(status = 'draft') = (comment_closes_at IS NULL)"
            " AND (status = 'draft') = (comment_opens_at IS NULL)",
            name="comment_period_iff_not_draft",
        ),
        CheckConstraint(
            "(status IN ('published', 'superseded')) = (published_at IS NOT NULL)",
            name="published_at_iff_published",
        ),
        CheckConstraint("comment_closes_at IS NULL OR comment_closes_at > comment_opens_at", name="period"),
        # One version in force at a time.
        Index(
            "uq_catalogue_version_in_force",
            "status",
            unique=True,
            sqlite_where=text("status = 'published'"),
            postgresql_where=text("status = 'published'"),
        ),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    number: Mapped[int] = mapped_column(Integer, unique=True, comment="1, 2, 3 … in order of drafting")
    title: Mapped[str] = mapped_column(String(200))
    notes: Mapped[str] = mapped_column(Text, default="")
    status: Mapped[str] = mapped_column(String(16), default=CatalogueStatus.DRAFT.value)
    comment_opens_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    comment_closes_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    published_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    published_by: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))
    superseded_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    created_by: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=now)

    items: Mapped[list[CatalogueItem]] = relationship(
        back_populates="version", order_by="CatalogueItem.code", cascade="all, delete-orphan"
    )
    comments: Mapped[list[CatalogueComment]] = relationship(
        back_populates="version", order_by="CatalogueComment.id"
    )

    @property
    def status_enum(self) -> CatalogueStatus:
        return CatalogueStatus(self.status)


class CatalogueItem(db.Model):  # type: ignore[name-defined]
    """A trading catalogue item (交易目录事项) and the statutory clock it trades under.

    Each rule carries its own day unit because the statutes mix them: government procurement counts the
    document sale period in working days (87号令 Art. 18) but the 20-day bidding period in calendar days
    (采购法 Art. 35); see ``app.projects.rules.DEFAULT_RULES``."""

    __tablename__ = "catalogue_item"
    __table_args__ = (
        UniqueConstraint("version_id", "code", name="version_code"),
        CheckConstraint(_in("category", [c.value for c in Category]), name="category_valid"),
        CheckConstraint(_in("sale_day_unit", _UNITS), name="sale_unit_valid"),
        CheckConstraint(_in("bid_day_unit", _UNITS), name="bid_unit_valid"),
        CheckConstraint(_in("amendment_day_unit", _UNITS), name="amendment_unit_valid"),
        CheckConstraint(_in("objection_day_unit", _UNITS), name="objection_unit_valid"),
        CheckConstraint(
            "min_sale_days >= 1 AND min_bid_days >= 1 AND amendment_lead_days >= 1"
            " AND (objection_lead_days IS NULL OR objection_lead_days >= 1)",
            name="days_positive",
        ),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    version_id: Mapped[int] = mapped_column(ForeignKey("catalogue_version.id"), index=True)
    code: Mapped[str] = mapped_column(String(32))
    name: Mapped[str] = mapped_column(String(200))
    category: Mapped[str] = mapped_column(String(32))
    industry: Mapped[str | None] = mapped_column(
        String(32), comment="industry of the regulator that supervises trades of this item"
    )
    min_sale_days: Mapped[int] = mapped_column(Integer, default=5, comment="documents available (sale)")
    sale_day_unit: Mapped[str] = mapped_column(String(16), default=DayUnit.CALENDAR.value)
    min_bid_days: Mapped[int] = mapped_column(
        Integer, default=20, comment="documents available → bid deadline"
    )
    bid_day_unit: Mapped[str] = mapped_column(String(16), default=DayUnit.CALENDAR.value)
    amendment_lead_days: Mapped[int] = mapped_column(
        Integer, default=15, comment="amendment affecting bids → bid deadline"
    )
    amendment_day_unit: Mapped[str] = mapped_column(String(16), default=DayUnit.CALENDAR.value)
    objection_lead_days: Mapped[int | None] = mapped_column(
        Integer, comment="objection to documents → bid deadline; NULL where the regime has no such rule"
    )
    objection_day_unit: Mapped[str] = mapped_column(String(16), default=DayUnit.CALENDAR.value)
    legal_basis: Mapped[str] = mapped_column(Text, default="")

    version: Mapped[CatalogueVersion] = relationship(back_populates="items")

    @property
    def category_enum(self) -> Category:
        return Category(self.category)


class CatalogueComment(db.Model):  # type: ignore[name-defined]
    """A comment on a catalogue version during its public comment period (anyone; the public too)."""

    __tablename__ = "catalogue_comment"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    version_id: Mapped[int] = mapped_column(ForeignKey("catalogue_version.id"), index=True)
    user_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"), comment="NULL: the public")
    author_name: Mapped[str] = mapped_column(String(100))
    body: Mapped[str] = mapped_column(Text)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=now)

    version: Mapped[CatalogueVersion] = relationship(back_populates="comments")


class Project(db.Model):  # type: ignore[name-defined]
    """Project — 项目, registered for trading (进场登记) by its owner (招标人) or by an agency (代理) acting
    for the owner, and reviewed by the trading center."""

    __tablename__ = "project"
    __table_args__ = (
        CheckConstraint(_in("status", [s.value for s in ProjectStatus]), name="status_valid"),
        CheckConstraint("(status = 'returned') = (return_reason IS NOT NULL)", name="returned_iff_reason"),
        CheckConstraint("(status = 'submitted') = (reviewed_at IS NULL)", name="reviewed_iff_decided"),
        CheckConstraint("budget >= 0", name="budget_nonneg"),
        CheckConstraint("agency_org_id IS NULL OR agency_org_id <> owner_org_id", name="agency_not_owner"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    code: Mapped[str] = mapped_column(String(32), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    catalogue_item_id: Mapped[int] = mapped_column(ForeignKey("catalogue_item.id"), index=True)
    owner_org_id: Mapped[int] = mapped_column(ForeignKey("organization.id"), index=True, comment="招标人")
    agency_org_id: Mapped[int | None] = mapped_column(
        ForeignKey("organization.id"), index=True, comment="招标代理 acting for the owner"
    )
    regulator_org_id: Mapped[int] = mapped_column(ForeignKey("organization.id"), index=True)
    funding_source: Mapped[str] = mapped_column(String(200))
    approval_ref: Mapped[str] = mapped_column(String(200), comment="项目审批/核准/备案 reference")
    budget: Mapped[Decimal] = mapped_column(Money)
    region: Mapped[str] = mapped_column(String(64), default="")
    status: Mapped[str] = mapped_column(String(16), default=ProjectStatus.SUBMITTED.value)
    return_reason: Mapped[str | None] = mapped_column(Text)
    submitted_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=now)
    reviewed_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    reviewed_by: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))
    created_by: Mapped[int] = mapped_column(ForeignKey("user_account.id"))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=now)

    catalogue_item: Mapped[CatalogueItem] = relationship()
    owner_org: Mapped[Organization] = relationship(foreign_keys=[owner_org_id])
    agency_org: Mapped[Organization | None] = relationship(foreign_keys=[agency_org_id])
    regulator_org: Mapped[Organization] = relationship(foreign_keys=[regulator_org_id])
    creator: Mapped[User] = relationship(foreign_keys=[created_by])
    sections: Mapped[list[Section]] = relationship(back_populates="project", order_by="Section.id")

    @property
    def status_enum(self) -> ProjectStatus:
        return ProjectStatus(self.status)


class OpeningRoom(db.Model):  # type: ignore[name-defined]
    """A bid-opening room (开标室) of the trading center."""

    __tablename__ = "opening_room"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(100), unique=True)
    location: Mapped[str] = mapped_column(String(200), default="")
    capacity: Mapped[int] = mapped_column(Integer, default=30)
    is_active: Mapped[bool] = mapped_column(Boolean, default=True)


class Section(db.Model):  # type: ignore[name-defined]
    """Section — 标段/包: the unit that is tendered, bid, opened, evaluated and awarded.

    The bid deadline is also the opening time (条例 Art. 44 / 法 Art. 34)."""

    __tablename__ = "section"
    __table_args__ = (
        UniqueConstraint("project_id", "code", name="project_code"),
        CheckConstraint(_in("status", [s.value for s in SectionStatus]), name="status_valid"),
        CheckConstraint(
            _in("evaluation_method", [m.value for m in EvaluationMethod]), name="evaluation_method_valid"
        ),
        CheckConstraint(_in("procedure", [p.value for p in Procedure]), name="procedure_valid"),
        CheckConstraint("(status = 'draft') = (published_at IS NULL)", name="published_iff_published_at"),
        CheckConstraint("(status = 'cancelled') = (cancel_reason IS NOT NULL)", name="cancelled_iff_reason"),
        CheckConstraint("(status = 'failed') = (failed_reason IS NOT NULL)", name="failed_iff_reason"),
        CheckConstraint(
            "status = 'draft' OR (ceiling_price IS NOT NULL AND docs_available_from IS NOT NULL"
            " AND docs_available_until IS NOT NULL AND bid_deadline IS NOT NULL)",
            name="published_has_terms",
        ),
        CheckConstraint("estimated_value > 0", name="estimated_value_positive"),
        CheckConstraint("ceiling_price IS NULL OR ceiling_price > 0", name="ceiling_positive"),
        # 条例 Art. 26: bid security ≤ 2 % of the estimated value (exact in decimal arithmetic).
        CheckConstraint(
            "bid_security >= 0 AND bid_security * 50 <= estimated_value", name="security_le_2pct"
        ),
        CheckConstraint("panel_size >= 5 AND panel_size % 2 = 1", name="panel_odd_ge_5"),
        CheckConstraint("panel_pool_count * 3 >= panel_size * 2", name="panel_pool_two_thirds"),
        CheckConstraint("panel_pool_count <= panel_size", name="panel_pool_le_size"),
        CheckConstraint("custodian_k >= 2", name="custodian_k_ge_2"),
        CheckConstraint("bid_validity_days > 0", name="bid_validity_positive"),
        # 条例 Art. 58, 采购条例 Art. 48: a performance security is at most 10 % of the contract amount.
        CheckConstraint(
            "performance_security_pct IS NULL"
            " OR (performance_security_pct > 0 AND performance_security_pct <= 10)",
            name="performance_security_le_10pct",
        ),
        CheckConstraint("max_envelope_mb >= 1", name="envelope_positive"),
        CheckConstraint(
            "docs_available_until IS NULL OR docs_available_from IS NULL"
            " OR docs_available_until > docs_available_from",
            name="sale_period_order",
        ),
        CheckConstraint("NOT (online_only AND room_id IS NOT NULL)", name="online_or_room"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    project_id: Mapped[int] = mapped_column(ForeignKey("project.id"), index=True)
    code: Mapped[str] = mapped_column(String(40))
    name: Mapped[str] = mapped_column(String(200))
    status: Mapped[str] = mapped_column(String(16), default=SectionStatus.DRAFT.value, index=True)
    suspended: Mapped[bool] = mapped_column(
        Boolean, default=False, comment="overlay: an open section_suspension row exists"
    )
    notice_text: Mapped[str] = mapped_column(Text, default="", comment="招标公告 text; amendments diff it")
    estimated_value: Mapped[Decimal] = mapped_column(Money)
    ceiling_price: Mapped[Decimal | None] = mapped_column(Money, comment="最高投标限价, public")
    bid_security: Mapped[Decimal] = mapped_column(Money, default=Decimal("0"))
    qualification: Mapped[str] = mapped_column(Text, default="", comment="资格要求")
    evaluation_method: Mapped[str] = mapped_column(String(32), default=EvaluationMethod.LOWEST_PRICE.value)
    procedure: Mapped[str] = mapped_column(
        String(32), default=Procedure.OPEN.value, server_default=Procedure.OPEN.value, comment="采购/招标方式"
    )
    procedure_approval_ref: Mapped[str] = mapped_column(
        String(200), default="", server_default="", comment="approval of a non-open procedure (e.g. 邀请招标)"
    )
    invited_org_ids: Mapped[list[int] | None] = mapped_column(
        JSON,
        nullable=True,
        default=list,
        comment="邀请招标: the invited bidder organizations (only they obtain and bid)",
    )
    prequalification: Mapped[bool] = mapped_column(
        Boolean,
        default=False,
        server_default=false(),
        comment="资格预审: only the applicants its prequalification qualified obtain the documents and bid",
    )
    scoring_criteria: Mapped[list[dict[str, Any]]] = mapped_column(
        JSON, default=list, comment="comprehensive scoring: [{name, weight}], weights sum to 100"
    )
    bid_validity_days: Mapped[int] = mapped_column(
        Integer,
        default=90,
        server_default="90",
        comment="投标有效期: days counted from the bid deadline (实施条例 Art. 25)",
    )
    sme_deduction_rate: Mapped[Decimal | None] = mapped_column(
        Numeric(5, 2),
        nullable=True,
        comment="government procurement: 小微企业价格扣除 in percent (财库〔2020〕46号 Art. 9)",
    )
    performance_security_pct: Mapped[Decimal | None] = mapped_column(
        Numeric(5, 2),
        nullable=True,
        comment="履约保证金 the winner provides, in percent of the contract amount (≤ 10, 条例 Art. 58)",
    )
    sme_works: Mapped[bool] = mapped_column(
        Boolean,
        default=False,
        server_default=sa_false(),
        comment="government procurement of works: the SME deduction lies in 3-5 percent",
    )
    panel_size: Mapped[int] = mapped_column(Integer, default=5)
    panel_pool_count: Mapped[int] = mapped_column(
        Integer,
        default=5,
        comment="experts drawn from the pool (≥ 2/3); the rest are tenderer representatives",
    )
    panel_specialties: Mapped[dict[str, int]] = mapped_column(
        JSON, default=dict, comment="specialty → number of pool experts"
    )
    opening_items: Mapped[list[str]] = mapped_column(JSON, default=list, comment="price always included")
    max_envelope_mb: Mapped[int] = mapped_column(Integer, default=50)
    custodian_k: Mapped[int] = mapped_column(Integer, default=2, comment="key shares needed to open")
    docs_available_from: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    docs_available_until: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    bid_deadline: Mapped[dt.datetime | None] = mapped_column(UTCDateTime, comment="= opening time")
    online_only: Mapped[bool] = mapped_column(Boolean, default=False)
    room_id: Mapped[int | None] = mapped_column(ForeignKey("opening_room.id"))
    opening_recipient: Mapped[str | None] = mapped_column(
        String(128), comment="public age recipient (age1…) of the opening key, set by the publish hook"
    )
    published_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    published_by: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))
    cancel_reason: Mapped[str | None] = mapped_column(Text)
    failed_reason: Mapped[str | None] = mapped_column(Text)
    closed_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    ended_at: Mapped[dt.datetime | None] = mapped_column(
        UTCDateTime, comment="entered awarded, failed or cancelled"
    )
    retender_of_id: Mapped[int | None] = mapped_column(
        ForeignKey("section.id"),
        unique=True,
        comment="重新招标: the failed section this one tenders again (at most one successor each)",
    )
    created_by: Mapped[int] = mapped_column(ForeignKey("user_account.id"))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=now)
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=now, onupdate=now)

    project: Mapped[Project] = relationship(back_populates="sections")
    room: Mapped[OpeningRoom | None] = relationship()
    retender_of: Mapped[Section | None] = relationship(
        remote_side="Section.id", foreign_keys=[retender_of_id]
    )
    custodians: Mapped[list[SectionCustodian]] = relationship(
        back_populates="section", order_by="SectionCustodian.position", cascade="all, delete-orphan"
    )
    documents: Mapped[list[SectionDocument]] = relationship(
        back_populates="section", order_by="SectionDocument.id"
    )
    amendments: Mapped[list[Amendment]] = relationship(back_populates="section", order_by="Amendment.number")
    suspensions: Mapped[list[SectionSuspension]] = relationship(
        back_populates="section", order_by="SectionSuspension.id"
    )
    history: Mapped[list[SectionStatusChange]] = relationship(
        back_populates="section", order_by="SectionStatusChange.id"
    )

    @property
    def status_enum(self) -> SectionStatus:
        return SectionStatus(self.status)

    @property
    def current_documents(self) -> list[SectionDocument]:
        """The latest published version of each document (drafts: the latest upload)."""
        latest: dict[str, SectionDocument] = {}
        for doc in self.documents:
            if self.status != SectionStatus.DRAFT and doc.published_at is None:
                continue
            latest[doc.name] = doc
        return list(latest.values())


class SectionCustodian(db.Model):  # type: ignore[name-defined]
    """A holder of one share of the section's opening key (k-of-n, SPEC §3.1)."""

    __tablename__ = "section_custodian"
    __table_args__ = (
        UniqueConstraint("section_id", "user_id", name="section_user"),
        UniqueConstraint("section_id", "position", name="section_position"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    section_id: Mapped[int] = mapped_column(ForeignKey("section.id", ondelete="CASCADE"), index=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("user_account.id"))
    position: Mapped[int] = mapped_column(Integer, comment="share index 1..n")

    section: Mapped[Section] = relationship(back_populates="custodians")
    user: Mapped[User] = relationship()


class RoomSlot(db.Model):  # type: ignore[name-defined]
    """One booked half-hour of an opening room. The primary key (room, slot start) makes double booking
    impossible in the database, whatever the application does."""

    __tablename__ = "room_slot"

    room_id: Mapped[int] = mapped_column(ForeignKey("opening_room.id"), primary_key=True)
    starts_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, primary_key=True)
    section_id: Mapped[int] = mapped_column(ForeignKey("section.id"), index=True)
    day: Mapped[dt.date] = mapped_column(
        Date, index=True, comment="local (Asia/Shanghai) date, for calendars"
    )

    room: Mapped[OpeningRoom] = relationship()
    section: Mapped[Section] = relationship()


class SectionDocument(db.Model):  # type: ignore[name-defined]
    """A version of a tender document (招标文件). Immutable once published: changes are new versions,
    published with an amendment."""

    __tablename__ = "section_document"
    __table_args__ = (UniqueConstraint("section_id", "name", "version", name="section_name_version"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    section_id: Mapped[int] = mapped_column(ForeignKey("section.id"), index=True)
    name: Mapped[str] = mapped_column(String(200), comment="logical document name, e.g. 招标文件")
    version: Mapped[int] = mapped_column(Integer)
    filename: Mapped[str] = mapped_column(String(255))
    content_type: Mapped[str] = mapped_column(String(100))
    size: Mapped[int] = mapped_column(Integer)
    sha256: Mapped[str] = mapped_column(String(64))
    blob_path: Mapped[str] = mapped_column(String(255))
    uploaded_by: Mapped[int] = mapped_column(ForeignKey("user_account.id"))
    uploaded_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=now)
    published_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    amendment_id: Mapped[int | None] = mapped_column(ForeignKey("amendment.id"))

    section: Mapped[Section] = relationship(back_populates="documents")


class Amendment(db.Model):  # type: ignore[name-defined]
    """A clarification or amendment (澄清/修改) of the tender, numbered per section, with the diff of the
    announcement text. Affecting bids less than the lead time before the deadline moves the deadline."""

    __tablename__ = "amendment"
    __table_args__ = (
        UniqueConstraint("section_id", "number", name="section_number"),
        CheckConstraint("(new_deadline IS NULL) = (old_deadline IS NULL)", name="deadline_change_pair"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    section_id: Mapped[int] = mapped_column(ForeignKey("section.id"), index=True)
    number: Mapped[int] = mapped_column(Integer)
    title: Mapped[str] = mapped_column(String(200))
    body: Mapped[str] = mapped_column(Text, comment="the clarification itself")
    affects_bids: Mapped[bool] = mapped_column(Boolean)
    notice_text: Mapped[str] = mapped_column(Text, comment="announcement text after this amendment")
    diff: Mapped[str] = mapped_column(Text, comment="unified diff of the announcement text")
    old_deadline: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    new_deadline: Mapped[dt.datetime | None] = mapped_column(
        UTCDateTime, comment="set when the deadline was extended by this amendment"
    )
    published_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=now)
    published_by: Mapped[int] = mapped_column(ForeignKey("user_account.id"))

    section: Mapped[Section] = relationship(back_populates="amendments")
    documents: Mapped[list[SectionDocument]] = relationship()


class DocumentObtainment(db.Model):  # type: ignore[name-defined]
    """A bidder's registration to obtain the tender documents (获取招标文件). Confidential: only the bidder
    itself sees it; center staff see a count (法 Art. 22)."""

    __tablename__ = "document_obtainment"
    __table_args__ = (UniqueConstraint("section_id", "bidder_org_id", name="section_bidder"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    section_id: Mapped[int] = mapped_column(ForeignKey("section.id"), index=True)
    bidder_org_id: Mapped[int] = mapped_column(ForeignKey("organization.id"))
    user_id: Mapped[int] = mapped_column(ForeignKey("user_account.id"))
    obtained_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=now)

    section: Mapped[Section] = relationship()
    user: Mapped[User] = relationship()


class SectionSuspension(db.Model):  # type: ignore[name-defined]
    """A suspension (暂停) of a section: every step is blocked while it is open; the paused interval is
    kept. ``cause`` tells a regulator's intervention from a pending case (an objection or a complaint
    investigation), which only the case's outcome resumes."""

    __tablename__ = "section_suspension"
    __table_args__ = (
        CheckConstraint("cause IN ('intervention', 'case')", name="cause_valid"),
        CheckConstraint("ended_at IS NULL OR ended_at >= started_at", name="interval"),
        CheckConstraint("(ended_at IS NULL) = (ended_by IS NULL)", name="ended_by_iff_ended"),
        Index(
            "uq_section_suspension_open",
            "section_id",
            unique=True,
            sqlite_where=text("ended_at IS NULL"),
            postgresql_where=text("ended_at IS NULL"),
        ),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    section_id: Mapped[int] = mapped_column(ForeignKey("section.id"), index=True)
    reason: Mapped[str] = mapped_column(Text)
    cause: Mapped[str] = mapped_column(String(16), default="intervention", server_default="intervention")
    started_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    started_by: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))
    ended_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    ended_by: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))
    resume_note: Mapped[str | None] = mapped_column(Text)

    section: Mapped[Section] = relationship(back_populates="suspensions")


class SectionStatusChange(db.Model):  # type: ignore[name-defined]
    """The section's status timeline (public); the audit log holds the signed record."""

    __tablename__ = "section_status_change"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    section_id: Mapped[int] = mapped_column(ForeignKey("section.id"), index=True)
    from_status: Mapped[str | None] = mapped_column(String(16))
    to_status: Mapped[str] = mapped_column(String(32), comment="a status, or suspended/resumed")
    reason: Mapped[str] = mapped_column(Text, default="")
    actor_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))
    at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=now)

    section: Mapped[Section] = relationship(back_populates="history")


@event.listens_for(Session, "before_flush")
def _published_documents_are_immutable(session: Session, _ctx: Any, _instances: Any) -> None:
    """A published document version never changes and is never deleted (new version only)."""
    for obj in list(session.dirty) + list(session.deleted):
        if not isinstance(obj, SectionDocument):
            continue
        state: Any = inspect(obj)
        published = state.attrs.published_at.history
        was_published = (published.deleted and published.deleted[0] is not None) or (
            not published.has_changes() and obj.published_at is not None
        )
        if not was_published:
            continue
        if obj in session.deleted or any(
            state.attrs[name].history.has_changes()
            for name in state.mapper.column_attrs.keys()  # noqa: SIM118
        ):
            raise ValueError("a published tender document is immutable; upload a new version")


class SectionQuestion(db.Model):  # type: ignore[name-defined]
    """A question on the tender documents (答疑) from a bidder that obtained them. Who asked is confidential
    (法 Art. 22): the tenderer sees the text only, and the answer goes to every obtainer as a numbered
    clarification (:class:`Amendment`), which re-runs the 15-day rule when it affects bids."""

    __tablename__ = "section_question"
    __table_args__ = (
        UniqueConstraint("section_id", "number", name="section_question_number"),
        CheckConstraint("status IN ('asked', 'answered')", name="question_status"),
        CheckConstraint(
            "(status = 'answered') = (amendment_id IS NOT NULL AND answered_at IS NOT NULL)",
            name="answered_has_clarification",
        ),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    section_id: Mapped[int] = mapped_column(ForeignKey("section.id"), index=True)
    number: Mapped[int] = mapped_column(Integer, comment="per section, in order of asking")
    asker_org_id: Mapped[int] = mapped_column(ForeignKey("organization.id"), index=True)
    asker_user_id: Mapped[int] = mapped_column(ForeignKey("user_account.id"))
    body: Mapped[str] = mapped_column(Text)
    asked_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=now)
    answer_due_at: Mapped[dt.datetime | None] = mapped_column(
        UTCDateTime, comment="government procurement: 3 working days (采购法实施条例 Art. 52)"
    )
    status: Mapped[str] = mapped_column(String(16), default="asked")
    answered_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    amendment_id: Mapped[int | None] = mapped_column(ForeignKey("amendment.id"))

    section: Mapped[Section] = relationship()
    amendment: Mapped[Amendment | None] = relationship()
