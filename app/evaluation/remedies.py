"""What the remedy of an upheld complaint (SPEC §6; 条例 Art. 81; 94号令 Arts. 31–32) does to a section whose
evaluation has begun. The complaints domain calls :func:`apply_remedy` through the hook installed by
:func:`app.evaluation.init_app`; both state machines — the section's and the evaluation's — move together,
each through its own ``transition`` (so each change writes its audit leaf).

Decisions:

* Re-evaluation (重新评审): the current round is voided — its scores, report, candidates and publicity stay,
  marked void with the complaint as the reason (never deleted) — and the evaluation goes back to
  ``scoring`` in a new round. **The same panel re-scores**: the regulator's order is about the evaluation,
  not about the experts, and the draw stays the sealed, verified record of who evaluates; a member at
  fault is replaced through the ordinary recusal (:func:`app.evaluation.services.recuse`), which stays
  open during scoring. The members' decisions of the voided round are kept on the restart record. The
  award is impossible until a new report is closed and a new publicity has run its course.
* Void the award (中标无效) on an awarded section: the award is voided (the winner is struck and can never
  be chosen again; the award notice and letters stay, marked void), and the section and the evaluation go
  back to ``publicity`` — a publicity already served — from which the tenderer chooses again among the
  remaining candidates (94号令 Art. 32: re-select from the qualified candidates). With no candidate left
  the section ends ``failed`` (re-tender) with the complaint as the reason.
* Re-tender (重新招标) on an awarded section: the award is voided as above and the section ends ``failed``.
* A contract signing recorded on a voided award falls with it (a contract on a void award has no legal
  force); it stays on the voided award. The platform does not track performance: a performed contract is
  a matter for the courts, and a regulator orders 中标无效 only where it can still take effect.
* Before the evaluation has begun, and for remedies on an evaluation with nothing to undo, this module
  declines (returns None) and the complaints domain uses its own table of section moves.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from flask_babel import gettext as _

from app.accounts.models import User
from app.core import audit
from app.core.clock import now
from app.core.errors import Conflict
from app.core.outbox import enqueue
from app.projects.enums import SectionStatus
from app.projects.models import Section

from . import services
from .enums import EvaluationStatus, FileKind
from .models import Evaluation, EvaluationRestart, VoidedAward

E = EvaluationStatus
S = SectionStatus

RE_EVALUATION = "re_evaluation"
VOID_AWARD = "void_award"
RE_TENDER = "re_tender"

#: Evaluation states a re-evaluation restarts from (in ``sign_in`` nothing has been scored yet).
RESTARTABLE = frozenset({E.SCORING, E.REPORTING, E.REPORTED, E.PUBLICITY, E.AWARDED})
AWARD_FILES = frozenset({FileKind.AWARD_NOTICE, FileKind.AWARD_LETTER, FileKind.RESULT_LETTER})
ROUND_FILES = frozenset({FileKind.REPORT, FileKind.PUBLICITY})


def apply_remedy(section: Section, remedy: str, *, actor: User, case_number: str) -> str | None:
    """Act on the section's evaluation as ``remedy`` orders. Returns the section's status afterwards, or
    None when the remedy is not one for the evaluation in its present state (the caller then falls back to
    plain section moves). Raises :class:`Conflict` before changing anything when the section is suspended
    (by a regulator or another pending case)."""
    ev = services.evaluation_for(section)
    if ev is None:
        return None
    status = E(ev.status)
    awarded = status is E.AWARDED and section.status == S.AWARDED
    reason = f"{case_number}: {remedy}"
    if remedy == RE_EVALUATION and status in RESTARTABLE and section.status in (S.EVALUATING, S.PUBLICITY):
        return re_evaluate(ev, actor=actor, reason=reason)
    if remedy == RE_EVALUATION and awarded:
        return re_evaluate(ev, actor=actor, reason=reason)
    if remedy == VOID_AWARD and awarded:
        return void_award(ev, actor=actor, reason=reason)
    if remedy == RE_TENDER and awarded:
        return void_award(ev, actor=actor, reason=reason, re_tender=True)
    return None


def _ensure_not_suspended(section: Section) -> None:
    if section.suspended:
        raise Conflict(_("The section is suspended; every step waits until it is resumed."), code="suspended")


def _award_cleared() -> dict[str, Any]:
    """The evaluation's award columns, emptied (the CHECK ties them to ``awarded``/``archived``)."""
    return {
        "winner_org_id": None,
        "winner_rank": None,
        "award_reason": None,
        "awarded_at": None,
        "awarded_by": None,
        "contract_due_at": None,
        "contract_signed_at": None,
    }


def _strike_award(ev: Evaluation, *, actor: User, reason: str, at: dt.datetime) -> VoidedAward:
    """Keep the award as it was issued on a :class:`VoidedAward`, strike its candidate and mark its
    notice and letters void. The evaluation's own award columns are cleared by the caller's transition."""
    winner = next(c for c in ev.candidates if c.org_id == ev.winner_org_id)
    assert ev.awarded_at is not None
    voided = VoidedAward(
        candidate_id=winner.id,
        org_id=winner.org_id,
        rank=winner.rank,
        round=ev.round,
        award_reason=ev.award_reason,
        awarded_at=ev.awarded_at,
        awarded_by=ev.awarded_by,
        contract_due_at=ev.contract_due_at,
        contract_signed_at=ev.contract_signed_at,
        voided_at=at,
        voided_by=actor.id,
        reason=reason,
    )
    ev.voided_awards.append(voided)
    winner.voided_at, winner.void_reason = at, reason
    for f in ev.files:
        if f.kind in AWARD_FILES and f.voided_at is None:
            f.voided_at, f.void_reason = at, reason
    return voided


def void_award(ev: Evaluation, *, actor: User, reason: str, re_tender: bool = False) -> str:
    """中标无效 on an awarded section: back to the served publicity to choose again among the remaining
    candidates, or — when none remains or a re-tender is ordered — the section ends ``failed``."""
    section = services.section_of(ev)
    _ensure_not_suspended(section)
    if ev.status != E.AWARDED or section.status != S.AWARDED:
        raise Conflict(_("Only an award can be voided."))
    remaining = [c for c in ev.candidates if c.org_id != ev.winner_org_id]
    target = S.PUBLICITY if remaining and not re_tender else S.FAILED
    from app.projects import services as projects

    # the section moves first: its conditional update refuses a concurrent change before anything else
    projects.transition(section, target, actor=actor, reason=reason)
    at = now()
    voided = _strike_award(ev, actor=actor, reason=reason, at=at)
    services.transition(ev, E.PUBLICITY, actor=actor, reason=reason, changes=_award_cleared())
    services._audit(
        "evaluation:award:void",
        actor,
        ev,
        {
            "reason": reason,
            "org_id": voided.org_id,
            "rank": voided.rank,
            "awarded_at": voided.awarded_at,
            "contract_signed_at": voided.contract_signed_at,
            "remaining": [c.rank for c in remaining],
            "section_status": target.value,
        },
    )
    audit.checkpoint(reason="award void")
    name = voided.candidate.bidder_name
    if target is S.PUBLICITY:
        body = _(
            "The award of %(section)s to %(name)s is void (%(reason)s). The tenderer chooses again among "
            "the remaining candidates.",
            section=section.name,
            name=name,
            reason=reason,
        )
    else:
        body = _(
            "The award of %(section)s to %(name)s is void (%(reason)s). The section is to be tendered again.",
            section=section.name,
            name=name,
            reason=reason,
        )
    _notify_bidders(section, _("Award void"), body)
    return target.value


def re_evaluate(ev: Evaluation, *, actor: User, reason: str) -> str:
    """重新评审: void the current round (scores, report, candidates, publicity — and an award, first) and
    send the same panel back to scoring in the next round."""
    section = services.section_of(ev)
    _ensure_not_suspended(section)
    from_status = E(ev.status)
    if from_status not in RESTARTABLE:
        raise Conflict(_("There is nothing to evaluate again."))
    from app.projects import services as projects

    if section.status != S.EVALUATING:  # publicity or awarded; refused before anything else changes
        projects.transition(section, S.EVALUATING, actor=actor, reason=reason)
    at = now()
    changes: dict[str, Any] = {}
    if from_status is E.AWARDED:
        _strike_award(ev, actor=actor, reason=reason, at=at)
        changes.update(_award_cleared())
    counted = ev.counted
    ev.restarts.append(
        EvaluationRestart(
            round=ev.round,
            from_status=from_status.value,
            reason=reason,
            restarted_at=at,
            restarted_by=actor.id,
            report_sha256=ev.report_sha256,
            reported_at=ev.reported_at,
            publicity_starts_at=ev.publicity_starts_at,
            publicity_ends_at=ev.publicity_ends_at,
            decisions=[
                {
                    "member_id": m.id,
                    "submitted_at": _iso(m.submitted_at),
                    "decision": m.decision,
                    "signature": m.signature,
                    "dissent": m.dissent,
                    "decided_at": _iso(m.decided_at),
                }
                for m in counted
            ],
        )
    )
    scores = 0
    for m in ev.members:
        for s in m.scores:
            s.voided_at, s.void_reason = at, reason
            scores += 1
    for c in ev.candidates:
        c.voided_at, c.void_reason = at, reason
    for f in ev.files:
        if f.kind in ROUND_FILES and f.voided_at is None:
            f.voided_at, f.void_reason = at, reason
    for m in counted:
        m.submitted_at = m.decided_at = None
        m.decision = m.signature = m.dissent = None
        m.wants_extension = False
    changes.update(
        {
            "round": ev.round + 1,
            "report_sha256": None,
            "report_path": None,
            "report_drawn_at": None,
            "reported_at": None,
            "publicity_starts_at": None,
            "publicity_ends_at": None,
            "publicity_late": False,
            "ends_at": at + dt.timedelta(hours=int(services.setting("EVALUATION_HOURS"))),
        }
    )
    voided_round = ev.round
    if from_status is E.SCORING:  # already scoring: the round changes, the status does not
        for name, value in changes.items():
            setattr(ev, name, value)
    else:
        services.transition(ev, E.SCORING, actor=actor, reason=reason, changes=changes)
    services._audit(
        "evaluation:evaluation:restart",
        actor,
        ev,
        {
            "reason": reason,
            "from": from_status.value,
            "voided_round": voided_round,
            "round": ev.round,
            "scores_voided": scores,
            "ends_at": ev.ends_at,
        },
    )
    body = _(
        "The evaluation of %(section)s starts over (%(reason)s): the earlier scores, report and candidates "
        "are void and the panel scores again.",
        section=section.name,
        reason=reason,
    )
    _notify_bidders(section, _("Re-evaluation ordered"), body)
    for m in counted:
        if m.user_id is not None:
            enqueue(
                channel="inbox",
                recipient=str(m.user_id),
                subject=_("Re-evaluation ordered"),
                body=body,
                user_id=m.user_id,
            )
    return S.EVALUATING.value


def _notify_bidders(section: Section, subject: str, body: str) -> None:
    for org_id in sorted({e.org_id for e in services.all_entries(section)}):
        services._notify_org(org_id, subject, body)


def _iso(value: dt.datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def history(ev: Evaluation) -> list[dict[str, Any]]:
    """Restarts and voided awards in time order, for the pages."""
    rows: list[dict[str, Any]] = [
        {"kind": "restart", "at": r.restarted_at, "round": r.round, "reason": r.reason} for r in ev.restarts
    ]
    rows += [
        {
            "kind": "void_award",
            "at": v.voided_at,
            "round": v.round,
            "reason": v.reason,
            "name": v.candidate.bidder_name,
            "rank": v.rank,
        }
        for v in ev.voided_awards
    ]
    return sorted(rows, key=lambda r: r["at"])
