"""Expert-pool enums, stored by value."""

from __future__ import annotations

from enum import StrEnum


class SpecialtyCategory(StrEnum):
    """Top level of the national classification (发改法规〔2018〕316号): A 工程, B 货物, C 服务."""

    ENGINEERING = "A"
    GOODS = "B"
    SERVICES = "C"


class ExpertStatus(StrEnum):
    APPLICANT = "applicant"
    ACTIVE = "active"
    SUSPENDED = "suspended"
    REMOVED = "removed"


class TitleLevel(StrEnum):
    """Professional title grade (职称级别). Entry needs a senior grade (高级: 正高级 or 副高级)."""

    PROFESSOR = "professor"  # 正高级
    SENIOR = "senior"  # 副高级
    INTERMEDIATE = "intermediate"  # 中级
    JUNIOR = "junior"  # 初级及以下


SENIOR_TITLES = frozenset({TitleLevel.PROFESSOR, TitleLevel.SENIOR})


class ConflictRelation(StrEnum):
    RELATIVE = "relative"  # 近亲属在该单位任职
    FORMER_EMPLOYER = "former_employer"
    ECONOMIC_INTEREST = "economic_interest"
    OTHER = "other"


class RegionScope(StrEnum):
    LOCAL = "local"
    CROSS_REGION = "cross_region"


class DrawStatus(StrEnum):
    AWAITING_WITNESS = "awaiting_witness"
    DRAWN = "drawn"
    CONFIRMED = "confirmed"
    CANCELLED = "cancelled"


ACTIVE_DRAW_STATUSES = frozenset({DrawStatus.AWAITING_WITNESS, DrawStatus.DRAWN, DrawStatus.CONFIRMED})


class RoundStatus(StrEnum):
    COMMITTED = "committed"  # pool frozen and server randomness committed; waiting for the witness
    REVEALED = "revealed"  # witness entered, randomness revealed, selection made


class SeatKind(StrEnum):
    SEAT = "seat"
    BACKUP = "backup"


class SeatStatus(StrEnum):
    STANDBY = "standby"  # a backup not called yet
    INVITED = "invited"
    CONFIRMED = "confirmed"
    DECLINED = "declined"
    NO_ANSWER = "no_answer"
    RELEASED = "released"  # a backup no longer needed, or a seat of a cancelled draw
    RECUSED = "recused"  # 回避: a conflict with a party found (at the opening) or declared (at sign-in)
    ABSENT = "absent"  # did not sign in for the evaluation: replaced (条例 Art. 48)


#: Seats taken off the panel for a statutory reason; the reason is recorded on the seat.
REPLACED_SEAT_STATUSES = frozenset({SeatStatus.RECUSED, SeatStatus.ABSENT})


HOLDING_SEAT_STATUSES = frozenset({SeatStatus.INVITED, SeatStatus.CONFIRMED})


class ExclusionReason(StrEnum):
    """Why an expert who matches the requested specialty and region may not sit on this panel."""

    EMPLOYER_TENDERER = "employer_tenderer"
    EMPLOYER_AGENCY = "employer_agency"
    EMPLOYER_BIDDER = "employer_bidder"
    EMPLOYER_SUPERVISORY = "employer_supervisory"  # trading center, management office or a regulator
    DECLARED_CONFLICT = "declared_conflict"
    NOT_ACTIVE = "not_active"
    ON_LEAVE = "on_leave"
    OVER_AGE = "over_age"
    RECENT_SAME_TENDERER = "recent_same_tenderer"
    ALREADY_ON_PANEL = "already_on_panel"  # supplementary rounds: invited before for this section
    EMPLOYER_ON_PANEL = "employer_on_panel"  # one expert per employer per panel
    FORMER_EMPLOYER_PARTY = (
        "former_employer_party"  # worked for the tenderer, agency or a bidder ≤ 3 years ago
    )


class EmploymentSource(StrEnum):
    """How a past employment (工作经历) came into the registry."""

    MANUAL = "manual"  # entered by the management office
    IMPORT = "import"  # the bulk import's former-employers column
    EMPLOYER_CHANGE = "employer_change"  # the current employer was changed: the old one ends that day
    SELF = "self"  # declared by the expert
