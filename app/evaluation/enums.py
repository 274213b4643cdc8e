"""States and kinds of the evaluation domain, stored by value."""

from __future__ import annotations

from enum import StrEnum


class EvaluationStatus(StrEnum):
    SIGN_IN = "sign_in"  # the panel signs in and declares (no) conflicts
    SCORING = "scoring"  # independent scoring; scores lock on submit
    REPORTING = "reporting"  # the report is drawn up; members sign or dissent
    REPORTED = "reported"  # report closed (silence deemed agreement), hashed and stored
    PUBLICITY = "publicity"  # 中标候选人公示
    AWARDED = "awarded"
    ARCHIVED = "archived"
    FAILED = "failed"  # every bid rejected (否决所有投标, 招标投标法 Art. 42): the section fails, re-tender


class Declaration(StrEnum):
    NO_CONFLICT = "no_conflict"
    CONFLICT = "conflict"  # the seat is replaced; this member's work is void


class ReportDecision(StrEnum):
    SIGNED = "signed"
    DISSENT = "dissent"  # 书面不同意见
    DEEMED = "deemed"  # neither signed nor dissented: deemed agreement at close (条例 53)


class FileKind(StrEnum):
    REPORT = "report"
    PUBLICITY = "publicity"
    AWARD_NOTICE = "award_notice"
    AWARD_LETTER = "award_letter"  # 中标通知书 to the winner
    RESULT_LETTER = "result_letter"  # 中标结果通知书 to the others
    FAILURE_NOTICE = "failure_notice"  # every bid rejected: the reasons, published
    WRITTEN_REPORT = "written_report"  # 招标投标情况书面报告 to the regulator (招标投标法 Art. 47)
    ARCHIVE = "archive"


class NoticeKind(StrEnum):
    """What the evaluation publishes once the report is closed."""

    CANDIDATE_PUBLICITY = "candidate_publicity"  # works: 中标候选人公示 ≥ 3 days, then the award (条例 54)
    RESULT_ANNOUNCEMENT = "result_announcement"  # procurement: 中标/成交结果公告 with the award (采购条例 43)
