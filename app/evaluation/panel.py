"""The panel that scores (评标委员会, 法 Art. 37; 采购条例/87号令 Art. 47 for procurement): who sits, and when
it may start.

* A panel has an odd number of members, at least 5, and the experts drawn from the pool are at least two
  thirds of it; the other seats belong to the tenderer's representatives (招标人代表). The draw fixes the
  composition (``panel_size`` members, ``pool_seats`` of them experts); the rest are representatives.
* Representatives are real seats: the tenderer names users of its **own** organization (not of the agency:
  the agency acts for the tenderer but is not 招标人), each signs in with its account, declares conflicts
  against the bidder list and scores like an expert. A representative is never the panel leader.
* Scoring starts only when the **seated** panel — members signed in with no conflict, not replaced — is the
  composition: every pool seat and every representative seat filled, the total odd and ≥ 5, experts ≥ 2/3.
  Until then the evaluation waits in ``sign_in``, and the report can be drawn up only with the whole panel
  seated and submitted (a member replaced during scoring leaves the panel incomplete until the replacement
  has scored; 条例 Art. 48).
* An absent member (not signed in ``EVALUATION_SIGN_IN_GRACE_MINUTES`` after the evaluation started) is
  replaced by center staff: an expert's seat is refilled by the draw (the next backup, or a supplementary
  round with fresh randomness witnessed by a regulator); a representative's by the tenderer naming another.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from flask_babel import gettext as _
from sqlalchemy import select

from app.accounts.models import User
from app.core import audit
from app.core.clock import now
from app.core.db import db
from app.core.errors import Conflict, DomainError, NotFound
from app.core.permissions import Role
from app.projects.models import Section

from .enums import EvaluationStatus
from .models import Evaluation, PanelMember, PanelRepresentative

E = EvaluationStatus
MIN_PANEL = 5
#: Evaluation states in which the panel may still change (a member recused, replaced or named).
CHANGEABLE = frozenset({E.SIGN_IN, E.SCORING, E.REPORTING})


def _draw(section: Section) -> Any:
    from app.experts import draws

    return draws.active_draw_for(section.id)


def composition(section: Section) -> tuple[int, int]:
    """(panel size, pool seats) of the section's panel: the draw's once drawn, else the section's terms."""
    draw = _draw(section)
    if draw is not None:
        return int(draw.panel_size), int(draw.pool_seats)
    return int(section.panel_size or 0), int(section.panel_pool_count or section.panel_size or 0)


def representative_seats(section: Section) -> int:
    size, pool = composition(section)
    return max(0, size - pool)


def composition_problems(ev: Evaluation) -> list[str]:
    """Why the seated panel may not score yet (empty: it may). Each message names the rule."""
    from .services import section_of

    size, pool = composition(section_of(ev))
    counted = ev.counted
    experts = sum(1 for m in counted if not m.is_representative)
    reps = len(counted) - experts
    problems = []
    if experts < pool:
        problems.append(
            _("%(n)d of the %(total)d pool experts are seated.", n=experts, total=pool),
        )
    if reps < size - pool:
        problems.append(
            _(
                "%(n)d of the %(total)d tenderer representatives are seated.",
                n=reps,
                total=size - pool,
            )
        )
    seated = experts + reps
    if seated == size and (seated < MIN_PANEL or seated % 2 == 0):
        problems.append(
            _(
                "A panel has an odd number of members, at least 5 (招标投标法第37条); %(n)d are seated.",
                n=seated,
            )
        )
    if seated == size and experts * 3 < seated * 2:
        problems.append(
            _("Experts from the pool must be at least two thirds of the panel (招标投标法第37条).")
        )
    if seated > size or experts > pool or reps > size - pool:
        problems.append(_("More members are seated than the panel has seats."))
    return problems


def refusal(ev: Evaluation) -> Conflict:
    problems = composition_problems(ev)
    return Conflict(
        _(
            "Scoring starts only when the seated panel is lawful — an odd number, at least 5, experts from "
            "the pool at least two thirds (招标投标法第37条): %(why)s",
            why=" ".join(problems),
        ),
        code="panel_incomplete",
    )


# -- tenderer representatives ---------------------------------------------------------------------------


def active_representatives(section: Section) -> list[PanelRepresentative]:
    return list(
        db.session.scalars(
            select(PanelRepresentative)
            .where(PanelRepresentative.section_id == section.id, PanelRepresentative.withdrawn_at.is_(None))
            .order_by(PanelRepresentative.id)
        )
    )


def representative_of(section: Section, user: User) -> PanelRepresentative | None:
    return db.session.scalar(
        select(PanelRepresentative).where(
            PanelRepresentative.section_id == section.id,
            PanelRepresentative.user_id == user.id,
            PanelRepresentative.withdrawn_at.is_(None),
        )
    )


def _ensure_tenderer(actor: User, section: Section) -> None:
    project = section.project
    if actor.role != Role.TENDERER or actor.org_id not in {project.owner_org_id, project.agency_org_id}:
        raise NotFound(_("Not found."))


def candidates_for_representative(section: Section) -> list[User]:
    """Accounts that may be named: active tenderer accounts of the project's owner organization."""
    return list(
        db.session.scalars(
            select(User)
            .where(
                User.org_id == section.project.owner_org_id,
                User.role == Role.TENDERER.value,
                User.is_active.is_(True),
            )
            .order_by(User.display_name, User.id)
        )
    )


def name_representative(section: Section, user: User, *, actor: User) -> PanelRepresentative:
    """The tenderer names one of its own accounts to a representative seat of the section's panel."""
    from .services import evaluation_for

    _ensure_tenderer(actor, section)
    ev = evaluation_for(section)
    if ev is not None and E(ev.status) not in CHANGEABLE:
        raise Conflict(_("The panel can no longer change."))
    if str(section.status) not in {"published", "bidding_closed", "opening", "opened", "evaluating"}:
        raise Conflict(_("This section is not in a state where its panel is formed."))
    # two namings at once must not fill more seats than there are: one at a time per section
    db.session.execute(select(Section.id).where(Section.id == section.id).with_for_update())
    seats = representative_seats(section)
    if seats == 0:
        raise DomainError(
            _("This panel is all experts from the pool: it has no tenderer representative seat."),
            errors={"user_id": [_("No representative seat.")]},
        )
    if user.role != Role.TENDERER or user.org_id != section.project.owner_org_id or not user.is_active:
        raise DomainError(
            _(
                "A tenderer representative is an account of the tenderer itself "
                "(招标人代表, 招标投标法第37条), "
                "not of the agency or anyone else."
            ),
            errors={"user_id": [_("Choose an account of the tenderer.")]},
        )
    if representative_of(section, user) is not None:
        raise Conflict(_("This person is already named."))
    if ev is not None and any(m.user_id == user.id for m in ev.members):
        raise Conflict(_("This person has already sat on this panel; name someone else."))
    if len(active_representatives(section)) >= seats:
        raise Conflict(
            _("All %(n)d representative seats are taken; withdraw a representative first.", n=seats),
            code="seats_taken",
        )
    rep = PanelRepresentative(section_id=section.id, user_id=user.id, named_by=actor.id, named_at=now())
    db.session.add(rep)
    db.session.flush()  # the id goes into the audit leaf and the member row
    audit.record(
        "evaluation:representative:name",
        actor=actor,
        object_type="section",
        object_id=section.id,
        payload={"representative_id": rep.id, "user_id": user.id},
    )
    if ev is not None:
        from .services import sync_members

        sync_members(ev)
    return rep


def withdraw_representative(rep: PanelRepresentative, *, actor: User, reason: str) -> None:
    """Withdraw a named representative who has not signed in (a signed-in member is replaced instead)."""
    from .services import evaluation_for

    section = db.session.get(Section, rep.section_id)
    assert section is not None
    _ensure_tenderer(actor, section)
    reason = (reason or "").strip()
    if not reason:
        raise DomainError(_("Give a reason."), errors={"reason": [_("Required.")]})
    if rep.withdrawn_at is not None:
        raise Conflict(_("This representative is already withdrawn."))
    ev = evaluation_for(section)
    member = next((m for m in ev.members if m.representative_id == rep.id), None) if ev else None
    if member is not None and member.signed_in_at is not None:
        raise Conflict(_("This representative has signed in: a member is replaced, not withdrawn."))
    if member is not None:
        assert ev is not None
        ev.members.remove(member)
        db.session.delete(member)
    rep.withdrawn_at, rep.withdraw_reason = now(), reason[:2000]
    audit.record(
        "evaluation:representative:withdraw",
        actor=actor,
        object_type="section",
        object_id=section.id,
        payload={"representative_id": rep.id, "user_id": rep.user_id, "reason": reason},
    )


def release_representative(member: PanelMember, *, actor: User | None, reason: str) -> None:
    """A representative member was replaced (conflict or absence): its seat is free for the tenderer to
    name someone else, who is told so."""
    rep = db.session.get(PanelRepresentative, member.representative_id)
    if rep is None or rep.withdrawn_at is not None:
        return
    rep.withdrawn_at, rep.withdraw_reason = now(), reason[:2000] or "-"
    section = db.session.get(Section, rep.section_id)
    assert section is not None
    from .services import _notify_org

    _notify_org(
        section.project.owner_org_id,
        _("Name a new panel representative"),
        _(
            "Your representative on the panel of %(section)s was replaced (%(reason)s). Name another to "
            "the vacant seat: scoring waits until the panel is complete.",
            section=section.name,
            reason=reason,
        ),
    )


def sections_of_representative(user: User) -> list[tuple[Section, PanelRepresentative]]:
    rows = db.session.execute(
        select(Section, PanelRepresentative)
        .join(PanelRepresentative, PanelRepresentative.section_id == Section.id)
        .where(PanelRepresentative.user_id == user.id, PanelRepresentative.withdrawn_at.is_(None))
        .order_by(PanelRepresentative.named_at.desc())
    ).all()
    return [(s, r) for s, r in rows]


# -- absence ---------------------------------------------------------------------------------------------


def sign_in_deadline(ev: Evaluation) -> dt.datetime:
    from .services import setting

    return ev.started_at + dt.timedelta(minutes=int(setting("EVALUATION_SIGN_IN_GRACE_MINUTES")))


def absent_members(ev: Evaluation) -> list[PanelMember]:
    """Members not signed in (and not replaced) once the sign-in grace period is over."""
    if now() < sign_in_deadline(ev):
        return []
    return [m for m in ev.members if m.signed_in_at is None and m.voided_at is None]


def mark_absent(member: PanelMember, *, actor: User) -> None:
    """Center staff replace a member who did not come: void the member (its row stays) and refill the
    seat — an expert's by the draw (backups, then a new witnessed round), a representative's by the
    tenderer naming another (it is told so)."""
    from .services import recuse

    ev = member.evaluation
    if actor.role != Role.CENTER_STAFF:
        raise NotFound(_("Not found."))
    if member.signed_in_at is not None or member.voided_at is not None:
        raise Conflict(_("Only a member who has not signed in can be replaced for absence."))
    if now() < sign_in_deadline(ev):
        raise Conflict(
            _(
                "Members may sign in until %(at)s; replace an absent member after that.",
                at=_fmt(sign_in_deadline(ev)),
            ),
            code="too_early",
        )
    recuse(
        member,
        actor=actor,
        reason=_("Absent: not signed in by %(at)s.", at=_fmt(sign_in_deadline(ev))),
        absent=True,
    )


def _fmt(at: dt.datetime) -> str:
    from app.core.clock import to_local

    return to_local(at).strftime("%Y-%m-%d %H:%M")


def member_names(ev: Evaluation) -> dict[int, str]:
    """Member id → name: the expert's registered name, or the representative's account name (with the
    role, so a report reader knows which seats are the tenderer's)."""
    from app.experts.models import Expert

    expert_ids = [m.expert_id for m in ev.members if m.expert_id is not None]
    experts = (
        {e.id: e.name for e in db.session.scalars(select(Expert).where(Expert.id.in_(expert_ids)))}
        if expert_ids
        else {}
    )
    user_ids = [m.user_id for m in ev.members if m.is_representative and m.user_id is not None]
    users = (
        {u.id: u.display_name for u in db.session.scalars(select(User).where(User.id.in_(user_ids)))}
        if user_ids
        else {}
    )
    out = {}
    for m in ev.members:
        if m.is_representative:
            out[m.id] = _("%(name)s (tenderer representative)", name=users.get(m.user_id or 0, ""))
        else:
            out[m.id] = experts.get(m.expert_id or 0, "")
    return out
