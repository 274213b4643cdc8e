"""Recusal (回避) of drawn experts once the bidders are known.

Bidders are secret until the opening, so the draw can exclude only the tenderer's and the agency's people
(now or within the look-back, :mod:`app.experts.employment`). When the opening record is published the
bidders become known, and every drawn expert — seats and standby backups alike — is checked against them:

* employed by a bidder now, or within the last three years (条例 Art. 46; 评标专家和评标专家库管理暂行办法
  Art. 12; 采购条例 Art. 9);
* a standing conflict the expert declared (回避申报) with a bidder.

A match is recused automatically with the reason recorded on the seat, and the seat is refilled through the
draw's own procedure (:func:`app.experts.draws.replace_seats`: the next backup in the drawn order, or a
supplementary round with fresh randomness that a regulator witnesses). From then on the bidders are also
excluded from every supplementary round (:func:`bidders_at_opening` is the draw's bidder provider). At
sign-in the same check runs again for the expert signing in (the registry may have learnt more since), and
the expert declares against the bidder list shown.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import select

from app.accounts.models import Organization, User
from app.core.db import db

from . import draws, employment
from .enums import ExclusionReason, SeatStatus
from .models import ExpertConflict, PanelSeat
from .services import local_day

#: Seats whose expert can still come to evaluate: they are checked at the opening.
LIVE_SEAT_STATUSES = frozenset({SeatStatus.STANDBY, SeatStatus.INVITED, SeatStatus.CONFIRMED})


def bidders_at_opening(section: Any) -> set[int]:
    """The section's bidders once its opening record is published (every bidder in the record, whatever
    its bid became); nothing before — who bid is secret until then."""
    from app.bidding.opening import completed_ceremony

    ceremony = completed_ceremony(section)
    if ceremony is None:
        return set()
    return {e.org_id for e in ceremony.entries}


def conflicts_of(expert_ids: list[int], org_ids: set[int], day: dt.date) -> dict[int, list[tuple[str, str]]]:
    """Expert id → [(reason code, reason in words)] for each tie to one of ``org_ids``: employment now or
    within the look-back, or a declared conflict not withdrawn."""
    out: dict[int, list[tuple[str, str]]] = {}
    if not expert_ids or not org_ids:
        return out
    names = dict(
        db.session.execute(
            select(Organization.id, Organization.name).where(Organization.id.in_(org_ids))
        ).all()
    )
    for expert_id, links in employment.links_to(expert_ids, org_ids, day).items():
        for link in links:
            code = ExclusionReason.EMPLOYER_BIDDER if link.current else ExclusionReason.FORMER_EMPLOYER_PARTY
            out.setdefault(expert_id, []).append(
                (code.value, employment.describe(link, names.get(link.org_id, "")))
            )
    for conflict in db.session.scalars(
        select(ExpertConflict).where(
            ExpertConflict.expert_id.in_(expert_ids),
            ExpertConflict.org_id.in_(org_ids),
            ExpertConflict.withdrawn_at.is_(None),
        )
    ):
        from .services import relation_label

        words = f"{relation_label(conflict.relation)}: {names.get(conflict.org_id, '')}"
        if conflict.note:
            words += f" ({conflict.note})"
        out.setdefault(conflict.expert_id, []).append((ExclusionReason.DECLARED_CONFLICT.value, words))
    return out


def reason_text(found: list[tuple[str, str]]) -> str:
    from flask_babel import gettext as _

    return _("Recused: a bidder of this section — %(why)s (条例第46条).", why="; ".join(w for _c, w in found))


def recuse_conflicted(draw: Any, bidders: set[int], *, actor: User | None) -> int:
    """Recuse every live seat of ``draw`` tied to one of ``bidders`` and refill the seats (one step)."""
    seats: list[PanelSeat] = [s for s in draw.seats if s.status in LIVE_SEAT_STATUSES]
    found = conflicts_of([s.expert_id for s in seats], bidders, local_day(draw.evaluation_starts_at))
    batch = [
        (seat, reason_text(found[seat.expert_id]), sorted({c for c, _w in found[seat.expert_id]}))
        for seat in seats
        if seat.expert_id in found
    ]
    if not batch:
        return 0
    return draws.replace_seats(draw, batch, status=SeatStatus.RECUSED, actor=actor)


def check_panel_at_opening(section: Any, actor: User | None) -> None:
    """After-opening hook of the bidding domain (same transaction): check the drawn panel of an opened
    section against its bidders."""
    if str(section.status) != "opened":
        return
    draw = draws.active_draw_for(section.id)
    if draw is None:
        return
    recuse_conflicted(draw, bidders_at_opening(section), actor=actor)
