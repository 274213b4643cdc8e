"""The comprehensive expert pool (综合评标专家库) and verifiable random draws (专家随机抽取)."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

from sqlalchemy import (
    DDL,
    JSON,
    Boolean,
    CheckConstraint,
    Date,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
    event,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.accounts.models import Organization
from app.core.clock import now
from app.core.db import UTCDateTime, db

from .enums import (
    ConflictRelation,
    DrawStatus,
    EmploymentSource,
    ExpertStatus,
    RegionScope,
    RoundStatus,
    SeatKind,
    SeatStatus,
    TitleLevel,
)


def _enum_check(column: str, values: Any) -> str:
    quoted = ", ".join(f"'{v.value}'" for v in values)
    return f"{column} IN ({quoted})"


class Specialty(db.Model):  # type: ignore[name-defined]
    """A code of the national evaluation-expert specialty classification (评标专家专业分类标准,
    发改法规〔2018〕316号): category A 工程 / B 货物 / C 服务, then levels 2–4 (A01, A0101, A010101)."""

    __tablename__ = "expert_specialty_code"
    __table_args__ = (
        CheckConstraint("level BETWEEN 1 AND 4", name="level_range"),
        CheckConstraint("category IN ('A', 'B', 'C')", name="category_valid"),
    )

    code: Mapped[str] = mapped_column(String(16), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    category: Mapped[str] = mapped_column(String(1))
    level: Mapped[int] = mapped_column(Integer)
    parent_code: Mapped[str | None] = mapped_column(ForeignKey("expert_specialty_code.code"), index=True)
    is_active: Mapped[bool] = mapped_column(Boolean, default=True)


class Expert(db.Model):  # type: ignore[name-defined]
    """A pool member (评标专家). The ID number (居民身份证号码) is kept encrypted; a keyed hash finds
    duplicates and re-imports without decrypting, and a masked copy is what pages show."""

    __tablename__ = "expert"
    __table_args__ = (
        CheckConstraint(_enum_check("status", ExpertStatus), name="status_valid"),
        CheckConstraint(_enum_check("title_level", TitleLevel), name="title_level_valid"),
        CheckConstraint("years_of_practice >= 0", name="years_nonneg"),
        CheckConstraint("credit_score BETWEEN 0 AND 100", name="credit_range"),
        CheckConstraint(
            "(entry_exception = false) OR (exception_reason IS NOT NULL)", name="exception_has_reason"
        ),
        CheckConstraint(
            "status NOT IN ('active', 'suspended') OR admitted_at IS NOT NULL", name="admitted_when_in_pool"
        ),
        Index("ix_expert_draw_filter", "status", "region"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(100))
    id_number_enc: Mapped[bytes] = mapped_column(LargeBinary, comment="ID number, Fernet under DATA_KEY")
    id_number_hash: Mapped[bytes] = mapped_column(
        LargeBinary(32), unique=True, comment="HMAC-SHA256 of the normalised ID number (key from DATA_KEY)"
    )
    id_number_masked: Mapped[str] = mapped_column(String(18))
    birth_date: Mapped[dt.date] = mapped_column(Date)
    title: Mapped[str] = mapped_column(String(100), comment="professional title as written, e.g. 高级工程师")
    title_level: Mapped[str] = mapped_column(String(16))
    years_of_practice: Mapped[int] = mapped_column(Integer)
    entry_exception: Mapped[bool] = mapped_column(
        Boolean, default=False, comment="admitted without 8 years / senior title (破格)"
    )
    exception_reason: Mapped[str | None] = mapped_column(String(500))
    employer_org_id: Mapped[int] = mapped_column(ForeignKey("organization.id"), index=True)
    region: Mapped[str] = mapped_column(String(64))
    status: Mapped[str] = mapped_column(String(16), default=ExpertStatus.APPLICANT.value)
    status_reason: Mapped[str | None] = mapped_column(String(500))
    status_changed_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=now)
    admitted_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    credit_score: Mapped[int] = mapped_column(Integer, default=100)
    phone: Mapped[str] = mapped_column(String(32), default="")
    email: Mapped[str | None] = mapped_column(String(200))
    user_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"), unique=True)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=now)
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=now, onupdate=now)

    specialties: Mapped[list[ExpertSpecialty]] = relationship(
        back_populates="expert", cascade="all, delete-orphan", order_by="ExpertSpecialty.specialty_code"
    )
    leaves: Mapped[list[ExpertLeave]] = relationship(
        back_populates="expert", cascade="all, delete-orphan", order_by="ExpertLeave.starts_on"
    )
    conflicts: Mapped[list[ExpertConflict]] = relationship(
        back_populates="expert", cascade="all, delete-orphan", order_by="ExpertConflict.id"
    )
    employments: Mapped[list[ExpertEmployment]] = relationship(
        back_populates="expert",
        cascade="all, delete-orphan",
        order_by="(ExpertEmployment.ends_on.desc(), ExpertEmployment.id.desc())",
    )

    @property
    def primary_specialty(self) -> str | None:
        return next((s.specialty_code for s in self.specialties if s.is_primary), None)


class ExpertSpecialty(db.Model):  # type: ignore[name-defined]
    """One of an expert's specialty codes; exactly one is primary."""

    __tablename__ = "expert_specialty"
    __table_args__ = (
        Index(
            "uq_expert_specialty_one_primary",
            "expert_id",
            unique=True,
            postgresql_where=text("is_primary"),
            sqlite_where=text("is_primary"),
        ),
        Index("ix_expert_specialty_code_expert", "specialty_code", "expert_id"),
    )

    expert_id: Mapped[int] = mapped_column(ForeignKey("expert.id", ondelete="CASCADE"), primary_key=True)
    specialty_code: Mapped[str] = mapped_column(ForeignKey("expert_specialty_code.code"), primary_key=True)
    is_primary: Mapped[bool] = mapped_column(Boolean, default=False)

    expert: Mapped[Expert] = relationship(back_populates="specialties")


class ExpertLeave(db.Model):  # type: ignore[name-defined]
    """A date range (local dates, inclusive) in which the expert cannot evaluate."""

    __tablename__ = "expert_leave"
    __table_args__ = (CheckConstraint("ends_on >= starts_on", name="range_ordered"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    expert_id: Mapped[int] = mapped_column(ForeignKey("expert.id", ondelete="CASCADE"), index=True)
    starts_on: Mapped[dt.date] = mapped_column(Date)
    ends_on: Mapped[dt.date] = mapped_column(Date)
    note: Mapped[str] = mapped_column(String(200), default="")
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=now)

    expert: Mapped[Expert] = relationship(back_populates="leaves")


class ExpertConflict(db.Model):  # type: ignore[name-defined]
    """A standing conflict of interest the expert declared (回避申报), e.g. a relative at a company."""

    __tablename__ = "expert_conflict"
    __table_args__ = (
        CheckConstraint(_enum_check("relation", ConflictRelation), name="relation_valid"),
        Index("ix_expert_conflict_org", "org_id", "expert_id"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    expert_id: Mapped[int] = mapped_column(ForeignKey("expert.id", ondelete="CASCADE"), index=True)
    org_id: Mapped[int] = mapped_column(ForeignKey("organization.id"))
    relation: Mapped[str] = mapped_column(String(32))
    note: Mapped[str] = mapped_column(String(300), default="")
    declared_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=now)
    withdrawn_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)

    expert: Mapped[Expert] = relationship(back_populates="conflicts")


class ExpertEmployment(db.Model):  # type: ignore[name-defined]
    """A past employer (工作经历) of an expert and the day that employment ended. The current employer is
    ``Expert.employer_org_id``; changing it files the previous one here. An employment that ended within
    the look-back (3 years, ``EXPERT_FORMER_EMPLOYER_YEARS``) before the evaluation day keeps the expert
    off panels of that organization's trades (条例 Art. 46; 评标专家和评标专家库管理暂行办法 Art. 12). An
    employer not registered on the platform is kept by name and credit code, and matched by them when it
    bids."""

    __tablename__ = "expert_employment"
    __table_args__ = (
        CheckConstraint("starts_on IS NULL OR ends_on >= starts_on", name="range_ordered"),
        CheckConstraint(_enum_check("source", EmploymentSource), name="source_valid"),
        UniqueConstraint("expert_id", "org_name", "ends_on", name="expert_org_end"),
        Index("ix_expert_employment_org_end", "org_id", "ends_on"),
        Index("ix_expert_employment_name_end", "org_name", "ends_on"),
        Index("ix_expert_employment_code_end", "org_credit_code", "ends_on"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    expert_id: Mapped[int] = mapped_column(ForeignKey("expert.id", ondelete="CASCADE"), index=True)
    org_id: Mapped[int | None] = mapped_column(
        ForeignKey("organization.id"), comment="NULL: not registered on the platform (matched by name/code)"
    )
    org_name: Mapped[str] = mapped_column(String(200), comment="the organization's name as recorded")
    org_credit_code: Mapped[str | None] = mapped_column(String(32), comment="unified social credit code")
    starts_on: Mapped[dt.date | None] = mapped_column(Date, comment="local date; NULL when not known")
    ends_on: Mapped[dt.date] = mapped_column(Date, comment="last day of the employment (local date)")
    source: Mapped[str] = mapped_column(String(16), default=EmploymentSource.MANUAL.value)
    note: Mapped[str] = mapped_column(String(300), default="")
    created_by: Mapped[int | None] = mapped_column(Integer, comment="user id; NULL for automatic rows")
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=now)

    expert: Mapped[Expert] = relationship(back_populates="employments")
    organization: Mapped[Organization | None] = relationship()


class ExpertStatusChange(db.Model):  # type: ignore[name-defined]
    """History of admissions, suspensions and removals with their reasons."""

    __tablename__ = "expert_status_change"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    expert_id: Mapped[int] = mapped_column(ForeignKey("expert.id", ondelete="CASCADE"), index=True)
    from_status: Mapped[str | None] = mapped_column(String(16))
    to_status: Mapped[str] = mapped_column(String(16))
    reason: Mapped[str] = mapped_column(String(500), default="")
    actor_id: Mapped[int | None] = mapped_column(Integer, comment="user id; NULL for automatic changes")
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=now)


class ExpertCreditEvent(db.Model):  # type: ignore[name-defined]
    """One change of the credit score: an after-service rating or a disciplinary deduction."""

    __tablename__ = "expert_credit_event"
    __table_args__ = (
        UniqueConstraint("expert_id", "draw_id", "rater_id", name="one_rating_per_rater"),
        CheckConstraint(
            "(kind = 'rating') = (attendance IS NOT NULL AND conduct IS NOT NULL AND quality IS NOT NULL)",
            name="rating_has_scores",
        ),
        CheckConstraint("kind IN ('rating', 'discipline')", name="kind_valid"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    expert_id: Mapped[int] = mapped_column(ForeignKey("expert.id", ondelete="CASCADE"), index=True)
    kind: Mapped[str] = mapped_column(String(16))
    draw_id: Mapped[int | None] = mapped_column(ForeignKey("expert_draw.id"))
    rater_id: Mapped[int | None] = mapped_column(Integer, comment="user id of the rater or the office")
    rater_role: Mapped[str | None] = mapped_column(String(32))
    attendance: Mapped[int | None] = mapped_column(Integer, comment="1–5")
    conduct: Mapped[int | None] = mapped_column(Integer, comment="1–5")
    quality: Mapped[int | None] = mapped_column(Integer, comment="1–5")
    delta: Mapped[int] = mapped_column(Integer)
    score_after: Mapped[int] = mapped_column(Integer)
    note: Mapped[str] = mapped_column(String(500), default="")
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=now)


class ExpertDraw(db.Model):  # type: ignore[name-defined]
    """A request by trading-center staff for an evaluation panel (评标委员会) for one section, and its
    state. At most one draw per section is not cancelled (partial unique index)."""

    __tablename__ = "expert_draw"
    __table_args__ = (
        CheckConstraint(_enum_check("status", DrawStatus), name="status_valid"),
        CheckConstraint(_enum_check("region_scope", RegionScope), name="region_scope_valid"),
        CheckConstraint("panel_size >= 5 AND panel_size % 2 = 1", name="panel_odd_min5"),
        CheckConstraint("pool_seats * 3 >= panel_size * 2", name="pool_two_thirds"),
        CheckConstraint("(status = 'cancelled') = (cancelled_at IS NOT NULL)", name="cancelled_iff_time"),
        Index(
            "uq_expert_draw_one_active_per_section",
            "section_id",
            unique=True,
            postgresql_where=text("status <> 'cancelled'"),
            sqlite_where=text("status <> 'cancelled'"),
        ),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    section_id: Mapped[int] = mapped_column(ForeignKey("section.id"), index=True)
    tenderer_org_id: Mapped[int | None] = mapped_column(Integer, index=True, comment="snapshot at request")
    agency_org_id: Mapped[int | None] = mapped_column(Integer)
    requested_by: Mapped[int] = mapped_column(ForeignKey("user_account.id"))
    requested_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=now)
    evaluation_starts_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    panel_size: Mapped[int] = mapped_column(Integer)
    pool_seats: Mapped[int] = mapped_column(Integer, comment="seats drawn from the pool (≥ 2/3)")
    composition: Mapped[list[dict[str, Any]]] = mapped_column(
        JSON, comment='[{"specialty": code, "seats": n, "backups": m}] in code order'
    )
    region_scope: Mapped[str] = mapped_column(String(16))
    region: Mapped[str] = mapped_column(String(64))
    status: Mapped[str] = mapped_column(String(24), default=DrawStatus.AWAITING_WITNESS.value)
    cancelled_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    cancel_reason: Mapped[str | None] = mapped_column(String(500))

    rounds: Mapped[list[DrawRound]] = relationship(back_populates="draw", order_by="DrawRound.number")
    seats: Mapped[list[PanelSeat]] = relationship(
        back_populates="draw", order_by="(PanelSeat.specialty_code, PanelSeat.round_number, PanelSeat.rank)"
    )


class DrawRound(db.Model):  # type: ignore[name-defined]
    """One randomness event of a draw: round 1 draws the panel, later rounds draw missing seats with
    fresh randomness. Everything needed to recompute the selection is stored here and committed to the
    audit log before the randomness exists."""

    __tablename__ = "expert_draw_round"
    __table_args__ = (
        UniqueConstraint("draw_id", "number", name="draw_number"),
        CheckConstraint(_enum_check("status", RoundStatus), name="status_valid"),
        CheckConstraint(
            "(status = 'revealed') = (server_random IS NOT NULL AND witness_entropy IS NOT NULL "
            "AND seed IS NOT NULL AND result IS NOT NULL)",
            name="revealed_has_inputs",
        ),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    draw_id: Mapped[int] = mapped_column(ForeignKey("expert_draw.id"), index=True)
    number: Mapped[int] = mapped_column(Integer)
    status: Mapped[str] = mapped_column(String(16), default=RoundStatus.COMMITTED.value)
    wanted: Mapped[list[dict[str, Any]]] = mapped_column(
        JSON, comment='[{"specialty", "seats", "backups"}] this round must fill'
    )
    # The frozen texts (a large pool: megabytes) are read only where they are used — verification, the
    # reveal, the record pages —, each pair in one query then: loading a draw's rounds does not fetch them.
    pool: Mapped[str] = mapped_column(
        Text,
        comment="canonical JSON of the frozen eligible list: {code: [[expert_id, employer_id], …]}",
        deferred=True,
        deferred_group="pool",
    )
    pool_digest: Mapped[str] = mapped_column(String(64))
    exclusions: Mapped[str] = mapped_column(
        Text,
        comment='canonical JSON of the experts matched but excluded: [[expert_id, "reason,reason"], …] by id',
        deferred=True,
        deferred_group="exclusions",
    )
    exclusions_digest: Mapped[str] = mapped_column(String(64))
    public_pool: Mapped[str | None] = mapped_column(
        Text,
        comment="record format 2: the frozen list with pseudonyms, canonical JSON; pool_digest is over it",
        deferred=True,
        deferred_group="pool",
    )
    public_exclusions: Mapped[str | None] = mapped_column(
        Text,
        comment="record format 2: the exclusions with pseudonyms; exclusions_digest is over it",
        deferred=True,
        deferred_group="exclusions",
    )
    frozen_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=now)
    server_random_enc: Mapped[bytes] = mapped_column(LargeBinary, comment="sealed until the reveal")
    commitment: Mapped[str] = mapped_column(String(64), comment="SHA-256(server_random), hex")
    server_random: Mapped[str | None] = mapped_column(String(64), comment="hex, stored at the reveal")
    witness_entropy: Mapped[str | None] = mapped_column(String(200))
    witness_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))
    witnessed_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    seed: Mapped[str | None] = mapped_column(String(64))
    algorithm: Mapped[str] = mapped_column(String(32), default="rfc3797-sha256")
    result: Mapped[str | None] = mapped_column(Text, comment="canonical JSON of the ordered picks")

    draw: Mapped[ExpertDraw] = relationship(back_populates="rounds")

    def exclusion_reasons(self) -> dict[int, list[str]]:
        """Expert id → the reason codes that kept them out of this round."""
        return {int(eid): reasons.split(",") for eid, reasons in json.loads(self.exclusions or "[]")}


class PanelSeat(db.Model):  # type: ignore[name-defined]
    """A drawn expert: a seat on the panel or a backup (候补), with the invitation and the answer."""

    __tablename__ = "expert_panel_seat"
    __table_args__ = (
        UniqueConstraint("draw_id", "expert_id", name="draw_expert"),
        CheckConstraint(_enum_check("kind", SeatKind), name="kind_valid"),
        CheckConstraint(_enum_check("status", SeatStatus), name="status_valid"),
        CheckConstraint("(status <> 'declined') OR (decline_reason IS NOT NULL)", name="decline_has_reason"),
        CheckConstraint(
            "(status NOT IN ('recused', 'absent')) "
            "OR (recusal_reason IS NOT NULL AND replaced_at IS NOT NULL)",
            name="replaced_has_reason",
        ),
        Index("ix_expert_panel_seat_expert", "expert_id", "status"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    draw_id: Mapped[int] = mapped_column(ForeignKey("expert_draw.id"), index=True)
    round_number: Mapped[int] = mapped_column(Integer)
    expert_id: Mapped[int] = mapped_column(ForeignKey("expert.id"))
    specialty_code: Mapped[str] = mapped_column(String(16))
    kind: Mapped[str] = mapped_column(String(8))
    rank: Mapped[int] = mapped_column(Integer, comment="order of the pick within the specialty")
    status: Mapped[str] = mapped_column(String(16))
    invited_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    respond_by: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    responded_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    decline_reason: Mapped[str | None] = mapped_column(String(500))
    token_hash: Mapped[bytes | None] = mapped_column(
        LargeBinary(32), unique=True, comment="SHA-256 of the one-time answer link token"
    )
    recusal_reason: Mapped[str | None] = mapped_column(
        Text, comment="why the seat was recused (回避) or replaced for absence, as recorded"
    )
    replaced_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)

    draw: Mapped[ExpertDraw] = relationship(back_populates="seats")
    expert: Mapped[Expert] = relationship()


# The pseudonymous texts are hexadecimal, which PostgreSQL's default (pglz) compression spends tens of
# milliseconds on per draw without shrinking them: stored out of line, uncompressed (the migration does
# the same on a migrated database).
PUBLIC_TEXT_STORAGE = [
    f"ALTER TABLE expert_draw_round ALTER COLUMN {column} SET STORAGE EXTERNAL"
    for column in ("public_pool", "public_exclusions")
]
for _statement in PUBLIC_TEXT_STORAGE:
    event.listen(DrawRound.__table__, "after_create", DDL(_statement).execute_if(dialect="postgresql"))
