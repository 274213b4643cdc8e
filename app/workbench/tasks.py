""" "What needs me now": the workbench task list per role, soonest first.

Read-only queries over the other domains, each bounded: sealed bids still to submit (bidders, for sections
whose documents their company obtained), opening-key shares to submit (custodians of a ceremony collecting
shares), expert draws to witness (the supervising regulator), cases with a running clock (handlers,
respondents), candidate publicity ending (the tenderer side). Time left is computed here from the business
clock, in words (:mod:`app.core.countdown`); case clocks count working days.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from flask import url_for
from flask_babel import gettext as _
from markupsafe import Markup
from sqlalchemy import or_, select

from app.accounts.models import User
from app.core.calendar import load_calendar, local_date
from app.core.clock import CST, now
from app.core.countdown import countdown, working_days_left, working_days_words
from app.core.db import db
from app.core.permissions import Permission, Role, has_permission

LIMIT = 20  # per kind of task: the workbench points to the full lists


@dataclass(frozen=True)
class Task:
    kind: str  # a CSS hook, never shown
    title: str
    subject: str
    url: str
    due: dt.datetime | None = None
    left: Markup | str = ""  # the time left, in words
    urgent: bool = False


def _sort_key(task: Task) -> tuple[int, dt.datetime]:
    return (0 if task.due is not None else 1, task.due or dt.datetime.max.replace(tzinfo=dt.UTC))


def tasks_for(user: User) -> list[Task]:
    at = now()
    tasks: list[Task] = []
    role = Role(user.role)
    if role is Role.BIDDER:
        tasks += _bids_to_submit(user, at)
    if has_permission(role, Permission.BIDDING_CEREMONY):
        tasks += _openings_due(at)
    if has_permission(role, Permission.BIDDING_CUSTODIAN):
        tasks += _shares_to_submit(user)
    if has_permission(role, Permission.EXPERTS_DRAW_WITNESS):
        tasks += _draws_to_witness(user)
    if has_permission(role, Permission.COMPLAINTS_HANDLE) or has_permission(
        role, Permission.COMPLAINTS_ANSWER
    ):
        tasks += _cases_due(user, at)
    if has_permission(role, Permission.EVALUATION_PUBLISH):
        tasks += _publicity_ending(user, at)
    if has_permission(role, Permission.SECTION_EDIT):
        tasks += _validity_ending(user, at)
    if role is Role.BIDDER:
        tasks += _extensions_to_answer(user, at)
    if has_permission(role, Permission.AUCTION_REVIEW):
        tasks += _auction_desk(at)
    return sorted(tasks, key=_sort_key)


def _auction_desk(at: dt.datetime) -> list[Task]:
    """Center staff: bidder registrations waiting for the deposit or the review while the listing runs (due at
    its end), and deposits to refund after the end (5 working days, 令第39号 Art. 24)."""
    from app.auctions.enums import ENDED
    from app.auctions.models import AuctionListing, AuctionRegistration

    running = [s.value for s in ENDED]
    waiting = db.session.execute(
        select(AuctionRegistration.listing_id, AuctionListing.title, AuctionListing.listing_ends_at)
        .join(AuctionListing, AuctionListing.id == AuctionRegistration.listing_id)
        .where(AuctionRegistration.status == "applied", AuctionListing.status.not_in(running))
        .distinct()
        .order_by(AuctionListing.listing_ends_at)
        .limit(LIMIT)
    ).all()
    refunds = db.session.execute(
        select(
            AuctionRegistration.listing_id, AuctionListing.title, AuctionRegistration.deposit_refund_due_at
        )
        .join(AuctionListing, AuctionListing.id == AuctionRegistration.listing_id)
        .where(
            AuctionRegistration.deposit_refund_due_at.is_not(None),
            AuctionRegistration.deposit_refunded_at.is_(None),
        )
        .order_by(AuctionRegistration.deposit_refund_due_at)
        .limit(LIMIT)
    ).all()
    tasks = [
        Task(
            "auction-review",
            _("Review bidder registrations"),
            title,
            url_for("auctions.listing", listing_id=listing_id),
            ends,
            countdown(ends, at=at),
            ends - at < dt.timedelta(days=1),
        )
        for listing_id, title, ends in waiting
    ]
    tasks += [
        Task(
            "auction-refund",
            _("Refund a bidder deposit"),
            title,
            url_for("auctions.listing", listing_id=listing_id),
            due,
            countdown(due, at=at) if due > at else _("Overdue"),
            due <= at + dt.timedelta(days=1),
        )
        for listing_id, title, due in refunds
        if due is not None  # the query's filter: typed for mypy
    ]
    return tasks


def _section_name(section: Any) -> str:
    return f"{section.code} {section.project.name} {section.name}"


def _bids_to_submit(user: User, at: dt.datetime) -> list[Task]:
    from app.bidding.enums import EnvelopeStatus
    from app.bidding.models import SealedEnvelope
    from app.projects.enums import SectionStatus
    from app.projects.models import DocumentObtainment, Section

    on_file = select(SealedEnvelope.section_id).where(
        SealedEnvelope.org_id == user.org_id, SealedEnvelope.status == EnvelopeStatus.ACTIVE.value
    )
    sections = db.session.scalars(
        select(Section)
        .join(DocumentObtainment, DocumentObtainment.section_id == Section.id)
        .where(
            DocumentObtainment.bidder_org_id == user.org_id,
            Section.status == SectionStatus.PUBLISHED.value,
            Section.bid_deadline > at,
            Section.id.not_in(on_file),
        )
        .order_by(Section.bid_deadline)
        .limit(LIMIT)
    )
    return [
        Task(
            "bid",
            _("Seal and submit your bid"),
            _section_name(s),
            url_for("bidding.section_page", section_id=s.id),
            s.bid_deadline,
            countdown(s.bid_deadline, at=at),
            s.bid_deadline - at < dt.timedelta(days=2),
        )
        for s in sections
        if s.bid_deadline is not None
    ]


def _openings_due(at: dt.datetime) -> list[Task]:
    """Sections whose bid deadline is within a day or past and whose bids are not opened yet."""
    from app.projects.enums import SectionStatus
    from app.projects.models import Section

    waiting = [SectionStatus.PUBLISHED.value, SectionStatus.BIDDING_CLOSED.value, SectionStatus.OPENING.value]
    sections = db.session.scalars(
        select(Section)
        .where(Section.status.in_(waiting), Section.bid_deadline <= at + dt.timedelta(days=1))
        .order_by(Section.bid_deadline)
        .limit(LIMIT)
    )
    return [
        Task(
            "opening",
            _("Run the bid opening"),
            _section_name(s),
            url_for("bidding.control_room", section_id=s.id),
            s.bid_deadline,
            countdown(s.bid_deadline, at=at) if s.bid_deadline > at else _("Bid deadline reached: open now"),
            s.bid_deadline <= at,
        )
        for s in sections
        if s.bid_deadline is not None
    ]


def _shares_to_submit(user: User) -> list[Task]:
    from app.bidding.enums import CeremonyStatus
    from app.bidding.models import OpeningCeremony, OpeningKeyShare, SubmittedShare
    from app.projects.models import Section, SectionCustodian

    done = (
        select(SubmittedShare.ceremony_id)
        .join(OpeningKeyShare, OpeningKeyShare.id == SubmittedShare.key_share_id)
        .where(SubmittedShare.submitted_by == user.id)
    )
    rows = db.session.execute(
        select(OpeningCeremony, Section)
        .join(Section, Section.id == OpeningCeremony.section_id)
        .join(SectionCustodian, SectionCustodian.section_id == Section.id)
        .where(
            SectionCustodian.user_id == user.id,
            OpeningCeremony.status == CeremonyStatus.COLLECTING.value,
            OpeningCeremony.id.not_in(done),
        )
        .order_by(OpeningCeremony.started_at)
        .limit(LIMIT)
    )
    return [
        Task(
            "share",
            _("Submit your opening-key share: the opening is waiting"),
            _section_name(section),
            url_for("bidding.custodian"),
            urgent=True,
            left=_("Opening started %(at)s", at=ceremony.started_at.astimezone(CST).strftime("%H:%M")),
        )
        for ceremony, section in rows
    ]


def _draws_to_witness(user: User) -> list[Task]:
    from app.experts.enums import DrawStatus
    from app.experts.models import ExpertDraw
    from app.projects.models import Project, Section

    mine = select(Section.id).join(Project).where(Project.regulator_org_id == user.org_id)
    draws = db.session.scalars(
        select(ExpertDraw)
        .where(ExpertDraw.status == DrawStatus.AWAITING_WITNESS.value, ExpertDraw.section_id.in_(mine))
        .order_by(ExpertDraw.id)
        .limit(LIMIT)
    )
    tasks = []
    for draw in draws:
        section = db.session.get(Section, draw.section_id)
        tasks.append(
            Task(
                "draw",
                _("Witness an expert draw"),
                _section_name(section) if section else "",
                url_for("experts.witness", draw_id=draw.id),
                urgent=True,
                left=_("Staff are waiting for your entropy"),
            )
        )
    return tasks


def _cases_due(user: User, at: dt.datetime) -> list[Task]:
    from app.complaints.enums import CLOCKLESS_STATES, CaseKind
    from app.complaints.models import Case

    mine = [Case.handling_org_id == user.org_id, Case.primary_handler_id == user.id, Case.owner_id == user.id]
    if Role(user.role) is Role.TENDERER:  # objections to answer (异议答复)
        mine = [(Case.respondent_org_id == user.org_id) & (Case.kind == CaseKind.OBJECTION.value)]
    cases = db.session.scalars(
        select(Case)
        .where(
            or_(*mine),
            Case.status.not_in([s.value for s in CLOCKLESS_STATES]),
            Case.due_at.is_not(None),
        )
        .order_by(Case.due_at)
        .limit(LIMIT)
    )
    calendar = load_calendar()
    titles = {
        CaseKind.OBJECTION.value: _("Answer an objection"),
        CaseKind.COMPLAINT.value: _("Decide a complaint"),
        CaseKind.REPORT.value: _("Handle a report"),
    }
    tasks = []
    for case in cases:
        assert case.due_at is not None
        days = working_days_left(local_date(case.due_at), calendar=calendar, at=at)
        tasks.append(
            Task(
                "case",
                titles.get(case.kind, _("Handle a case")),
                f"{case.number or ''} {case.subject}".strip(),
                url_for("complaints.case_detail", case_id=case.id),
                case.due_at,
                working_days_words(days),
                days <= 2,
            )
        )
    return tasks


def _publicity_ending(user: User, at: dt.datetime) -> list[Task]:
    from app.evaluation.models import Evaluation
    from app.projects.models import Project, Section

    ours = (
        select(Section.id)
        .join(Project)
        .where(or_(Project.owner_org_id == user.org_id, Project.agency_org_id == user.org_id))
    )
    evaluations = db.session.scalars(
        select(Evaluation)
        .where(
            Evaluation.section_id.in_(ours),
            Evaluation.publicity_ends_at.is_not(None),
            Evaluation.publicity_ends_at > at - dt.timedelta(days=3),
            Evaluation.awarded_at.is_(None),
        )
        .order_by(Evaluation.publicity_ends_at)
        .limit(LIMIT)
    )
    tasks = []
    for ev in evaluations:
        section = db.session.get(Section, ev.section_id)
        assert ev.publicity_ends_at is not None
        ended = ev.publicity_ends_at <= at
        tasks.append(
            Task(
                "publicity",
                _("Publicity has ended: decide the award") if ended else _("Candidate publicity ending"),
                _section_name(section) if section else "",
                url_for("evaluation.manage", section_id=ev.section_id),
                ev.publicity_ends_at,
                countdown(ev.publicity_ends_at, at=at),
                ended,
            )
        )
    return tasks


VALIDITY_WARN = dt.timedelta(days=7)


def _validity_ending(user: User, at: dt.datetime) -> list[Task]:
    """The tenderer side's held sections whose bid validity ends within a week, no contract signed yet
    (实施条例 Art. 25: extend before it lapses)."""
    from app.bidding.validity import services as validity
    from app.evaluation.models import Evaluation

    tasks = []
    for section in validity.lapsing_sections(VALIDITY_WARN, at, org_id=user.org_id):
        signed = db.session.scalar(
            select(Evaluation.contract_signed_at).where(Evaluation.section_id == section.id)
        )
        end = validity.current_end(section)
        if signed is not None or end is None:
            continue
        tasks.append(
            Task(
                "validity",
                _("Bid validity has lapsed") if end <= at else _("Bid validity ending: extend it"),
                _section_name(section),
                url_for("bid_validity.manage", section_id=section.id),
                end,
                countdown(end, at=at),
                True,
            )
        )
    return tasks[:LIMIT]


def _extensions_to_answer(user: User, at: dt.datetime) -> list[Task]:
    """Extension requests the bidder's organization has not answered while its bid is still valid."""
    from app.bidding.validity import services as validity
    from app.bidding.validity.models import ValidityExtension
    from app.projects.models import Section

    tasks = []
    pending = db.session.scalars(
        select(ValidityExtension)
        .where(ValidityExtension.previous_end_at > at)
        .order_by(ValidityExtension.previous_end_at)
        .limit(LIMIT * 5)
    )
    for ext in pending:
        section = db.session.get(Section, ext.section_id)
        if section is None or user.org_id not in validity.bidders(section):
            continue
        if validity.extensions_of(section)[-1].id != ext.id:
            continue
        if any(a.org_id == user.org_id for a in ext.answers):
            continue
        tasks.append(
            Task(
                "validity",
                _("Answer the request to extend your bid validity"),
                _section_name(section),
                url_for("bid_validity.mine", section_id=section.id),
                ext.previous_end_at,
                countdown(ext.previous_end_at, at=at),
                True,
            )
        )
    return tasks[:LIMIT]
