"""Kinds, matters, states and remedies of the complaints domain, stored by value."""

from __future__ import annotations

from enum import StrEnum


class CaseKind(StrEnum):
    OBJECTION = "objection"  # 异议 (construction) or 质疑 (government procurement) to the tenderer
    COMPLAINT = "complaint"  # 投诉 to the regulator
    REPORT = "report"  # 举报, anyone, anonymous allowed


class Regime(StrEnum):
    """Which statutes set the clocks (reference file §1)."""

    CONSTRUCTION = "construction"  # 招标投标法 / 实施条例 / 11号令
    PROCUREMENT = "procurement"  # 政府采购法 / 实施条例 / 94号令


class Matter(StrEnum):
    """What an objection or complaint is about. All but ``other`` need an objection before a complaint
    (实施条例 Art. 60)."""

    DOCUMENTS = "documents"  # 招标文件 (条例 22)
    PREQUAL = "prequal"  # 资格预审文件 (条例 22): ≥ 2 日 before the application deadline
    OPENING = "opening"  # 开标 (条例 44)
    RESULTS = "results"  # 评标结果 (条例 54)
    OTHER = "other"  # any other act in the procedure


OBJECTION_FIRST = frozenset({Matter.DOCUMENTS, Matter.PREQUAL, Matter.OPENING, Matter.RESULTS})


class CaseStatus(StrEnum):
    DRAFT = "draft"  # saved by the filer, not filed: no clock runs
    SUBMITTED = "submitted"
    # objections
    ANSWERED = "answered"
    # complaints
    NOT_ACCEPTED = "not_accepted"  # 不予受理
    TRANSFERRED = "transferred"  # 移送 to the competent regulator
    ACCEPTED = "accepted"  # 受理
    INVESTIGATING = "investigating"
    WITHDRAWN = "withdrawn"
    REJECTED = "rejected"  # 驳回
    UPHELD = "upheld"
    PUBLISHED = "published"
    CLOSED = "closed"
    # reports
    FORWARDED = "forwarded"  # 转办 to the competent department
    ASSIGNED = "assigned"  # 交办 to a handler


S = CaseStatus

# One table of legal moves per kind; :func:`app.complaints.services.transition` refuses the rest.
TRANSITIONS: dict[CaseKind, dict[CaseStatus, frozenset[CaseStatus]]] = {
    CaseKind.OBJECTION: {
        S.DRAFT: frozenset({S.SUBMITTED}),
        S.SUBMITTED: frozenset({S.ANSWERED, S.WITHDRAWN}),
        S.ANSWERED: frozenset({S.CLOSED}),
    },
    CaseKind.COMPLAINT: {
        S.DRAFT: frozenset({S.SUBMITTED}),
        S.SUBMITTED: frozenset({S.NOT_ACCEPTED, S.TRANSFERRED, S.ACCEPTED, S.WITHDRAWN}),
        # a transferred complaint is decided on admission by the regulator that received it
        S.TRANSFERRED: frozenset({S.NOT_ACCEPTED, S.ACCEPTED, S.TRANSFERRED}),
        S.ACCEPTED: frozenset({S.INVESTIGATING, S.WITHDRAWN, S.REJECTED, S.UPHELD}),
        S.INVESTIGATING: frozenset({S.WITHDRAWN, S.REJECTED, S.UPHELD}),
        S.REJECTED: frozenset({S.PUBLISHED, S.CLOSED}),
        S.UPHELD: frozenset({S.PUBLISHED}),
        S.PUBLISHED: frozenset({S.CLOSED}),
        S.NOT_ACCEPTED: frozenset({S.CLOSED}),
        S.WITHDRAWN: frozenset({S.CLOSED}),
    },
    CaseKind.REPORT: {
        S.SUBMITTED: frozenset({S.FORWARDED, S.ASSIGNED}),
        S.FORWARDED: frozenset({S.FORWARDED, S.ASSIGNED}),
        S.ASSIGNED: frozenset({S.ASSIGNED, S.FORWARDED, S.ANSWERED}),
        S.ANSWERED: frozenset({S.CLOSED}),
    },
}

# No clock runs and nothing is overdue in these states.
FINAL_STATES = frozenset({S.CLOSED, S.WITHDRAWN, S.NOT_ACCEPTED, S.PUBLISHED})
CLOCKLESS_STATES = frozenset({S.DRAFT, S.ANSWERED, S.REJECTED, S.UPHELD, *FINAL_STATES})
DECIDED_STATES = frozenset({S.REJECTED, S.UPHELD, S.PUBLISHED})


class Remedy(StrEnum):
    """What an upheld complaint orders (实施条例 Art. 81; 94号令 Arts. 31/32)."""

    CORRECTION = "correction"  # 责令改正
    RE_EVALUATION = "re_evaluation"  # 重新评标
    RE_TENDER = "re_tender"  # 重新招标
    VOID_AWARD = "void_award"  # 中标无效


class PauseReason(StrEnum):
    """Periods that do not count towards the decision clock (条例 Art. 61; 采购条例 Art. 58)."""

    EXPERT_REVIEW = "expert_review"  # 专家评审
    TESTING = "testing"  # 检验、检测
    APPRAISAL = "appraisal"  # 鉴定
    DEFECT_FIX = "defect_fix"  # 补正 (procurement)


class Audience(StrEnum):
    """Who may read a message or attachment in a case thread."""

    PARTIES = "parties"  # filer, respondent and handlers
    FILER = "filer"  # filer and handlers
    RESPONDENT = "respondent"  # respondent and handlers
    INTERNAL = "internal"  # handlers only


class TransferKind(StrEnum):
    RECEIVED = "received"  # 首问: first received by a person
    FORWARDED = "forwarded"  # 转办 to another department
    ASSIGNED = "assigned"  # 交办 to a handler
    TRANSFERRED = "transferred"  # 移送 (complaint to the competent regulator)


class NoticeKind(StrEnum):
    """Notices the tick sends; each is sent once per case and key (idempotent)."""

    OVERDUE = "overdue"  # 督办 supervision notice
    ESCALATED = "escalated"  # to the department head
    DUE_SOON_BACKUP = "due_soon_backup"  # AB角: untouched near the due date
    ABSENT_BACKUP = "absent_backup"  # AB角: primary on leave
    STALLED = "stalled"  # no activity for a while
