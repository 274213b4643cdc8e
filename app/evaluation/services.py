"""The business rules of evaluation, publicity and award (SPEC §5; 条例 Arts. 46–58).

Decisions (see also :mod:`app.evaluation.scoring` for the arithmetic):

* The evaluation starts when the first confirmed expert of the section's draw signs in at or after the
  draw's evaluation time; the section moves ``opened → evaluating`` then.
* Panel leader (评标委员会主任): the counted expert with the lowest seat order (the order of the draw's
  picks); a tenderer representative never leads. Chosen when scoring starts and again if the leader is
  replaced — no election round to stall on.
* Who sits and when scoring may start: :mod:`app.evaluation.panel` (法 Art. 37: odd, ≥ 5, experts ≥ 2/3,
  tenderer representatives as real seats).
* Independence: nobody sees another member's scores before submitting; outliers are computed once every
  counted member has submitted (their scores are locked) and the flagged member explains in writing.
* A declared conflict (or a later recusal) voids the member: its rows stay, marked void, and never count
  (条例 Art. 48); the seat is refilled through the experts domain's backups.
* Report: drawn up by the leader as printable HTML, hashed (SHA-256) and stored; each member signs (the
  platform's Ed25519 key signs the statement "member M agrees with report H") or dissents in writing;
  closing the report records silence as agreement (条例 Art. 53).
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import json
import logging
from collections.abc import Callable
from decimal import Decimal, InvalidOperation
from typing import Any

from flask import current_app, render_template
from flask_babel import gettext as _
from sqlalchemy import func, select

from app.accounts.models import Organization, User
from app.core import audit, calendar, events, outbox, storage
from app.core.clock import now, to_local
from app.core.crypto import signing_key
from app.core.db import db
from app.core.errors import Conflict, DomainError, NotFound
from app.core.permissions import Role
from app.projects.enums import SectionStatus
from app.projects.models import Section

from . import scoring
from .enums import Declaration, EvaluationStatus, FileKind, NoticeKind, ReportDecision
from .models import Candidate, Evaluation, EvaluationFile, PanelMember, Score, SecurityRefund

E = EvaluationStatus

#: The moves back to ``scoring`` from ``reported``, ``publicity`` and ``awarded`` are a re-evaluation
#: (重新评审) and ``awarded → publicity`` a voided award (中标无效), both ordered by an upheld complaint
#: (:mod:`app.evaluation.remedies`). ``reported → awarded`` is government procurement's result
#: announcement, which is the award (:mod:`app.evaluation.procurement`); works go through the publicity.
TRANSITIONS: dict[EvaluationStatus, frozenset[EvaluationStatus]] = {
    E.SIGN_IN: frozenset({E.SCORING}),
    E.SCORING: frozenset({E.REPORTING}),
    E.REPORTING: frozenset({E.REPORTED, E.SCORING}),
    E.REPORTED: frozenset({E.PUBLICITY, E.AWARDED, E.SCORING, E.FAILED}),
    E.PUBLICITY: frozenset({E.AWARDED, E.SCORING}),
    E.AWARDED: frozenset({E.ARCHIVED, E.PUBLICITY, E.SCORING}),
    E.ARCHIVED: frozenset(),
    E.FAILED: frozenset(),  # every bid rejected: the section fails and is tendered again (endings.py)
}

DEFAULTS: dict[str, Any] = {
    "EVALUATION_AGGREGATION": "auto",
    "EVALUATION_TRIM_MIN_PANEL": 7,
    "EVALUATION_OUTLIER_THRESHOLD": "15",
    "EVALUATION_BENCHMARK": "lowest",
    "EVALUATION_HOURS": 4,
    "EVALUATION_EXTENSION_HOURS": 2,
    "EVALUATION_PUBLICITY_DAYS": 3,
    "EVALUATION_PUBLISH_WITHIN_DAYS": 3,
    "EVALUATION_CONTRACT_DAYS": 30,
    "EVALUATION_REFUND_DAYS": 5,
    "EVALUATION_SIGN_IN_GRACE_MINUTES": 30,  # after the start, a member not signed in may be replaced
}
MAX_CANDIDATES = 3
logger = logging.getLogger(__name__)
STATE_FUNDED_MARKERS = ("财政", "国有", "国资", "state", "government", "public")

#: Checks run before an award; each returns why the award must wait, or None. The complaints domain may
#: register its own; :func:`pending_cases_blocker` (reads its tables when they exist) is installed by default.
AWARD_BLOCKERS: list[Callable[[Section], str | None]] = []
#: Checks run before the evaluation starts; each returns why it must wait, or None (the complaints domain
#: installs one: an objection raised at the opening is answered before the evaluation, 条例 Art. 44).
START_BLOCKERS: list[Callable[[Section], str | None]] = []


#: The law is not configuration: a setting may be stricter than the statute, never laxer.
#: name → (bound, "min" | "max", article).
STATUTORY_BOUNDS: dict[str, tuple[int, str, str]] = {
    "EVALUATION_PUBLICITY_DAYS": (3, "min", "实施条例第54条: 公示期不得少于3日"),
    "EVALUATION_PUBLISH_WITHIN_DAYS": (3, "max", "实施条例第54条: 收到评标报告之日起3日内公示"),
    "EVALUATION_CONTRACT_DAYS": (30, "max", "招标投标法第46条: 中标通知书发出之日起30日内订立合同"),
    "EVALUATION_REFUND_DAYS": (5, "max", "实施条例第57条: 5日内退还投标保证金"),
}


def setting(name: str) -> Any:
    value = current_app.config.get(name, DEFAULTS[name])
    bound = STATUTORY_BOUNDS.get(name)
    if bound is None:
        return value
    limit, kind, article = bound
    kept = max(int(value), limit) if kind == "min" else min(int(value), limit)
    if kept != int(value):
        # Configuration may be stricter than the statute, never laxer: the statute applies, and says so.
        logger.warning("%s = %s is laxer than the statute (%s): %s is used", name, value, article, kept)
    return kept


def transition(
    ev: Evaluation,
    to: EvaluationStatus,
    *,
    actor: User | None,
    reason: str = "",
    changes: dict[str, Any] | None = None,
) -> None:
    """Move ``ev`` to ``to`` if :data:`TRANSITIONS` allows it, applying ``changes`` (the columns the CHECK
    constraints tie to the new state) in the same flush, and write the audit leaf."""
    current = EvaluationStatus(ev.status)
    if to not in TRANSITIONS[current]:
        raise Conflict(
            _("An evaluation cannot go from %(a)s to %(b)s.", a=current.value, b=to.value),
            code="illegal_transition",
        )
    for name, value in (changes or {}).items():
        setattr(ev, name, value)
    ev.status = to.value
    _audit(
        "evaluation:evaluation:transition",
        actor,
        ev,
        {"from": current.value, "to": to.value, "reason": reason},
    )
    events.publish(db.session(), f"evaluation:{ev.id}", {"status": to.value})


def _audit(action: str, actor: User | None, ev: Evaluation, payload: dict[str, Any]) -> None:
    audit.record(
        action,
        actor=actor,
        object_type="evaluation",
        object_id=ev.id,
        payload={"section_id": ev.section_id, **payload},
    )


# -- the section, its draw and its bids ------------------------------------------------------------------


def section_of(ev: Evaluation) -> Section:
    section = db.session.get(Section, ev.section_id)
    if section is None:  # pragma: no cover - foreign key
        raise NotFound(_("Not found."))
    return section


def evaluation_for(section: Section) -> Evaluation | None:
    return db.session.scalar(select(Evaluation).where(Evaluation.section_id == section.id))


def _draw_of(section: Section) -> Any:
    from app.experts import draws

    return draws.active_draw_for(section.id)


def _confirmed_seats(draw: Any) -> list[Any]:
    from app.experts.enums import SeatStatus

    seats = [s for s in draw.seats if s.status == SeatStatus.CONFIRMED]
    return sorted(seats, key=lambda s: (s.round_number, s.kind != "seat", s.specialty_code, s.rank, s.id))


def bids_of(section: Section) -> list[scoring.Bid]:
    """The valid bids of the opening record, with the declared price and the summary's receipt time."""
    from app.bidding.enums import EntryStatus, EnvelopeKind, EnvelopeStatus
    from app.bidding.models import SealedEnvelope
    from app.bidding.opening import completed_ceremony

    ceremony = completed_ceremony(section)
    if ceremony is None:
        return []
    received = dict(
        db.session.execute(
            select(SealedEnvelope.org_id, SealedEnvelope.received_at).where(
                SealedEnvelope.section_id == section.id,
                SealedEnvelope.kind == EnvelopeKind.SUMMARY.value,
                SealedEnvelope.status == EnvelopeStatus.ACTIVE.value,
            )
        ).all()
    )
    from app.bidding.validity import services as validity

    dropped = validity.dropped_orgs(section)  # refused or let lapse an extension (实施条例 Art. 25)
    rate = section.sme_deduction_rate if procurement_section(section) else None
    bids = []
    for entry in ceremony.entries:
        if entry.status != EntryStatus.VALID or entry.org_id in dropped:
            continue
        price = Decimal(str(entry.declared.get("price", "0")))
        bids.append(
            scoring.Bid(
                entry.org_id,
                entry.bidder_name,
                price,
                received.get(entry.org_id, ceremony.started_at),
                sme_size=str(entry.declared.get("sme_size") or ""),
                deduction_rate=rate or Decimal("0"),
            )
        )
    return bids


def procurement_section(section: Section) -> bool:
    from . import procurement

    return procurement.is_procurement(section)


def validity_refusal(section: Section) -> str | None:
    """The bid validity in force has lapsed without extension (实施条例 Art. 25)."""
    from app.bidding.validity import services as validity

    return validity.lapse_refusal(section)


def all_entries(section: Section) -> list[Any]:
    from app.bidding.opening import completed_ceremony

    ceremony = completed_ceremony(section)
    return list(ceremony.entries) if ceremony is not None else []


def documents_of(section: Section, org_id: int) -> list[Any]:
    """The opened documents of one bidder of this section."""
    from app.bidding.enums import EnvelopeKind, EnvelopeStatus
    from app.bidding.models import SealedEnvelope

    return list(
        db.session.scalars(
            select(SealedEnvelope)
            .where(
                SealedEnvelope.section_id == section.id,
                SealedEnvelope.org_id == org_id,
                SealedEnvelope.kind == EnvelopeKind.DOCUMENT.value,
                SealedEnvelope.status == EnvelopeStatus.ACTIVE.value,
                SealedEnvelope.plaintext_path.is_not(None),
            )
            .order_by(SealedEnvelope.name, SealedEnvelope.id)
        )
    )


# -- start, sign-in, conflicts, replacement --------------------------------------------------------------


def _settings() -> scoring.Settings:
    return scoring.Settings(
        aggregation=str(setting("EVALUATION_AGGREGATION")),
        trim_min_panel=int(setting("EVALUATION_TRIM_MIN_PANEL")),
        outlier_threshold=Decimal(str(setting("EVALUATION_OUTLIER_THRESHOLD"))),
        benchmark=str(setting("EVALUATION_BENCHMARK")),
    )


def settings_of(ev: Evaluation) -> scoring.Settings:
    return scoring.Settings.from_dict(ev.settings or {})


def start(section: Section, *, actor: User | None) -> Evaluation:
    """Open the evaluation of an opened section at the draw's evaluation time (idempotent)."""
    existing = evaluation_for(section)
    if existing is not None:
        return existing
    if section.status != SectionStatus.OPENED:
        raise Conflict(_("The section is not ready for evaluation."), code="not_opened")
    for check in START_BLOCKERS:
        reason = check(section)
        if reason:
            raise Conflict(reason, code="pending_opening_objection")
    lapsed = validity_refusal(section)
    if lapsed:
        raise Conflict(lapsed, code="bid_validity_lapsed")
    draw = _draw_of(section)
    if draw is None:
        raise Conflict(_("The section has no expert panel."), code="no_panel")
    if now() < draw.evaluation_starts_at:
        raise Conflict(_("The evaluation has not started yet."), code="too_early")
    from app.projects import services as projects

    from . import procurement

    at = now()
    ev = Evaluation(
        section_id=section.id,
        draw_id=draw.id,
        method=section.evaluation_method,
        criteria=list(section.scoring_criteria or []),
        settings=_settings().as_dict(),
        status=E.SIGN_IN.value,
        notice_kind=(
            NoticeKind.RESULT_ANNOUNCEMENT
            if procurement.is_procurement(section)
            else NoticeKind.CANDIDATE_PUBLICITY
        ).value,
        started_at=at,
        ends_at=at + dt.timedelta(hours=int(setting("EVALUATION_HOURS"))),
    )
    db.session.add(ev)
    db.session.flush()  # the members below need the evaluation's id
    sync_members(ev)
    projects.transition(section, SectionStatus.EVALUATING, actor=actor, reason="evaluation started")
    _audit(
        "evaluation:evaluation:start",
        actor,
        ev,
        {"draw_id": draw.id, "method": ev.method, "settings": ev.settings},
    )
    return ev


def sync_members(ev: Evaluation) -> None:
    """Add a member row for every confirmed seat and every named tenderer representative not yet on the
    panel (replacements included)."""
    from app.experts.models import ExpertDraw

    from . import panel

    draw = db.session.get(ExpertDraw, ev.draw_id)
    assert draw is not None
    known = {m.seat_id for m in ev.members if m.seat_id is not None}
    known_reps = {m.representative_id for m in ev.members if m.representative_id is not None}
    order = max((m.seat_order for m in ev.members), default=0)
    for seat in _confirmed_seats(draw):
        if seat.id in known:
            continue
        order += 1
        ev.members.append(
            PanelMember(
                seat_id=seat.id, expert_id=seat.expert_id, user_id=seat.expert.user_id, seat_order=order
            )
        )
    for rep in panel.active_representatives(section_of(ev)):
        if rep.id in known_reps:
            continue
        order += 1
        ev.members.append(PanelMember(representative_id=rep.id, user_id=rep.user_id, seat_order=order))
    db.session.flush()


def member_of(ev: Evaluation, user: User) -> PanelMember | None:
    """The user's live (not voided) membership on this panel."""
    for m in ev.members:
        if m.user_id == user.id and m.voided_at is None:
            return m
    return None


def replaced_member_of(ev: Evaluation, user: User) -> PanelMember | None:
    """The user's latest membership on this panel that was voided (recused, conflict, absent)."""
    voided = [m for m in ev.members if m.user_id == user.id and m.voided_at is not None]
    return max(voided, key=lambda m: m.id) if voided else None


def evaluations_of_member(user: User) -> list[tuple[Section, Evaluation | None, dt.datetime | None]]:
    """Sections where this user sits on the panel — an expert's confirmed seat or a named tenderer
    representative: (section, evaluation or None, evaluation time)."""
    from . import panel

    if user.role == Role.TENDERER:
        out = []
        for section, _rep in panel.sections_of_representative(user):
            draw = _draw_of(section)
            out.append((section, evaluation_for(section), draw.evaluation_starts_at if draw else None))
        return out
    return [(s, ev, seat.draw.evaluation_starts_at) for s, ev, seat in evaluations_of_expert(user)]


def evaluations_of_expert(user: User) -> list[tuple[Section, Evaluation | None, Any]]:
    """Sections where this expert holds a confirmed seat: (section, evaluation or None, seat)."""
    from app.experts.enums import SeatStatus
    from app.experts.models import Expert, ExpertDraw, PanelSeat

    rows = db.session.execute(
        select(PanelSeat, ExpertDraw)
        .join(ExpertDraw, PanelSeat.draw_id == ExpertDraw.id)
        .join(Expert, PanelSeat.expert_id == Expert.id)
        .where(Expert.user_id == user.id, PanelSeat.status == SeatStatus.CONFIRMED.value)
        .order_by(ExpertDraw.evaluation_starts_at.desc())
    ).all()
    out = []
    for seat, draw in rows:
        section = db.session.get(Section, draw.section_id)
        if section is not None:
            out.append((section, evaluation_for(section), seat))
    return out


def seat_of_user(section: Section, user: User) -> Any:
    for sec, _ev, seat in evaluations_of_expert(user):
        if sec.id == section.id:
            return seat
    return None


def _ensure_active(ev: Evaluation) -> None:
    """Every evaluation step waits while the section is suspended (SPEC §2)."""
    if section_of(ev).suspended:
        raise Conflict(_("The section is suspended; every step waits until it is resumed."), code="suspended")


def sign_in(section: Section, *, actor: User, conflict: bool, note: str = "") -> PanelMember:
    """The expert signs in and declares, against the now known bidder list, that it has no conflict — or
    that it has one, and is replaced."""
    ev = start(section, actor=actor)
    _ensure_active(ev)
    sync_members(ev)
    member = member_of(ev, actor)
    if member is None:
        raise NotFound(_("Not found."))
    if member.signed_in_at is not None:
        raise Conflict(_("You have already signed in."))
    note = (note or "").strip()
    if conflict and not note:
        raise DomainError(_("Describe the conflict."), errors={"note": [_("Required.")]})
    found = _registry_conflicts(member, section)
    if found and not conflict:  # the registry knows a tie to a bidder: recused whatever was declared
        from app.experts.recusal import reason_text

        conflict, note = True, reason_text(found)
    member.signed_in_at = now()
    member.declaration = (Declaration.CONFLICT if conflict else Declaration.NO_CONFLICT).value
    member.conflict_note = note or None
    _audit(
        "evaluation:member:sign_in",
        actor,
        ev,
        {
            "member_id": member.id,
            "declaration": member.declaration,
            "bidders": [b.org_id for b in bids_of(section)],
        },
    )
    if conflict:
        recuse(member, actor=actor, reason=_("Conflict declared at sign-in: %(note)s", note=note))
    else:
        _maybe_begin_scoring(ev, actor=actor)
    return member


def _registry_conflicts(member: PanelMember, section: Section) -> list[tuple[str, str]]:
    """An expert's ties to the section's bidders known to the registry (employment now or within the
    look-back, declared conflicts), checked again at sign-in."""
    if member.expert_id is None:
        return []
    from app.experts.recusal import bidders_at_opening, conflicts_of

    day = to_local(now()).date()
    return conflicts_of([member.expert_id], bidders_at_opening(section), day).get(member.expert_id, [])


def recuse(member: PanelMember, *, actor: User | None, reason: str, absent: bool = False) -> None:
    """Void a member (its work no longer counts) and refill its seat: an expert's through the experts
    domain, a representative's by the tenderer naming another."""
    ev = member.evaluation
    if ev.status not in (E.SIGN_IN, E.SCORING, E.REPORTING):
        raise Conflict(_("The panel can no longer change."))
    if member.voided_at is not None:
        return
    member.voided_at = now()
    member.void_reason = reason[:2000] or "-"
    _audit(
        "evaluation:member:void",
        actor,
        ev,
        {"member_id": member.id, "seat_id": member.seat_id, "reason": reason},
    )
    if ev.status == E.REPORTING:  # the report no longer stands: the panel re-evaluates
        _discard_report(ev, actor=actor)
    if member.is_representative:
        from . import panel

        panel.release_representative(member, actor=actor, reason=reason)
    else:
        _replace_seat(member, actor=actor, reason=reason, absent=absent)
    if ev.leader_member_id == member.id:
        ev.leader_member_id = None
        _choose_leader(ev, actor=actor)


def _replace_seat(member: PanelMember, *, actor: User | None, reason: str, absent: bool = False) -> None:
    """The experts domain's replacement procedure (``draws.replace_seat``): the seat is marked recused or
    absent with the reason, and refilled from the backups in the drawn order or by a supplementary round
    with fresh randomness — never picked by hand (条例 Arts. 46, 48)."""
    from app.experts import draws
    from app.experts.enums import SeatStatus
    from app.experts.models import PanelSeat

    seat = db.session.get(PanelSeat, member.seat_id)
    assert seat is not None
    draws.replace_seat(
        seat, reason=reason, actor=actor, status=SeatStatus.ABSENT if absent else SeatStatus.RECUSED
    )


def _choose_leader(ev: Evaluation, *, actor: User | None) -> None:
    counted = [m for m in ev.counted if not m.is_representative]
    if not counted or ev.leader_member_id is not None:
        return
    leader = min(counted, key=lambda m: (m.seat_order, m.id))
    ev.leader_member_id = leader.id
    _audit("evaluation:leader:choose", actor, ev, {"member_id": leader.id, "rule": "lowest seat order"})


def _maybe_begin_scoring(ev: Evaluation, *, actor: User | None) -> None:
    """Scoring starts when the seated panel is the lawful composition (:mod:`app.evaluation.panel`)."""
    from . import panel

    if ev.status == E.SIGN_IN and not panel.composition_problems(ev):
        _choose_leader(ev, actor=actor)
        transition(ev, E.SCORING, actor=actor, reason="panel complete")


def is_leader(ev: Evaluation, member: PanelMember | None) -> bool:
    return member is not None and ev.leader_member_id == member.id


# -- scoring ---------------------------------------------------------------------------------------------


def _points(raw: Any, weight: Decimal, field: str) -> Decimal:
    try:
        value = Decimal(str(raw).strip())
    except (InvalidOperation, ValueError):
        raise DomainError(_("Enter a number."), errors={field: [_("Enter a number.")]}) from None
    if value < 0 or value > weight or not value.is_finite():
        raise DomainError(
            _("Points must lie between 0 and %(w)s.", w=str(weight)),
            errors={field: [_("Points must lie between 0 and %(w)s.", w=str(weight))]},
        )
    return scoring.q(value)


def save_scores(
    member: PanelMember,
    *,
    actor: User,
    qualification: dict[int, tuple[bool, str]],
    points: dict[int, dict[str, Any]] | None = None,
) -> None:
    """Save (or overwrite) the member's draft; refused once submitted or outside scoring."""
    ev = member.evaluation
    _ensure_active(ev)
    if ev.status != E.SCORING or not member.counts:
        raise Conflict(_("Scoring is not open for you."))
    if member.submitted_at is not None:
        raise Conflict(_("Your scores are locked."), code="locked")
    section = section_of(ev)
    bidders = {b.org_id for b in bids_of(section)}
    criteria = {str(c["name"]): Decimal(str(c["weight"])) for c in scoring.subjective_criteria(ev.criteria)}
    existing = {(s.org_id, s.criterion): s for s in member.scores}
    for org_id, (passed, reason) in qualification.items():
        if org_id not in bidders:
            raise NotFound(_("Not found."))
        reason = (reason or "").strip()
        if not passed and not reason:
            raise DomainError(
                _("Give a reason for every failed bidder."), errors={f"reason_{org_id}": [_("Required.")]}
            )
        row = existing.get((org_id, scoring.QUALIFICATION))
        if row is None:
            row = Score(member_id=member.id, org_id=org_id, criterion=scoring.QUALIFICATION, round=ev.round)
            member.all_scores.append(row)
        row.qualified, row.reason = passed, (reason or None)
    if ev.method == "comprehensive":
        for org_id, by_name in (points or {}).items():
            if org_id not in bidders:
                raise NotFound(_("Not found."))
            for name, raw in by_name.items():
                if name not in criteria:
                    raise DomainError(_("Unknown criterion."))
                if raw is None or str(raw).strip() == "":
                    continue
                value = _points(raw, criteria[name], f"points_{org_id}_{name}")
                row = existing.get((org_id, name))
                if row is None:
                    row = Score(member_id=member.id, org_id=org_id, criterion=name, round=ev.round)
                    member.all_scores.append(row)
                    existing[(org_id, name)] = row
                row.points = value
    db.session.flush()


def sheet_of(member: PanelMember) -> scoring.Sheet:
    sheet = scoring.Sheet(member.id)
    for s in member.scores:
        if s.criterion == scoring.QUALIFICATION:
            sheet.qualification[s.org_id] = (bool(s.qualified), s.reason or "")
        elif s.points is not None:
            sheet.points.setdefault(s.org_id, {})[s.criterion] = Decimal(s.points)
    return sheet


def _sheet_digest(member: PanelMember) -> str:
    rows = sorted(
        (s.org_id, s.criterion, None if s.points is None else str(s.points), s.qualified, s.reason or "")
        for s in member.scores
    )
    return hashlib.sha256(json.dumps(rows, ensure_ascii=False).encode()).hexdigest()


def submit(member: PanelMember, *, actor: User) -> None:
    """Lock the member's scores: every bidder judged, every criterion scored."""
    ev = member.evaluation
    _ensure_active(ev)
    if ev.status != E.SCORING or not member.counts:
        raise Conflict(_("Scoring is not open for you."))
    if member.submitted_at is not None:
        raise Conflict(_("Your scores are locked."), code="locked")
    sheet = sheet_of(member)
    bidders = [b.org_id for b in bids_of(section_of(ev))]
    missing = [o for o in bidders if o not in sheet.qualification]
    if ev.method == "comprehensive":
        names = [str(c["name"]) for c in scoring.subjective_criteria(ev.criteria)]
        missing += [o for o in bidders if any(n not in sheet.points.get(o, {}) for n in names)]
    if missing:
        raise DomainError(_("Judge every bidder on every criterion before submitting."))
    member.submitted_at = now()
    _audit(
        "evaluation:scores:submit", actor, ev, {"member_id": member.id, "sheet_sha256": _sheet_digest(member)}
    )


def counted_sheets(ev: Evaluation) -> list[scoring.Sheet]:
    return [sheet_of(m) for m in ev.counted]


def all_submitted(ev: Evaluation) -> bool:
    """Every seat of the lawful composition is seated and has submitted."""
    from . import panel

    counted = ev.counted
    return not panel.composition_problems(ev) and all(m.submitted_at is not None for m in counted)


def outliers(ev: Evaluation) -> list[tuple[PanelMember, int, Decimal, Decimal, str | None]]:
    """Flagged totals (member, bidder, total, panel mean, explanation) once every counted member submitted."""
    if ev.method != "comprehensive" or not all_submitted(ev):
        return []
    section = section_of(ev)
    members = {m.id: m for m in ev.counted}
    out = []
    for member_id, org_id, total, mean in scoring.outliers(
        bids_of(section), counted_sheets(ev), settings_of(ev)
    ):
        m = members[member_id]
        row = next((s for s in m.scores if s.org_id == org_id and s.criterion == scoring.QUALIFICATION), None)
        out.append((m, org_id, total, mean, row.explanation if row is not None else None))
    return out


def explain(member: PanelMember, org_id: int, text: str, *, actor: User) -> None:
    """The member explains a flagged total in writing (scores stay locked)."""
    text = (text or "").strip()
    if not text:
        raise DomainError(_("Write the explanation."), errors={"explanation": [_("Required.")]})
    ev = member.evaluation
    _ensure_active(ev)
    flagged = [o for m, o, *_rest in outliers(ev) if m.id == member.id]
    if org_id not in flagged:
        raise Conflict(_("This score is not flagged."))
    row = next(s for s in member.scores if s.org_id == org_id and s.criterion == scoring.QUALIFICATION)
    row.explanation = text
    _audit(
        "evaluation:outlier:explain",
        actor,
        ev,
        {"member_id": member.id, "org_id": org_id, "explanation": text},
    )


def request_extension(member: PanelMember, *, actor: User) -> bool:
    """Ask for more time; granted when more than 1/3 of the counted panel asked (条例 Art. 48). Returns
    whether this request extended the deadline."""
    ev = member.evaluation
    _ensure_active(ev)
    if ev.status != E.SCORING or not member.counts:
        raise Conflict(_("Scoring is not open for you."))
    member.wants_extension = True
    counted = ev.counted
    asking = sum(1 for m in counted if m.wants_extension)
    _audit("evaluation:extension:request", actor, ev, {"member_id": member.id, "asking": asking})
    if asking * 3 <= len(counted):
        return False
    hours = int(setting("EVALUATION_EXTENSION_HOURS"))
    ev.ends_at = max(ev.ends_at, now()) + dt.timedelta(hours=hours)
    ev.extensions += 1
    for m in counted:
        m.wants_extension = False
    _audit(
        "evaluation:extension:grant",
        actor,
        ev,
        {"ends_at": ev.ends_at, "asking": asking, "panel": len(counted)},
    )
    return True


def results(ev: Evaluation) -> list[scoring.Result]:
    return scoring.rank(ev.method, bids_of(section_of(ev)), counted_sheets(ev), ev.criteria, settings_of(ev))


# -- the report ------------------------------------------------------------------------------------------


def report_statement(ev: Evaluation, member: PanelMember) -> bytes:
    """What the platform signs for a member who signs the report (a representative's names its seat)."""
    statement: dict[str, Any] = {
        "type": "ggzy-evaluation-report-signature-v1",
        "evaluation_id": ev.id,
        "section_id": ev.section_id,
        "member_id": member.id,
        "expert_id": member.expert_id,
        "report_sha256": ev.report_sha256,
    }
    if member.is_representative:
        statement["representative_id"] = member.representative_id
    return json.dumps(statement, sort_keys=True, separators=(",", ":")).encode()


def _member_names(ev: Evaluation) -> dict[int, str]:
    from .panel import member_names

    return member_names(ev)


def render_report(ev: Evaluation, ranked: list[scoring.Result]) -> str:
    section = section_of(ev)
    names = _member_names(ev)
    return render_template(
        "evaluation/report_print.html",
        ev=ev,
        section=section,
        ranked=ranked,
        members=[(m, names.get(m.id, "")) for m in ev.counted],
        voided=[
            (m, names.get(m.id, "")) for m in ev.members if not m.counts and (m.declaration or m.voided_at)
        ],
        outliers=outliers(ev),
        subjective=scoring.subjective_criteria(ev.criteria),
        settings=settings_of(ev),
        drawn_at=now(),
    )


def draw_up_report(ev: Evaluation, *, actor: User) -> Evaluation:
    """The leader draws up the report once every counted member submitted and every outlier is explained."""
    _ensure_active(ev)
    if ev.status != E.SCORING:
        raise Conflict(_("The report cannot be drawn up now."))
    if not is_leader(ev, member_of(ev, actor)):
        raise NotFound(_("Not found."))
    if not all_submitted(ev):
        raise Conflict(_("Every member must submit first."), code="not_submitted")
    if any(expl is None for *_r, expl in outliers(ev)):
        raise Conflict(_("Flagged scores must be explained first."), code="unexplained_outlier")
    lapsed = validity_refusal(section_of(ev))
    if lapsed:
        raise Conflict(lapsed, code="bid_validity_lapsed")
    ranked = results(ev)
    # candidates of a report drawn up again in the same round (the panel changed) were never published
    for c in ev.round_candidates:
        ev.all_candidates.remove(c)
        db.session.delete(c)
    db.session.flush()  # old candidates go before the unique (evaluation, round, rank) rows come back
    for r in ranked:
        if r.rank is not None and r.rank <= MAX_CANDIDATES:
            ev.all_candidates.append(
                Candidate(
                    rank=r.rank,
                    org_id=r.bid.org_id,
                    bidder_name=r.bid.name,
                    price=r.bid.price,
                    score=r.total,
                    round=ev.round,
                )
            )
    html = render_report(ev, ranked)
    blob = storage.write_bytes(html.encode(), folder=f"evaluation/{ev.id}", suffix=".html")
    ev.report_sha256, ev.report_path, ev.report_drawn_at = blob.sha256, blob.path, now()
    _add_file(ev, FileKind.REPORT, "evaluation-report.html", blob)
    for m in ev.members:
        m.decision = m.signature = m.dissent = None
        m.decided_at = None
    transition(ev, E.REPORTING, actor=actor)
    _audit(
        "evaluation:report:draw_up",
        actor,
        ev,
        {
            "report_sha256": blob.sha256,
            "candidates": [[c.rank, c.org_id, str(c.price)] for c in ev.candidates],
        },
    )
    return ev


def _discard_report(ev: Evaluation, *, actor: User | None) -> None:
    transition(ev, E.SCORING, actor=actor, reason="panel changed")
    ev.report_sha256 = ev.report_path = None
    ev.report_drawn_at = None


def _add_file(
    ev: Evaluation, kind: FileKind, filename: str, blob: storage.StoredBlob, org_id: int | None = None
) -> None:
    ev.files.append(
        EvaluationFile(
            kind=kind.value,
            filename=filename,
            blob_path=blob.path,
            sha256=blob.sha256,
            size=blob.size,
            org_id=org_id,
        )
    )


def decide(member: PanelMember, *, actor: User, sign: bool, dissent: str = "") -> None:
    """Sign the report (platform signature over its hash) or record a written dissent."""
    ev = member.evaluation
    _ensure_active(ev)
    if ev.status != E.REPORTING or not member.counts:
        raise Conflict(_("The report is not open for signature."))
    if member.decision is not None:
        raise Conflict(_("You have already decided."))
    dissent = (dissent or "").strip()
    if sign:
        signature = signing_key().sign(report_statement(ev, member))
        member.decision, member.signature = ReportDecision.SIGNED.value, base64.b64encode(signature).decode()
    else:
        if not dissent:
            raise DomainError(_("Write the dissent."), errors={"dissent": [_("Required.")]})
        member.decision, member.dissent = ReportDecision.DISSENT.value, dissent
    member.decided_at = now()
    _audit(
        "evaluation:report:" + ("sign" if sign else "dissent"),
        actor,
        ev,
        {"member_id": member.id, "report_sha256": ev.report_sha256, "dissent": dissent or None},
    )


def close_report(ev: Evaluation, *, actor: User) -> None:
    """The leader closes the report: a member who neither signed nor dissented is deemed to agree."""
    _ensure_active(ev)
    if ev.status != E.REPORTING:
        raise Conflict(_("The report is not open for signature."))
    if not is_leader(ev, member_of(ev, actor)):
        raise NotFound(_("Not found."))
    deemed = []
    for m in ev.counted:
        if m.decision is None:
            m.decision, m.decided_at = ReportDecision.DEEMED.value, now()
            deemed.append(m.id)
    ev.reported_at = now()
    transition(ev, E.REPORTED, actor=actor)
    _audit("evaluation:report:close", actor, ev, {"report_sha256": ev.report_sha256, "deemed": deemed})
    from .endings import fail_if_all_rejected

    fail_if_all_rejected(ev, actor=actor)  # no candidate: every bid rejected (招标投标法 Art. 42)
    audit.checkpoint(reason="evaluation report")


def signatures_document(ev: Evaluation) -> dict[str, Any]:
    from app.core.crypto import public_key_raw_b64

    return {
        "type": "ggzy-evaluation-report-signatures-v1",
        "report_sha256": ev.report_sha256,
        "platform_public_key": public_key_raw_b64(),
        "members": [
            {
                "member_id": m.id,
                "expert_id": m.expert_id,
                "decision": m.decision,
                "signature": m.signature,
                "statement": report_statement(ev, m).decode()
                if m.decision == ReportDecision.SIGNED
                else None,
                "dissent": m.dissent,
            }
            for m in ev.counted
        ],
    }


# -- candidate publicity ---------------------------------------------------------------------------------


def _owns(actor: User, section: Section) -> bool:
    project = section.project
    return actor.org_id in {project.owner_org_id, project.agency_org_id}


def publish_deadline(ev: Evaluation) -> dt.datetime | None:
    if ev.reported_at is None:
        return None
    days = int(setting("EVALUATION_PUBLISH_WITHIN_DAYS"))
    return calendar.period_end(ev.reported_at, days, unit="calendar", calendar=calendar.load_calendar())


def publish_candidates(ev: Evaluation, *, actor: User, details: dict[int, Any] | None = None) -> Evaluation:
    """The tenderer publishes the candidates (中标候选人公示) for ≥ 3 days (条例 Art. 54), with what
    发改委令第10号 Art. 6 lists (``details``: rank → :class:`app.evaluation.endings.CandidateDetails`)."""
    from app.projects import services as projects

    from .endings import apply_candidate_details, candidates_for_publicity, rejected_bids

    section = section_of(ev)
    if not _owns(actor, section):
        raise NotFound(_("Not found."))
    if ev.notice_kind == NoticeKind.RESULT_ANNOUNCEMENT:
        raise Conflict(
            _(
                "Government procurement has no candidate publicity: the purchaser confirms the supplier and "
                "publishes the result announcement (中标/成交结果公告, 政府采购法实施条例第43条, "
                "财政部令第87号第69条)."
            ),
            code="procurement_result_announcement",
        )
    if ev.status != E.REPORTED:
        raise Conflict(_("There is no closed report to publish."))
    apply_candidate_details(ev, details)
    at = now()
    deadline = publish_deadline(ev)
    ev.publicity_late = bool(deadline is not None and at >= deadline)
    ev.publicity_starts_at = at
    days = int(setting("EVALUATION_PUBLICITY_DAYS"))
    ev.publicity_ends_at = calendar.period_end(at, days, unit="calendar", calendar=calendar.load_calendar())
    projects.transition(section, SectionStatus.PUBLICITY, actor=actor, reason="candidate publicity")
    transition(ev, E.PUBLICITY, actor=actor)
    html = render_template(
        "evaluation/notice_publicity.html",
        ev=ev,
        section=section,
        candidates=candidates_for_publicity(ev),
        rejected=rejected_bids(ev),
    )
    _add_file(
        ev,
        FileKind.PUBLICITY,
        "candidate-publicity.html",
        storage.write_bytes(html.encode(), folder=f"evaluation/{ev.id}", suffix=".html"),
    )
    _audit(
        "evaluation:publicity:publish",
        actor,
        ev,
        {"starts_at": at, "ends_at": ev.publicity_ends_at, "late": ev.publicity_late},
    )
    return ev


def publicity_window(section: Any) -> tuple[dt.datetime, dt.datetime] | None:
    """The candidate publicity window ``[start, end)`` of a section, or None before it is published.
    Installed into the complaints domain (objections to results are accepted only inside it)."""
    ev = evaluation_for(section)
    if ev is None or ev.publicity_starts_at is None or ev.publicity_ends_at is None:
        return None
    return ev.publicity_starts_at, ev.publicity_ends_at


def is_in_publicity(section: Any, at: dt.datetime) -> bool:
    window = publicity_window(section)
    return window is not None and window[0] <= at < window[1]


# -- award -----------------------------------------------------------------------------------------------


def pending_cases_blocker(section: Section) -> str | None:
    """Pending objections or complaints of the complaints domain (read from its tables, when present)."""
    try:
        from app.complaints.models import Case
    except ImportError:  # pragma: no cover - the complaints domain is optional
        return None
    pending = db.session.scalar(
        select(Case.id)
        .where(
            Case.section_id == section.id,
            Case.kind.in_(["objection", "complaint"]),
            Case.status.in_(["submitted", "transferred", "accepted", "investigating"]),
        )
        .limit(1)
    )
    return _("An objection or complaint on this section is pending.") if pending is not None else None


def award_blockers(section: Section) -> list[str]:
    out = []
    if section.suspended:
        out.append(_("The section is suspended."))
    for check in AWARD_BLOCKERS:
        reason = check(section)
        if reason:
            out.append(reason)
    return out


def is_state_funded(section: Section) -> bool:
    source = (section.project.funding_source or "").lower()
    return any(marker in source for marker in STATE_FUNDED_MARKERS)


def voided_award_reason(ev: Evaluation) -> str:
    """The recorded legal reason for passing over candidates whose award was voided (中标无效)."""
    return "; ".join(
        _("The award to %(name)s was voided (%(reason)s).", name=v.candidate.bidder_name, reason=v.reason)
        for v in ev.voided_awards
        if v.round == ev.round
    )


def award(ev: Evaluation, *, actor: User, rank: int = 1, reason: str = "") -> Evaluation:
    """The tenderer fixes the winner (定标) after the publicity, with nothing pending (条例 Arts. 54–55).

    After a voided award (中标无效) the tenderer chooses again among the remaining candidates of the same
    publicity; the struck candidate is no longer one. Passing over a better-ranked candidate on a
    state-funded project needs a legal reason; where every better-ranked candidate was struck, the voided
    award is that reason and is recorded unless the tenderer gives one. Bid security refund rows are
    owed once per bidder, whatever the number of awards."""
    section = section_of(ev)
    if not _owns(actor, section):
        raise NotFound(_("Not found."))
    if ev.status != E.PUBLICITY or ev.publicity_ends_at is None or section.status != SectionStatus.PUBLICITY:
        raise Conflict(_("The candidates have not been published."))
    if now() < ev.publicity_ends_at:
        raise Conflict(_("The candidate publicity has not ended."), code="in_publicity")
    blockers = award_blockers(section)
    if blockers:
        raise Conflict(" ".join(blockers), code="pending")
    candidate, reason = choose_candidate(ev, section, rank, reason)
    return issue_award(ev, section, candidate, rank, reason, actor=actor)


def choose_candidate(ev: Evaluation, section: Section, rank: int, reason: str) -> tuple[Candidate, str]:
    """The candidate of ``rank`` and the recorded reason for passing over better-ranked ones."""
    candidate = next((c for c in ev.candidates if c.rank == rank), None)
    if candidate is None:
        raise DomainError(_("Choose one of the candidates."), errors={"rank": [_("Not a candidate.")]})
    from app.bidding.validity import services as validity

    lapsed = validity.bid_refusal(section, candidate.org_id)
    if lapsed:
        raise Conflict(lapsed, code="bid_validity_lapsed")
    reason = (reason or "").strip()
    passed_over = [c for c in ev.candidates if c.rank < rank]
    if passed_over and is_state_funded(section) and not reason:
        raise DomainError(
            _("State-funded projects award the first-ranked candidate unless a legal reason is recorded."),
            errors={"reason": [_("Required.")]},
        )
    if rank != 1 and not passed_over and not reason:
        reason = voided_award_reason(ev)
    return candidate, reason


def issue_award(
    ev: Evaluation, section: Section, candidate: Candidate, rank: int, reason: str, *, actor: User
) -> Evaluation:
    """The award itself, once its rules were checked: both state machines, the notice, the letters to
    every bidder and the bid security refunds owed (for procurement the notice is the result
    announcement, :mod:`app.evaluation.procurement`)."""
    from app.projects import services as projects

    at = now()
    cal = calendar.load_calendar()
    due = calendar.period_end(at, int(setting("EVALUATION_CONTRACT_DAYS")), unit="calendar", calendar=cal)
    projects.transition(
        section, SectionStatus.AWARDED, actor=actor, reason=f"awarded to {candidate.bidder_name}"
    )
    transition(
        ev,
        E.AWARDED,
        actor=actor,
        changes={
            "winner_org_id": candidate.org_id,
            "winner_rank": rank,
            "award_reason": reason or None,
            "awarded_at": at,
            "awarded_by": actor.id,
            "contract_due_at": due,
        },
    )
    from .endings import open_written_report

    open_written_report(ev, actor=actor)  # due 15 days after the winner is fixed (招标投标法 Art. 47)
    folder = f"evaluation/{ev.id}"
    owed = {r.org_id for r in ev.refunds}
    html = render_template(
        "evaluation/notice_award.html",
        ev=ev,
        section=section,
        winner=candidate,
        result_announcement=ev.notice_kind == NoticeKind.RESULT_ANNOUNCEMENT,
    )
    _add_file(
        ev,
        FileKind.AWARD_NOTICE,
        "award-notice.html",
        storage.write_bytes(html.encode(), folder=folder, suffix=".html"),
    )
    for entry in all_entries(section):
        won = entry.org_id == candidate.org_id
        kind = FileKind.AWARD_LETTER if won else FileKind.RESULT_LETTER
        letter = render_template(
            "evaluation/letter.html", ev=ev, section=section, winner=candidate, entry=entry, won=won
        )
        blob = storage.write_bytes(letter.encode(), folder=folder, suffix=".html")
        _add_file(ev, kind, f"{kind.value}-{entry.org_id}.html", blob, org_id=entry.org_id)
        _notify_org(
            entry.org_id,
            _("Award letter") if won else _("Result letter"),
            letter_text(section, candidate, won),
        )
        if entry.org_id not in owed:  # owed once, also after a voided award
            owed.add(entry.org_id)
            ev.refunds.append(
                SecurityRefund(
                    org_id=entry.org_id,
                    bidder_name=entry.bidder_name,
                    amount=section.bid_security or Decimal("0"),
                )
            )
    _audit(
        "evaluation:award:issue",
        actor,
        ev,
        {
            "winner_org_id": candidate.org_id,
            "rank": rank,
            "reason": reason or None,
            "contract_due_at": ev.contract_due_at,
        },
    )
    audit.checkpoint(reason="award")
    return ev


def letter_text(section: Section, winner: Candidate, won: bool) -> str:
    if won:
        return _(
            "Your bid for %(section)s has been awarded. Sign the contract within 30 days.",
            section=section.name,
        )
    return _("The award of %(section)s went to %(winner)s.", section=section.name, winner=winner.bidder_name)


def _notify_org(org_id: int, subject: str, body: str) -> None:
    users = db.session.scalars(select(User).where(User.org_id == org_id, User.is_active.is_(True))).all()
    for user in users:
        outbox.enqueue(channel="inbox", recipient=str(user.id), subject=subject, body=body, user_id=user.id)
        if user.email:
            outbox.enqueue(channel="email", recipient=user.email, subject=subject, body=body, user_id=user.id)


def record_contract(ev: Evaluation, *, actor: User, signed_at: dt.datetime | None = None) -> None:
    section = section_of(ev)
    if not _owns(actor, section):
        raise NotFound(_("Not found."))
    if ev.status != E.AWARDED or ev.awarded_at is None:
        raise Conflict(_("Record the contract after the award."))
    if ev.contract_signed_at is not None:
        raise Conflict(_("The contract signing is already recorded."))
    from . import procurement

    blockers = procurement.contract_blockers(section)
    if blockers:
        raise Conflict(" ".join(blockers), code="pending_challenge")
    at = signed_at or now()
    if at < ev.awarded_at or at > now():
        raise DomainError(_("The signing date must lie between the award and now."))
    ev.contract_signed_at = at
    due = calendar.period_end(
        at, int(setting("EVALUATION_REFUND_DAYS")), unit="calendar", calendar=calendar.load_calendar()
    )
    for r in ev.refunds:
        if r.refunded_at is None:
            r.due_at = due
    _audit(
        "evaluation:contract:signed",
        actor,
        ev,
        {"signed_at": at, "late": at > (ev.contract_due_at or at), "refunds_due_at": due},
    )
    from app.bidding.security import services as security

    # 实施条例 Art. 57: the securities go back within 5 日 of the signing — started and paid now.
    security.refund_after_contract(section, actor=actor)


def record_refund(refund: SecurityRefund, *, actor: User) -> None:
    ev = refund.evaluation
    if not _owns(actor, section_of(ev)):
        raise NotFound(_("Not found."))
    if ev.contract_signed_at is None:
        raise Conflict(_("Refunds are recorded after the contract is signed."))
    if refund.refunded_at is not None:
        raise Conflict(_("This refund is already recorded."))
    refund.refunded_at, refund.recorded_by = now(), actor.id
    _audit(
        "evaluation:refund:record",
        actor,
        ev,
        {
            "org_id": refund.org_id,
            "amount": str(refund.amount),
            "late": bool(refund.due_at and refund.refunded_at > refund.due_at),
        },
    )


def panel_public(ev: Evaluation) -> list[str]:
    """The panel's names, once the award is decided (法 Art. 37: secret until then)."""
    if ev.status not in (E.AWARDED, E.ARCHIVED):
        return []
    names = _member_names(ev)
    return [names.get(m.id, "") for m in ev.counted]


# -- public information ----------------------------------------------------------------------------------


def ocds_awards(section: Section) -> list[dict[str, Any]]:
    """OCDS ``awards`` for the section's release: the candidates as a pending award during publicity, the
    active award after it (with a contracts placeholder left to the portal). A publicity voided by a
    re-evaluation and an award voided (中标无效) stay in the list as ``cancelled``, under the ids they were
    published with; a pending publicity of a section that failed or was cancelled is ``cancelled`` too."""
    ev = evaluation_for(section)
    if ev is None:
        return []
    from app.core.audit import canonical_json

    def party(c: Candidate) -> dict[str, Any]:
        return {"id": f"ggzy-org-{c.org_id}", "name": c.bidder_name}

    def date(value: dt.datetime | None) -> str | None:
        return canonical_json(value).strip('"') if value is not None else None

    def value(c: Candidate | None) -> dict[str, Any] | None:
        return {"amount": float(c.price), "currency": "CNY"} if c is not None else None

    def publicity(
        round_no: int, cands: list[Candidate], start: dt.datetime, end: dt.datetime | None, status: str
    ) -> dict[str, Any]:
        return {
            "id": f"{section.id}-candidates" + ("" if round_no == 1 else f"-{round_no}"),
            "title": "中标候选人公示",
            "status": status,
            "date": date(start),
            "suppliers": [party(c) for c in cands],
            "value": value(cands[0] if cands else None),
            "period": {"startDate": date(start), "endDate": date(end)},
        }

    def award_id(n: int) -> str:
        return f"{section.id}-award" + ("" if n == 0 else f"-{n + 1}")

    out: list[dict[str, Any]] = []
    for restart in ev.restarts:
        if restart.publicity_starts_at is not None:
            cands = [c for c in ev.all_candidates if c.round == restart.round]
            out.append(
                publicity(
                    restart.round, cands, restart.publicity_starts_at, restart.publicity_ends_at, "cancelled"
                )
            )
    for n, voided in enumerate(ev.voided_awards):
        out.append(
            {
                "id": award_id(n),
                "title": "中标结果公告",
                "status": "cancelled",
                "description": f"中标无效: {voided.reason}",
                "date": date(voided.awarded_at),
                "suppliers": [party(voided.candidate)],
                "value": value(voided.candidate),
            }
        )
    if ev.publicity_starts_at is None or (ev.voided_awards and not ev.candidates and ev.awarded_at is None):
        return out  # under re-evaluation, or every candidate struck (the trade ended)
    if ev.awarded_at is None:
        ended = section.status in (SectionStatus.FAILED, SectionStatus.CANCELLED)
        out.append(
            publicity(
                ev.round,
                ev.candidates,
                ev.publicity_starts_at,
                ev.publicity_ends_at,
                "cancelled" if ended else "pending",
            )
        )
        return out
    winner = next(c for c in ev.candidates if c.org_id == ev.winner_org_id)
    out.append(
        {
            "id": award_id(len(ev.voided_awards)),
            "title": "中标结果公告",
            "status": "active",
            "date": date(ev.awarded_at),
            "suppliers": [party(winner)],
            "value": value(winner),
            "contractPeriod": {"endDate": date(ev.contract_due_at)},
        }
    )
    return out


def is_public(ev: Evaluation) -> bool:
    """Whether the evaluation has anything public: a publicity, one voided by a re-evaluation, or the
    failure notice of an evaluation that rejected every bid."""
    return (
        ev.publicity_starts_at is not None
        or ev.failed_at is not None
        or any(r.publicity_starts_at for r in ev.restarts)
    )


def public_sections() -> list[tuple[Section, Evaluation]]:
    rows = db.session.execute(
        select(Section, Evaluation)
        .join(Evaluation, Evaluation.section_id == Section.id)
        .where(
            Evaluation.publicity_starts_at.is_not(None)
            | Evaluation.failed_at.is_not(None)
            | (Evaluation.round > 1)
        )
        .order_by(
            func.coalesce(Evaluation.publicity_starts_at, Evaluation.failed_at, Evaluation.started_at).desc()
        )
    ).all()
    return [(s, e) for s, e in rows if is_public(e)]


def org_name(org_id: int | None) -> str:
    if org_id is None:
        return ""
    org = db.session.get(Organization, org_id)
    return org.name if org is not None else ""
