"""Evaluation models: the panel at work, scores, the report, candidates, publicity, award and archive."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    CheckConstraint,
    ForeignKey,
    Index,
    Integer,
    Numeric,
    String,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.core.clock import now
from app.core.db import UTCDateTime, db

from .enums import Declaration, EvaluationStatus, FileKind, NoticeKind, ReportDecision


def _in(column: str, values: list[str], *, nullable: bool = False) -> str:
    quoted = ", ".join(f"'{v}'" for v in values)
    clause = f"{column} IN ({quoted})"
    return f"({column} IS NULL OR {clause})" if nullable else clause


class Evaluation(db.Model):  # type: ignore[name-defined]
    """Evaluation — 评标: one per section, by the panel of its expert draw, through the candidate
    publicity (中标候选人公示) and the award (定标) to the archive."""

    __tablename__ = "evaluation"
    __table_args__ = (
        CheckConstraint(_in("status", [s.value for s in EvaluationStatus]), name="status_valid"),
        CheckConstraint(
            "status IN ('sign_in', 'scoring', 'reporting') OR report_sha256 IS NOT NULL",
            name="report_after_reporting",
        ),
        CheckConstraint(
            "status IN ('sign_in', 'scoring', 'reporting', 'reported', 'failed')"
            " OR publicity_starts_at IS NOT NULL",
            name="publicity_started",
        ),
        CheckConstraint("(status = 'failed') = (failed_at IS NOT NULL)", name="failed_iff_failed_at"),
        CheckConstraint("(archive_sha256 IS NULL) = (retain_until IS NULL)", name="archive_has_retention"),
        CheckConstraint(
            "(status IN ('awarded', 'archived')) = (awarded_at IS NOT NULL)", name="awarded_iff_awarded_at"
        ),
        CheckConstraint("(status = 'archived') = (archive_sha256 IS NOT NULL)", name="archived_iff_archive"),
        CheckConstraint(_in("notice_kind", [k.value for k in NoticeKind]), name="notice_kind_valid"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    section_id: Mapped[int] = mapped_column(ForeignKey("section.id"), unique=True)
    draw_id: Mapped[int] = mapped_column(ForeignKey("expert_draw.id"), index=True)
    method: Mapped[str] = mapped_column(String(32), comment="the section's method, frozen at the start")
    criteria: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list, comment="[{name, weight}]")
    settings: Mapped[dict[str, Any]] = mapped_column(
        JSON, default=dict, comment="aggregation, outlier threshold, price formula, frozen at the start"
    )
    status: Mapped[str] = mapped_column(String(16), default=EvaluationStatus.SIGN_IN.value)
    started_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=now)
    ends_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, comment="scoring deadline; extended on request")
    extensions: Mapped[int] = mapped_column(Integer, default=0)
    leader_member_id: Mapped[int | None] = mapped_column(Integer, comment="evaluation_member.id")
    report_sha256: Mapped[str | None] = mapped_column(String(64))
    report_path: Mapped[str | None] = mapped_column(String(255))
    report_drawn_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    reported_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime, comment="report closed")
    publicity_starts_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    publicity_ends_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    publicity_late: Mapped[bool] = mapped_column(Boolean, default=False, comment="after the 3-day limit")
    winner_org_id: Mapped[int | None] = mapped_column(ForeignKey("organization.id"))
    winner_rank: Mapped[int | None] = mapped_column(Integer)
    award_reason: Mapped[str | None] = mapped_column(Text, comment="legal reason for passing over rank 1")
    awarded_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    awarded_by: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))
    contract_due_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime, comment="award + 30 days")
    contract_signed_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    archive_sha256: Mapped[str | None] = mapped_column(String(64))
    archive_path: Mapped[str | None] = mapped_column(String(255))
    archived_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    retain_until: Mapped[dt.datetime | None] = mapped_column(
        UTCDateTime, comment="the archive (bid files included) is kept at least until then"
    )
    retention_basis: Mapped[str | None] = mapped_column(Text, comment="the rule the retention follows")
    disposed_at: Mapped[dt.datetime | None] = mapped_column(
        UTCDateTime, comment="archive files removed by cleanup after the retention period"
    )
    failed_at: Mapped[dt.datetime | None] = mapped_column(
        UTCDateTime, comment="every bid rejected: the evaluation ended without a candidate"
    )
    round: Mapped[int] = mapped_column(
        Integer,
        default=1,
        server_default="1",
        comment="evaluation round; a re-evaluation ordered on an upheld complaint starts the next",
    )
    notice_kind: Mapped[str] = mapped_column(
        String(24),
        default=NoticeKind.CANDIDATE_PUBLICITY.value,
        server_default=NoticeKind.CANDIDATE_PUBLICITY.value,
        comment="what the publicity columns hold: candidate publicity (works) or the result announcement "
        "period (government procurement), frozen at the start",
    )

    members: Mapped[list[PanelMember]] = relationship(
        back_populates="evaluation", order_by="PanelMember.seat_order, PanelMember.id"
    )
    all_candidates: Mapped[list[Candidate]] = relationship(
        back_populates="evaluation", order_by="Candidate.round, Candidate.rank"
    )
    files: Mapped[list[EvaluationFile]] = relationship(
        back_populates="evaluation", order_by="EvaluationFile.id"
    )
    refunds: Mapped[list[SecurityRefund]] = relationship(
        back_populates="evaluation", order_by="SecurityRefund.id"
    )
    restarts: Mapped[list[EvaluationRestart]] = relationship(
        back_populates="evaluation", order_by="EvaluationRestart.id"
    )
    voided_awards: Mapped[list[VoidedAward]] = relationship(
        back_populates="evaluation", order_by="VoidedAward.id"
    )
    written_report: Mapped[WrittenReport | None] = relationship(back_populates="evaluation")

    @property
    def status_enum(self) -> EvaluationStatus:
        return EvaluationStatus(self.status)

    @property
    def round_candidates(self) -> list[Candidate]:
        """The candidates of the current round, struck ones (award voided) included."""
        return [c for c in self.all_candidates if c.round == self.round]

    @property
    def candidates(self) -> list[Candidate]:
        """The candidates an award may still go to: the current round's, less any whose award was voided."""
        return [c for c in self.round_candidates if c.voided_at is None]

    @property
    def counted(self) -> list[PanelMember]:
        """Members whose work counts: signed in, declared no conflict, not replaced."""
        return [m for m in self.members if m.counts]


class PanelRepresentative(db.Model):  # type: ignore[name-defined]
    """A tenderer's representative (招标人代表) named to a section's panel (法 Art. 37): the seats of
    the panel that are not drawn from the pool. A real seat — an account of the tenderer's own
    organization that signs in, declares conflicts, scores and signs the report like an expert. Named
    before the evaluation by the tenderer; withdrawn (with a reason) before signing in, or replaced after a
    declared conflict or an absence by naming another."""

    __tablename__ = "evaluation_representative"
    __table_args__ = (
        Index(
            "uq_evaluation_representative_active",
            "section_id",
            "user_id",
            unique=True,
            postgresql_where=text("withdrawn_at IS NULL"),
            sqlite_where=text("withdrawn_at IS NULL"),
        ),
        CheckConstraint("(withdrawn_at IS NULL) = (withdraw_reason IS NULL)", name="withdrawn_has_reason"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    section_id: Mapped[int] = mapped_column(ForeignKey("section.id"), index=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("user_account.id"), index=True)
    named_by: Mapped[int] = mapped_column(ForeignKey("user_account.id"))
    named_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=now)
    withdrawn_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    withdraw_reason: Mapped[str | None] = mapped_column(Text)


class PanelMember(db.Model):  # type: ignore[name-defined]
    """A seat of the panel at work (评标委员会成员): a confirmed seat of the draw (an expert) or a named
    tenderer representative. A member replaced after a conflict or an absence keeps its row, marked void,
    with its scores (which no longer count; 条例 Art. 48)."""

    __tablename__ = "evaluation_member"
    __table_args__ = (
        UniqueConstraint("evaluation_id", "seat_id", name="evaluation_seat"),
        UniqueConstraint("evaluation_id", "representative_id", name="evaluation_member_representative"),
        CheckConstraint("(seat_id IS NULL) <> (representative_id IS NULL)", name="expert_or_representative"),
        CheckConstraint("(seat_id IS NULL) = (expert_id IS NULL)", name="seat_has_expert"),
        CheckConstraint(
            _in("declaration", [d.value for d in Declaration], nullable=True), name="declaration_valid"
        ),
        CheckConstraint(
            _in("decision", [d.value for d in ReportDecision], nullable=True), name="decision_valid"
        ),
        CheckConstraint("(declaration IS NULL) = (signed_in_at IS NULL)", name="declared_iff_signed_in"),
        CheckConstraint("(voided_at IS NULL) = (void_reason IS NULL)", name="void_has_reason"),
        CheckConstraint("decision != 'dissent' OR dissent IS NOT NULL", name="dissent_in_writing"),
        CheckConstraint("decision != 'signed' OR signature IS NOT NULL", name="signed_has_signature"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    evaluation_id: Mapped[int] = mapped_column(ForeignKey("evaluation.id"), index=True)
    seat_id: Mapped[int | None] = mapped_column(ForeignKey("expert_panel_seat.id"))
    expert_id: Mapped[int | None] = mapped_column(ForeignKey("expert.id"))
    representative_id: Mapped[int | None] = mapped_column(ForeignKey("evaluation_representative.id"))
    user_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"), index=True)
    seat_order: Mapped[int] = mapped_column(Integer, comment="order of the seat in the draw")
    signed_in_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    declaration: Mapped[str | None] = mapped_column(String(16))
    conflict_note: Mapped[str | None] = mapped_column(Text)
    voided_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    void_reason: Mapped[str | None] = mapped_column(Text)
    submitted_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime, comment="scores locked")
    wants_extension: Mapped[bool] = mapped_column(Boolean, default=False)
    decision: Mapped[str | None] = mapped_column(String(16))
    signature: Mapped[str | None] = mapped_column(Text, comment="base64 platform Ed25519 over the statement")
    dissent: Mapped[str | None] = mapped_column(Text)
    decided_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)

    evaluation: Mapped[Evaluation] = relationship(back_populates="members")
    all_scores: Mapped[list[Score]] = relationship(back_populates="member", order_by="Score.id")

    @property
    def counts(self) -> bool:
        return self.declaration == Declaration.NO_CONFLICT and self.voided_at is None

    @property
    def is_representative(self) -> bool:
        return self.representative_id is not None

    @property
    def scores(self) -> list[Score]:
        """The member's scores of the current round (those of a voided round stay, marked void)."""
        return [s for s in self.all_scores if s.voided_at is None]


class Score(db.Model):  # type: ignore[name-defined]
    """One member's judgement of one bidder on one criterion. ``criterion = 'qualification'`` carries
    pass/fail (with a reason when failed); other criteria carry points ≤ their weight. A re-evaluation
    (重新评审) marks the round's scores void with the complaint as the reason; they are never deleted."""

    __tablename__ = "evaluation_score"
    __table_args__ = (
        UniqueConstraint("member_id", "round", "org_id", "criterion", name="member_round_bidder_criterion"),
        CheckConstraint("points IS NULL OR points >= 0", name="points_non_negative"),
        CheckConstraint(
            "qualified IS NULL OR qualified OR (reason IS NOT NULL AND reason != '')",
            name="failed_has_reason",
        ),
        CheckConstraint("(voided_at IS NULL) = (void_reason IS NULL)", name="void_has_reason"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    member_id: Mapped[int] = mapped_column(ForeignKey("evaluation_member.id"), index=True)
    org_id: Mapped[int] = mapped_column(ForeignKey("organization.id"))
    criterion: Mapped[str] = mapped_column(String(100))
    points: Mapped[Decimal | None] = mapped_column(Numeric(8, 2))
    qualified: Mapped[bool | None] = mapped_column(Boolean)
    reason: Mapped[str | None] = mapped_column(Text)
    explanation: Mapped[str | None] = mapped_column(Text, comment="why an outlier total is what it is")
    round: Mapped[int] = mapped_column(Integer, default=1, server_default="1")
    voided_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    void_reason: Mapped[str | None] = mapped_column(Text)

    member: Mapped[PanelMember] = relationship(back_populates="all_scores")


class Candidate(db.Model):  # type: ignore[name-defined]
    """A ranked candidate (中标候选人) of the report of one round; at most three per round. A candidate
    is struck (``voided_at``) when its award is voided (中标无效) — it can never be chosen again — or when
    its whole round is voided by a re-evaluation; the row stays."""

    __tablename__ = "evaluation_candidate"
    __table_args__ = (
        UniqueConstraint("evaluation_id", "round", "rank", name="evaluation_round_rank"),
        CheckConstraint("rank BETWEEN 1 AND 3", name="rank_1_to_3"),
        CheckConstraint("(voided_at IS NULL) = (void_reason IS NULL)", name="void_has_reason"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    evaluation_id: Mapped[int] = mapped_column(ForeignKey("evaluation.id"), index=True)
    rank: Mapped[int] = mapped_column(Integer)
    org_id: Mapped[int] = mapped_column(ForeignKey("organization.id"))
    bidder_name: Mapped[str] = mapped_column(String(200))
    price: Mapped[Decimal] = mapped_column(Numeric(16, 2))
    score: Mapped[Decimal | None] = mapped_column(Numeric(8, 2), comment="comprehensive scoring total")
    project_manager: Mapped[str | None] = mapped_column(
        String(100), comment="项目负责人 committed in the bid (发改委令第10号 Art. 6(2))"
    )
    pm_certificate: Mapped[str | None] = mapped_column(
        String(200), comment="the project manager's certificate name and number"
    )
    qualifications: Mapped[str | None] = mapped_column(
        Text, comment="资格能力条件 the candidate meets (发改委令第10号 Art. 6(3))"
    )
    round: Mapped[int] = mapped_column(Integer, default=1, server_default="1")
    voided_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    void_reason: Mapped[str | None] = mapped_column(Text)

    evaluation: Mapped[Evaluation] = relationship(back_populates="all_candidates")


class EvaluationFile(db.Model):  # type: ignore[name-defined]
    """A stored document of the evaluation: report, notices, letters, the archive bundle. A report or
    publicity of a re-evaluated round, and the notice and letters of a voided award, stay marked void."""

    __tablename__ = "evaluation_file"
    __table_args__ = (
        CheckConstraint(_in("kind", [k.value for k in FileKind]), name="kind_valid"),
        CheckConstraint("(voided_at IS NULL) = (void_reason IS NULL)", name="void_has_reason"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    evaluation_id: Mapped[int] = mapped_column(ForeignKey("evaluation.id"), index=True)
    kind: Mapped[str] = mapped_column(String(16))
    org_id: Mapped[int | None] = mapped_column(ForeignKey("organization.id"), comment="addressee of a letter")
    filename: Mapped[str] = mapped_column(String(200))
    blob_path: Mapped[str] = mapped_column(String(255))
    sha256: Mapped[str] = mapped_column(String(64))
    size: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=now)
    voided_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    void_reason: Mapped[str | None] = mapped_column(Text)

    evaluation: Mapped[Evaluation] = relationship(back_populates="files")


class SecurityRefund(db.Model):  # type: ignore[name-defined]
    """Bid security refund (投标保证金退还) owed to a bidder within 5 days of contract signing (条例 57)."""

    __tablename__ = "evaluation_refund"
    __table_args__ = (UniqueConstraint("evaluation_id", "org_id", name="evaluation_bidder"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    evaluation_id: Mapped[int] = mapped_column(ForeignKey("evaluation.id"), index=True)
    org_id: Mapped[int] = mapped_column(ForeignKey("organization.id"))
    bidder_name: Mapped[str] = mapped_column(String(200))
    amount: Mapped[Decimal] = mapped_column(Numeric(16, 2))
    due_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime, comment="contract signing + 5 days")
    refunded_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    recorded_by: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))

    evaluation: Mapped[Evaluation] = relationship(back_populates="refunds")


class EvaluationRestart(db.Model):  # type: ignore[name-defined]
    """A re-evaluation (重新评审) ordered by an upheld complaint: the round it voided, with what that round
    had reached (report, publicity, the members' decisions), so the history reads without the audit log."""

    __tablename__ = "evaluation_restart"
    __table_args__ = (UniqueConstraint("evaluation_id", "round", name="evaluation_round"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    evaluation_id: Mapped[int] = mapped_column(ForeignKey("evaluation.id"), index=True)
    round: Mapped[int] = mapped_column(Integer, comment="the round voided")
    from_status: Mapped[str] = mapped_column(String(16), comment="the evaluation's status when voided")
    reason: Mapped[str] = mapped_column(Text, comment="the complaint number and remedy")
    restarted_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    restarted_by: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))
    report_sha256: Mapped[str | None] = mapped_column(String(64))
    reported_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    publicity_starts_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    publicity_ends_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    decisions: Mapped[list[dict[str, Any]]] = mapped_column(
        JSON, default=list, comment="[{member_id, submitted_at, decision, signature, dissent, decided_at}]"
    )

    evaluation: Mapped[Evaluation] = relationship(back_populates="restarts")


class VoidedAward(db.Model):  # type: ignore[name-defined]
    """An award declared void (中标无效) by an upheld complaint: what the award was, kept as it was issued,
    and why it fell. Its candidate is struck; the award notice and letters stay, marked void."""

    __tablename__ = "evaluation_voided_award"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    evaluation_id: Mapped[int] = mapped_column(ForeignKey("evaluation.id"), index=True)
    candidate_id: Mapped[int] = mapped_column(ForeignKey("evaluation_candidate.id"), unique=True)
    org_id: Mapped[int] = mapped_column(ForeignKey("organization.id"))
    rank: Mapped[int] = mapped_column(Integer)
    round: Mapped[int] = mapped_column(Integer)
    award_reason: Mapped[str | None] = mapped_column(Text)
    awarded_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    awarded_by: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))
    contract_due_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    contract_signed_at: Mapped[dt.datetime | None] = mapped_column(
        UTCDateTime, comment="a contract signed on the void award falls with it"
    )
    voided_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    voided_by: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))
    reason: Mapped[str] = mapped_column(Text, comment="the complaint number and remedy")

    evaluation: Mapped[Evaluation] = relationship(back_populates="voided_awards")
    candidate: Mapped[Candidate] = relationship()


class WrittenReport(db.Model):  # type: ignore[name-defined]
    """The tenderer's written report on the tendering (招标投标情况书面报告) to the supervising regulator,
    due within 15 days of fixing the winner (招标投标法 Art. 47). Its contents follow 工程建设项目施工招标投标
    办法 (七部委30号令) Art. 65: scope, method and announcement media, the key parts of the documents, the
    panel and its report, the result. Created at the award with its due date; filed once, then immutable."""

    __tablename__ = "evaluation_written_report"
    __table_args__ = (
        CheckConstraint(
            "(filed_at IS NULL) = (filed_by IS NULL) AND (filed_at IS NULL) = (sha256 IS NULL)",
            name="filed_together",
        ),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    evaluation_id: Mapped[int] = mapped_column(ForeignKey("evaluation.id"), unique=True)
    due_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, comment="award + 15 days (法 Art. 47)")
    scope: Mapped[str | None] = mapped_column(Text, comment="招标范围")
    method_and_media: Mapped[str | None] = mapped_column(Text, comment="招标方式和发布招标公告的媒介")
    documents_summary: Mapped[str | None] = mapped_column(
        Text, comment="投标人须知、技术条款、评标标准和方法、合同主要条款"
    )
    remarks: Mapped[str | None] = mapped_column(Text, comment="anything else the tenderer reports")
    filed_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    filed_by: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))
    sha256: Mapped[str | None] = mapped_column(String(64), comment="of the filed report document")
    blob_path: Mapped[str | None] = mapped_column(String(255))

    evaluation: Mapped[Evaluation] = relationship(back_populates="written_report")

    @property
    def late(self) -> bool:
        return self.filed_at is not None and self.filed_at > self.due_at
