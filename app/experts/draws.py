"""Verifiable random expert draws (SPEC §4): request, automatic exclusions, commit–witness–reveal,
RFC 3797 selection with SHA-256, sealed invitations, backups and supplementary rounds, verification.

One round of a draw, in order, each step a leaf of the audit log:

1. ``experts:draw:freeze`` — the eligible list per specialty (canonical JSON, SHA-256 ``pool_digest``)
   and the exclusions with their reason codes (``exclusions_digest``) are fixed before any randomness.
   Since record format 2 both digests are over the texts with pseudonyms in place of the expert and
   employer ids (app/experts/draw_record.py), so the public can recompute them once the draw is published.
2. ``experts:draw:commit`` — the server draws 32 random bytes and publishes ``SHA-256(server_random)``.
3. ``experts:draw:witness`` — the regulator present enters witness entropy (after step-up MFA).
4. ``experts:draw:reveal`` — the server reveals ``server_random``;
   ``seed = SHA-256(server_random ‖ SHA-256(witness) ‖ pool_digest ‖ section_id as 8 bytes)`` (every part
   has a fixed length, so the concatenation is unambiguous), and for each specialty in code order the
   RFC 3797 procedure picks from that specialty's list with the key string ``"<seed hex>/<code>/"``. A
   pick whose expert or employer is already on the panel is skipped (and stays picked), so one employer
   never has two experts on a panel.

Nothing that decides the panel (witness entropy, server random, seed, selection) is shown beyond the
drawing staff and the supervising regulator until the section's result is determined; then the public
record holds every input (docs/verify-a-draw.md). ``verify_draw`` recomputes every digest, the commitment,
the seed and the selection from the stored record and compares them with the audit log. A decline or a
missed deadline calls the next backup of the same specialty; when none is left, a new round with fresh
randomness is frozen for the missing seats.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import secrets
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from itertools import compress
from operator import itemgetter
from typing import Any

from flask_babel import gettext as _
from sqlalchemy import String, case, event, literal, select, union_all, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session
from sqlalchemy.orm.attributes import set_committed_value

from app.accounts.models import Organization, User
from app.core import audit, outbox
from app.core.clock import CST, now
from app.core.crypto import decrypt_at_rest, encrypt_at_rest
from app.core.db import db
from app.core.errors import Conflict, DomainError, NotFound
from app.core.models import AuditLeaf
from app.core.permissions import OrgKind
from app.projects.models import Section

from . import draw_record, employment, selection
from .enums import (
    REPLACED_SEAT_STATUSES,
    DrawStatus,
    ExclusionReason,
    ExpertStatus,
    RegionScope,
    RoundStatus,
    SeatKind,
    SeatStatus,
)
from .models import (
    DrawRound,
    Expert,
    ExpertConflict,
    ExpertDraw,
    ExpertLeave,
    ExpertSpecialty,
    PanelSeat,
    Specialty,
)
from .services import SectionParties, local_day, section_parties, setting

RANDOM_PURPOSE = "expert_draw.server_random"
SUPERVISORY_KINDS = frozenset({OrgKind.TRADING_CENTER, OrgKind.MANAGEMENT_OFFICE, OrgKind.REGULATOR})
MIN_ENTROPY_CHARS = 6


def canonical(obj: Any) -> str:
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=True)


def sha256_hex(text: str | bytes) -> str:
    return hashlib.sha256(text.encode() if isinstance(text, str) else text).hexdigest()


# --- states as data ----------------------------------------------------------------------------------------

TRANSITIONS: dict[DrawStatus, frozenset[DrawStatus]] = {
    DrawStatus.AWAITING_WITNESS: frozenset({DrawStatus.DRAWN, DrawStatus.CANCELLED}),
    DrawStatus.DRAWN: frozenset({DrawStatus.CONFIRMED, DrawStatus.AWAITING_WITNESS, DrawStatus.CANCELLED}),
    DrawStatus.CONFIRMED: frozenset({DrawStatus.DRAWN, DrawStatus.AWAITING_WITNESS, DrawStatus.CANCELLED}),
    DrawStatus.CANCELLED: frozenset(),
}


def transition(
    draw: ExpertDraw, to: DrawStatus, *, actor: User | None, reason: str = "", record: bool = True
) -> None:
    """Move the draw; ``record=False`` when the caller's own audit leaf already states the new status."""
    current = DrawStatus(draw.status)
    if to is current:
        return
    if to not in TRANSITIONS[current]:
        raise DomainError(_("This draw cannot go from %(a)s to %(b)s.", a=current.value, b=to.value))
    draw.status = to.value
    if to is DrawStatus.CANCELLED:
        draw.cancelled_at = now()
        draw.cancel_reason = reason
    if not record:
        return
    audit.record(
        "experts:draw:status",
        actor=actor,
        object_type="expert_draw",
        object_id=draw.id,
        payload={"from": current.value, "to": to.value, "reason": reason},
    )


# --- request ------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Slot:
    specialty: str
    seats: int
    backups: int

    def as_dict(self) -> dict[str, Any]:
        return {"specialty": self.specialty, "seats": self.seats, "backups": self.backups}

    @classmethod
    def of(cls, data: dict[str, Any]) -> Slot:
        return cls(str(data["specialty"]), int(data["seats"]), int(data["backups"]))


class ImpossibleComposition(DomainError):
    """Refused before any randomness; ``counts`` per specialty: needed, matching, eligible, employers."""

    code = "impossible_composition"

    def __init__(self, message: str, *, errors: dict[str, Any], counts: dict[str, dict[str, int]]) -> None:
        super().__init__(message, errors=errors)
        self.counts = counts


def _ensure_section_not_suspended(section: Any) -> None:
    """Every step waits while a regulator or a pending case has suspended the section (SPEC §2)."""
    if section is not None and getattr(section, "suspended", False):
        raise Conflict(_("The section is suspended; every step waits until it is resumed."), code="suspended")


def check_panel(
    panel_size: int, slots: list[Slot], *, active_codes: set[str] | None = None
) -> dict[str, list[str]]:
    """A panel is an odd number ≥ 5 with pool experts ≥ 2/3 (法 Art. 37); the rest are tenderer
    representatives. ``active_codes``: the active specialty codes, when the caller has read them."""
    errors: dict[str, list[str]] = {}
    pool_seats = sum(s.seats for s in slots)
    if panel_size < 5 or panel_size % 2 == 0:
        errors["panel_size"] = [_("The panel must have an odd number of members, at least 5.")]
    if pool_seats * 3 < panel_size * 2:
        errors["composition"] = [_("Experts drawn from the pool must be at least two thirds of the panel.")]
    if pool_seats > panel_size:
        errors["composition"] = [_("More pool seats than panel members.")]
    if not slots:
        errors["composition"] = [_("Name at least one specialty.")]
    codes = [s.specialty for s in slots]
    if len(set(codes)) != len(codes):
        errors["composition"] = [_("A specialty is listed twice.")]
    if any(s.seats < 1 or s.backups < 0 or s.backups > 20 for s in slots):
        errors["composition"] = [_("Each specialty needs at least one seat; backups from 0 to 20.")]
    known = (
        set(db.session.scalars(select(Specialty.code).where(Specialty.code.in_(codes), Specialty.is_active)))
        if active_codes is None
        else active_codes & set(codes)
    )
    unknown = [c for c in codes if c not in known]
    if unknown:
        errors["composition"] = [_("Unknown specialty code(s): %(codes)s", codes=", ".join(unknown))]
    return errors


def request_draw(
    section: Any,
    *,
    slots: list[Slot],
    evaluation_starts_at: dt.datetime,
    region_scope: RegionScope | str = RegionScope.LOCAL,
    panel_size: int | None = None,
    actor: User,
) -> ExpertDraw:
    """Center staff request the panel of a section. Refused unless the panel is odd and ≥ 5 with ≥ 2/3
    pool experts, and before any randomness when a specialty has too few eligible experts."""
    _ensure_section_not_suspended(section)
    region_scope = RegionScope(region_scope)
    slots = sorted(slots, key=lambda s: s.specialty)
    panel_size = int(panel_size if panel_size is not None else section.panel_size)
    # Every specialty code once, for the panel check and for the codes below the wanted ones.
    specialty_rows = db.session.execute(select(Specialty.code, Specialty.is_active)).all()
    all_codes = [code for code, _active in specialty_rows]
    errors = check_panel(panel_size, slots, active_codes={code for code, active in specialty_rows if active})
    if evaluation_starts_at <= now():
        errors["evaluation_starts_at"] = [_("The evaluation must start in the future.")]
    if str(getattr(section, "status", "")) in {"draft", "awarded", "archived", "failed", "cancelled"}:
        errors["section"] = [_("This section is not in a state where experts are drawn.")]
    if errors:
        raise DomainError(_("The draw request was refused; see the fields marked."), errors=errors)
    if _active_draw_id(section.id) is not None:
        raise Conflict(_("This section already has an active expert draw."))
    parties = section_parties(section)
    draw = ExpertDraw(
        section_id=section.id,
        tenderer_org_id=parties.tenderer_org_id,
        agency_org_id=parties.agency_org_id,
        requested_by=actor.id,
        requested_at=now(),
        evaluation_starts_at=evaluation_starts_at,
        panel_size=panel_size,
        pool_seats=sum(s.seats for s in slots),
        composition=[s.as_dict() for s in slots],
        region_scope=region_scope.value,
        region=str(setting("EXPERT_LOCAL_REGION")),
        status=DrawStatus.AWAITING_WITNESS.value,
    )
    # One savepoint: a refusal below (an impossible composition) leaves no draw, no round, no audit leaf.
    with db.session.begin_nested():
        db.session.add(draw)
        try:
            db.session.flush()  # the partial unique index decides a race between two requests here
        except IntegrityError as err:
            raise Conflict(_("This section already has an active expert draw.")) from err
        # A new draw has no rounds or seats yet (open_round and witness add them): no query needed.
        set_committed_value(draw, "rounds", [])
        set_committed_value(draw, "seats", [])
        _mark_inserted(draw)
        with audit.batch():  # the request, freeze and commit leaves: written together
            audit.record(
                "experts:draw:request",
                actor=actor,
                object_type="expert_draw",
                object_id=draw.id,
                payload={
                    "section_id": section.id,
                    "panel_size": panel_size,
                    "composition": draw.composition,
                    "evaluation_starts_at": evaluation_starts_at,
                    "region_scope": region_scope.value,
                },
            )
            open_round(draw, slots, parties, actor=actor, strict=True, all_codes=all_codes)
    return draw


# Draws inserted by the current transaction: nobody else can see, lock or change them before it commits, so
# locking one again (witnessed in the transaction that requested it) needs no statement and no reload.
_INSERTED_KEY = "experts_draws_inserted"


# For such a draw the frozen pools of its rounds are kept too, by round id: the reveal then needs neither
# to read back the text it just wrote (megabytes for a large pool) nor to parse it.


def _inserted(session: Any) -> tuple[set[int], dict[int, dict[str, Any]]]:
    entry = session.info.get(_INSERTED_KEY)
    if entry is None or entry[0] is not session.get_transaction():
        entry = session.info[_INSERTED_KEY] = (session.get_transaction(), set(), {})
    return entry[1], entry[2]


def _mark_inserted(draw: ExpertDraw) -> None:
    _inserted(db.session())[0].add(draw.id)


def _inserted_here(draw: ExpertDraw) -> bool:
    return draw.id in _inserted(db.session())[0]


@event.listens_for(Session, "after_transaction_end")
def _forget_inserted(session: Session, transaction: Any) -> None:
    if transaction.parent is None:  # the pools can be large: not kept past their transaction
        session.info.pop(_INSERTED_KEY, None)


def _frozen_pool(draw: ExpertDraw, rnd: DrawRound) -> dict[str, Any]:
    """The round's frozen pool: ``json.loads(rnd.pool)``, or the object it was written from when this
    transaction froze it (equal to it: the text is its canonical JSON)."""
    if _inserted_here(draw):
        kept = _inserted(db.session())[1].get(rnd.id)
        if kept is not None:
            return kept
    return dict(json.loads(rnd.pool))


def _active_draw_id(section_id: int) -> int | None:
    return db.session.scalar(
        select(ExpertDraw.id).where(
            ExpertDraw.section_id == section_id, ExpertDraw.status != DrawStatus.CANCELLED.value
        )
    )


def active_draw_for(section_id: int) -> ExpertDraw | None:
    draw_id = _active_draw_id(section_id)
    return db.session.get(ExpertDraw, draw_id) if draw_id is not None else None


# --- exclusions and the frozen pool ------------------------------------------------------------------------


@dataclass
class Candidates:
    """Experts matching the wanted specialties and region, split into eligible lists and exclusions."""

    eligible: dict[str, list[tuple[int, int | None]]]  # code → [(expert_id, employer_org_id), …] by id
    excluded: dict[int, frozenset[str]]  # expert_id → reason codes
    matched: dict[str, int] = field(default_factory=dict)  # code → experts matching before exclusions


def compute_candidates(
    draw: ExpertDraw, slots: list[Slot], parties: SectionParties, *, all_codes: list[str] | None = None
) -> Candidates:
    """All exclusion rules, decided from the database before any randomness exists. ``all_codes``: every
    specialty code, when the caller has read them."""
    eval_day = local_day(draw.evaluation_starts_at)
    codes = [s.specialty for s in slots]
    max_age = int(setting("EXPERT_MAX_AGE"))
    try:
        born_by = eval_day.replace(year=eval_day.year - max_age)  # reaching max_age on the evaluation day
    except ValueError:  # 29 February
        born_by = eval_day.replace(year=eval_day.year - max_age, day=28)
    # The requested codes and every code below them, as an IN list: an equality lookup on the index on
    # every engine and collation (LIKE 'A01%' uses a btree index only under the C collation).
    if all_codes is None:
        all_codes = list(db.session.scalars(select(Specialty.code)))
    under = sorted({c for c in all_codes for w in codes if c.startswith(w)})
    match = ExpertSpecialty.specialty_code.in_(under)
    # Status and age are decided by the database (two flags), so each row is plain values: no date to
    # convert, and the rows need no processing by the ORM.
    stmt = (
        select(
            Expert.id,
            Expert.employer_org_id,
            (Expert.status != ExpertStatus.ACTIVE.value).label("inactive"),
            (Expert.birth_date <= born_by).label("over_age"),
            ExpertSpecialty.specialty_code,
        )
        .join(ExpertSpecialty, ExpertSpecialty.expert_id == Expert.id)
        .where(match, Expert.status != ExpertStatus.REMOVED.value)
    )
    if draw.region_scope == RegionScope.LOCAL:
        stmt = stmt.where(Expert.region == draw.region)
    # Tens of thousands of tuples (a million-expert pool: hundreds of thousands): read from the driver's
    # cursor as it returns them, skipping SQLAlchemy's row objects.
    result = db.session.connection().execute(stmt)
    rows = result.cursor.fetchall() if result.cursor is not None else []
    result.close()
    party_orgs = {parties.tenderer_org_id, parties.agency_org_id, parties.regulator_org_id}
    party_orgs |= set(parties.bidder_org_ids)
    party_orgs.discard(None)
    flags = _exclusion_flags(draw, eval_day, parties, party_orgs)
    supervisory = flags["supervisory"]
    on_leave, conflicted, former = flags["on_leave"], flags["conflict"], flags["former"]
    recent = flags["recent"]
    on_panel, panel_employers = _already_on_panel(draw)

    def employer_reasons(employer: int | None) -> frozenset[str]:
        reasons: set[str] = set()
        if employer == parties.tenderer_org_id:
            reasons.add(ExclusionReason.EMPLOYER_TENDERER)
        if parties.agency_org_id is not None and employer == parties.agency_org_id:
            reasons.add(ExclusionReason.EMPLOYER_AGENCY)
        if employer in parties.bidder_org_ids:
            reasons.add(ExclusionReason.EMPLOYER_BIDDER)
        if employer in supervisory:
            reasons.add(ExclusionReason.EMPLOYER_SUPERVISORY)
        if employer in panel_employers:
            reasons.add(ExclusionReason.EMPLOYER_ON_PANEL)
        return frozenset(reasons)

    # Tens of thousands of rows, most of them eligible: the rows are walked by comprehensions, and reasons
    # are worked out only for the few that something flags. Only these employers can give a reason (each
    # test in employer_reasons names one of them), and only the flagged sets, the status and the age can
    # give an expert one.
    by_employer = {
        e: r
        for e in {parties.tenderer_org_id, parties.agency_org_id, *parties.bidder_org_ids}
        | supervisory
        | panel_employers
        if (r := employer_reasons(e))
    }
    flagged = (
        (conflicted, ExclusionReason.DECLARED_CONFLICT),
        (on_leave, ExclusionReason.ON_LEAVE),
        (recent, ExclusionReason.RECENT_SAME_TENDERER),
        (former, ExclusionReason.FORMER_EMPLOYER_PARTY),
    )
    any_flag = conflicted | on_leave | recent | former | on_panel
    none: frozenset[str] = frozenset()
    # Most flagged experts are flagged by their status or age alone: their reasons are one of three sets.
    by_status_age = {
        (True, False): frozenset({ExclusionReason.NOT_ACTIVE}),
        (False, True): frozenset({ExclusionReason.OVER_AGE}),
        (True, True): frozenset({ExclusionReason.NOT_ACTIVE, ExclusionReason.OVER_AGE}),
    }
    reasons_of: dict[int, frozenset[str]] = {}
    for expert_id, employer, inactive, over_age, _code in [
        r for r in rows if r[2] or r[3] or r[1] in by_employer or r[0] in any_flag
    ]:
        if expert_id in reasons_of:  # one row per specialty of the expert
            continue
        if employer not in by_employer and expert_id not in any_flag:
            reasons_of[expert_id] = by_status_age[bool(inactive), bool(over_age)]
            continue
        reasons = by_employer.get(employer, none)
        extra = [reason for ids, reason in flagged if expert_id in ids]
        if inactive:
            extra.append(ExclusionReason.NOT_ACTIVE)
        if over_age:
            extra.append(ExclusionReason.OVER_AGE)
        if expert_id in on_panel:  # the expert's own seat, not only the employer's
            extra.append(ExclusionReason.ALREADY_ON_PANEL)
            reasons = reasons - {ExclusionReason.EMPLOYER_ON_PANEL}
        reasons_of[expert_id] = reasons.union(extra)  # never empty: something flagged the row
    # Per wanted code, expert → employer, once per expert whichever of the codes below it matched: the rows
    # of the codes below it picked and paired by the interpreter's own iterators, not a loop of bytecode.
    row_codes = list(map(itemgetter(4), rows))
    id_employer = itemgetter(0, 1)
    matching_of: dict[str, dict[int, int | None]] = {}
    for wanted in codes:
        below = frozenset(c for c in under if c.startswith(wanted))
        matching_of[wanted] = dict(map(id_employer, compress(rows, map(below.__contains__, row_codes))))
    eligible: dict[str, list[tuple[int, int | None]]] = {}
    matched: dict[str, int] = {}
    for wanted, matching in matching_of.items():
        matched[wanted] = len(matching)
        ids = sorted(matching.keys() - reasons_of.keys())
        eligible[wanted] = list(zip(ids, map(matching.__getitem__, ids), strict=True))
    # the reasons as text, once per distinct set of them
    as_text = {rs: frozenset(str(r) for r in rs) for rs in set(reasons_of.values())}
    excluded = {i: as_text[rs] for i, rs in reasons_of.items()}
    return Candidates(eligible=eligible, excluded=excluded, matched=matched)


def _exclusion_flags(
    draw: ExpertDraw, eval_day: dt.date, parties: SectionParties, party_orgs: set[int | None]
) -> dict[str, set[int]]:
    """The small sets the exclusions are decided from, read in one statement (a UNION ALL of tagged
    lookups) rather than one round trip each:

    - ``supervisory``: organizations of a supervisory kind (a handful: cheaper than joining every row of
      the pool to its employer);
    - ``on_leave``: experts on leave on the evaluation day;
    - ``conflict``: experts who declared a conflict with a party (not withdrawn);
    - ``recent``: experts holding or having held a seat for the same tenderer whose evaluation day lies
      within EXPERT_RECENT_DAYS days before (or after) this one: |Δ days| ≤ N is excluded, N + 1 is not;
    - ``former``: experts employed by the tenderer, the agency or a (known) bidder within the look-back
      (条例 Art. 46; the current employer is checked on its own).
    """

    def tagged(tag: str, stmt: Any) -> Any:
        return stmt.with_only_columns(literal(tag, String).label("tag"), stmt.selected_columns[0].label("id"))

    parts = [
        tagged("supervisory", select(Organization.id).where(Organization.kind.in_(SUPERVISORY_KINDS))),
        tagged(
            "on_leave",
            select(ExpertLeave.expert_id).where(
                ExpertLeave.starts_on <= eval_day, ExpertLeave.ends_on >= eval_day
            ),
        ),
    ]
    if party_orgs:
        parts.append(
            tagged(
                "conflict",
                select(ExpertConflict.expert_id).where(
                    ExpertConflict.org_id.in_(party_orgs), ExpertConflict.withdrawn_at.is_(None)
                ),
            )
        )
    if draw.tenderer_org_id is not None:
        # The local days eval_day - N … eval_day + N, as instants: from the first one's midnight to the
        # midnight after the last one (China Standard Time).
        days = int(setting("EXPERT_RECENT_DAYS"))
        lo = dt.datetime.combine(eval_day - dt.timedelta(days=days), dt.time(), tzinfo=CST)
        hi = dt.datetime.combine(eval_day + dt.timedelta(days=days + 1), dt.time(), tzinfo=CST)
        recent = (
            select(PanelSeat.expert_id)
            .join(ExpertDraw, ExpertDraw.id == PanelSeat.draw_id)
            .where(
                ExpertDraw.tenderer_org_id == draw.tenderer_org_id,
                ExpertDraw.id != draw.id,
                ExpertDraw.status != DrawStatus.CANCELLED.value,
                ExpertDraw.evaluation_starts_at >= lo,
                ExpertDraw.evaluation_starts_at < hi,
                PanelSeat.status.in_([SeatStatus.INVITED.value, SeatStatus.CONFIRMED.value]),
            )
        )
        parts.append(tagged("recent", recent))
    former = employment.former_employees_select(
        {parties.tenderer_org_id, parties.agency_org_id, *parties.bidder_org_ids}, eval_day
    )
    if former is not None:
        parts.append(tagged("former", former))
    out: dict[str, set[int]] = {k: set() for k in ("supervisory", "on_leave", "conflict", "recent", "former")}
    for tag, id_ in db.session.execute(union_all(*parts)).all():
        out[tag].add(id_)
    return out


def _already_on_panel(draw: ExpertDraw) -> tuple[set[int], set[int]]:
    if draw.id is None or not draw.rounds:  # seats come from a revealed round: a new draw has none
        return set(), set()
    rows = db.session.execute(
        select(PanelSeat.expert_id, PanelSeat.status, Expert.employer_org_id)
        .join(Expert, Expert.id == PanelSeat.expert_id)
        .where(PanelSeat.draw_id == draw.id)
    ).all()
    holding = {SeatStatus.INVITED.value, SeatStatus.CONFIRMED.value, SeatStatus.STANDBY.value}
    return {r[0] for r in rows}, {r[2] for r in rows if r[1] in holding}


def exclusions_canonical(rows: list[tuple[int, str]]) -> str:
    """``canonical([[eid, reasons] for eid, reasons in sorted(rows)])``, written directly when every row is
    an integer and a string (the tests pin the text)."""
    rows = sorted(rows)
    if rows and set(map(len, rows)) == {2}:
        ids, reasons = list(map(itemgetter(0), rows)), list(map(itemgetter(1), rows))
        if set(map(type, ids)) == {int} and set(map(type, reasons)) == {str}:
            quoted = {why: canonical(why) for why in set(reasons)}
            return "[[" + "],[".join(map("{},{}".format, ids, map(quoted.__getitem__, reasons))) + "]]"
    return canonical([[eid, why] for eid, why in rows])


def _pairs_text(items: list[Any]) -> str | None:
    """The canonical JSON of ``[[expert_id, employer_id or None], …]``; None when an entry is not so."""
    ids, employers = list(map(itemgetter(0), items)), list(map(itemgetter(1), items))
    if set(map(len, items)) != {2} or set(map(type, ids)) != {int}:
        return None
    kinds = set(map(type, employers))
    if not kinds <= {int, type(None)}:
        return None
    if type(None) in kinds:
        employers = ["null" if e is None else e for e in employers]
    return "[[" + "],[".join(map("{},{}".format, ids, employers)) + "]]"


def pool_canonical(pool: dict[str, Any]) -> str:
    """``canonical(pool)``, with the lists of [expert, employer] pairs written directly (tens of thousands of
    integers need no type dispatch per value; the tests pin the text)."""
    lists = pool["specialties"]
    parts = []
    for code in sorted(lists):
        body = _pairs_text(lists[code]) if lists[code] else "[]"
        if body is None:
            return canonical(pool)
        parts.append(f"{canonical(code)}:{body}")
    head = canonical({**{k: v for k, v in pool.items() if k != "specialties"}, "specialties": 0})
    return head.replace('"specialties":0', '"specialties":{' + ",".join(parts) + "}", 1)


def open_round(
    draw: ExpertDraw,
    slots: list[Slot],
    parties: SectionParties,
    *,
    actor: User | None,
    strict: bool,
    all_codes: list[str] | None = None,
) -> DrawRound | None:
    """Freeze the eligible lists and exclusions, then commit the server randomness (two audit leaves).

    ``strict`` (a new request): refuse when a specialty has fewer eligible experts — or employers — than
    seats, with the counts. Otherwise (a supplementary round) freeze whatever is left; None when nothing is.
    """
    cand = compute_candidates(draw, slots, parties, all_codes=all_codes)
    shortfall = {}
    for s in slots:
        lst = cand.eligible[s.specialty]
        employers = len(set(map(itemgetter(1), lst)))
        if min(len(lst), employers) < s.seats:
            shortfall[s.specialty] = {
                "needed": s.seats,
                "matching": cand.matched.get(s.specialty, 0),
                "eligible": len(lst),
                "employers": employers,
            }
    if strict and shortfall:
        detail = {
            code: [
                _(
                    "%(needed)d seat(s) needed; %(matching)d experts match, %(eligible)d eligible "
                    "from %(employers)d employers.",
                    **counts,
                )
            ]
            for code, counts in shortfall.items()
        }
        raise ImpossibleComposition(
            _("Not enough eligible experts for this composition; nothing was drawn."),
            errors=detail,
            counts=shortfall,
        )
    if not strict and not any(cand.eligible[s.specialty] for s in slots):
        return None
    number = 1 + max((r.number for r in draw.rounds), default=0)
    pool_obj = {
        "draw": draw.id,
        "round": number,
        "section": draw.section_id,
        "evaluation_date": local_day(draw.evaluation_starts_at).isoformat(),
        "specialties": cand.eligible,
    }
    pool_text = pool_canonical(pool_obj)
    joined = {rs: ",".join(sorted(rs)) for rs in set(cand.excluded.values())}  # a few distinct sets
    excl_rows = sorted(zip(cand.excluded, map(joined.__getitem__, cand.excluded.values()), strict=True))
    # Frozen like the pool, as one canonical text: thousands of rows with per-row foreign-key checks
    # cost more than the rest of the freeze together.
    excl_text = exclusions_canonical(excl_rows)
    # Record format 2: the digests — and so the seed — are over the pool and exclusions with pseudonyms,
    # which the public record shows once the result is determined (app/experts/draw_record.py).
    public_pool, public_excl = draw_record.public_texts(pool_obj, excl_rows)
    server_random = secrets.token_bytes(32)
    rnd = DrawRound(
        draw=draw,
        number=number,
        status=RoundStatus.COMMITTED.value,
        wanted=[s.as_dict() for s in slots],
        pool=pool_text,
        public_pool=public_pool,
        exclusions=excl_text,
        public_exclusions=public_excl,
        frozen_at=now(),
        server_random_enc=encrypt_at_rest(server_random, purpose=RANDOM_PURPOSE),
        commitment=sha256_hex(server_random),
        algorithm=f"rfc3797-{setting('EXPERT_DRAW_HASH')}",
        # Empty until the witness and the reveal, and known to be: reading them needs no query.
        witness_entropy=None,
        witness_id=None,
        witnessed_at=None,
        server_random=None,
        seed=None,
        result=None,
    )
    rnd.pool_digest = sha256_hex(draw_record.digest_input(rnd))
    rnd.exclusions_digest = sha256_hex(draw_record.exclusions_input(rnd))
    db.session.add(rnd)
    db.session.flush()  # the audit leaves refer to the round id
    if _inserted_here(draw):
        _inserted(db.session())[1][rnd.id] = pool_obj
    by_reason: Counter[str] = Counter()
    for rs, n in Counter(cand.excluded.values()).items():  # per distinct set of reasons
        by_reason.update(dict.fromkeys(rs, n))
    audit.record(
        "experts:draw:freeze",
        actor=actor,
        object_type="expert_draw_round",
        object_id=rnd.id,
        payload={
            "draw_id": draw.id,
            "round": number,
            "section_id": draw.section_id,
            "wanted": rnd.wanted,
            "pool_digest": rnd.pool_digest,
            "pool_counts": {c: len(v) for c, v in cand.eligible.items()},
            "exclusions_digest": rnd.exclusions_digest,
            "exclusions": len(excl_rows),
            "exclusions_by_reason": dict(sorted(by_reason.items())),
        },
    )
    audit.record(
        "experts:draw:commit",
        actor=actor,
        object_type="expert_draw_round",
        object_id=rnd.id,
        payload={"draw_id": draw.id, "round": number, "commitment": rnd.commitment},
    )
    return rnd


# --- witness, reveal, selection ---------------------------------------------------------------------------


def compute_seed(server_random: bytes, witness_entropy: str, pool_digest: str, section_id: int) -> str:
    data = (
        server_random
        + hashlib.sha256(witness_entropy.encode()).digest()
        + bytes.fromhex(pool_digest)
        + int(section_id).to_bytes(8, "big")
    )
    return hashlib.sha256(data).hexdigest()


def select_panel(
    pool: dict[str, Any], wanted: list[dict[str, Any]], seed: str, *, hash_name: str
) -> dict[str, Any]:
    """The RFC 3797 selection for one round: {code: {"seats": [ids], "backups": [ids], "skipped": [ids]}}."""
    lists: dict[str, list[list[int]]] = pool["specialties"]
    taken: set[int] = set()
    employers: set[int] = set()

    def accept(item: list[int]) -> bool:
        expert_id, employer = item
        if expert_id in taken or employer in employers:
            return False
        taken.add(expert_id)
        employers.add(employer)
        return True

    out: dict[str, Any] = {}
    for slot in sorted((Slot.of(w) for w in wanted), key=lambda s: s.specialty):
        key = selection.key_string([seed, slot.specialty])
        accepted, skipped = selection.select_filtered(
            key, lists.get(slot.specialty, []), slot.seats + slot.backups, accept, hash_name=hash_name
        )
        ids = [item[0] for item in accepted]
        out[slot.specialty] = {
            "seats": ids[: slot.seats],
            "backups": ids[slot.seats :],
            "skipped": [item[0] for item in skipped],
        }
    return out


def pending_round(draw: ExpertDraw) -> DrawRound | None:
    return next((r for r in draw.rounds if r.status == RoundStatus.COMMITTED), None)


def witness(draw: ExpertDraw, entropy: str, *, actor: User) -> DrawRound:
    """The regulator's witness entropy; the server then reveals its randomness and the panel is drawn."""
    entropy = (entropy or "").strip()
    if len(entropy) < MIN_ENTROPY_CHARS or len(entropy) > 200:
        raise DomainError(
            _("Enter at least 6 characters of witness entropy (e.g. dice rolls)."),
            errors={"entropy": [_("At least 6 characters, at most 200.")]},
        )
    from .permissions import can_witness

    if not can_witness(actor, draw):  # jurisdiction: the regulator of the section's industry only
        raise NotFound(_("Not found."))
    _lock(draw)
    _ensure_section_not_suspended(db.session.get(Section, draw.section_id))
    rnd = pending_round(draw)
    if rnd is None or draw.status != DrawStatus.AWAITING_WITNESS:
        raise Conflict(_("This draw is not waiting for a witness."))
    witnessed_before = rnd.witness_entropy is not None
    written = db.session.execute(
        update(DrawRound)
        .where(DrawRound.id == rnd.id, DrawRound.status == RoundStatus.COMMITTED.value)
        .values(witness_entropy=entropy, witness_id=actor.id, witnessed_at=now())
        .returning(DrawRound.witness_entropy, DrawRound.witness_id, DrawRound.witnessed_at)
        .execution_options(synchronize_session=False)
    ).one_or_none()
    if written is None or witnessed_before:
        raise Conflict(_("This round has already been witnessed."))
    for key, value in zip(("witness_entropy", "witness_id", "witnessed_at"), written, strict=True):
        set_committed_value(rnd, key, value)  # what the update wrote, as a refresh would read it
    with audit.batch():  # witness, reveal and invitation leaves: written together
        _reveal(draw, rnd, entropy, actor=actor)
    return rnd


def _reveal(draw: ExpertDraw, rnd: DrawRound, entropy: str, *, actor: User) -> None:
    """The witness leaf, the reveal (seed, selection, seats) and the first invitations."""
    audit.record(
        "experts:draw:witness",
        actor=actor,
        object_type="expert_draw_round",
        object_id=rnd.id,
        payload={"draw_id": draw.id, "round": rnd.number, "witness_entropy": entropy},
    )
    server_random = decrypt_at_rest(rnd.server_random_enc, purpose=RANDOM_PURPOSE)
    seed = compute_seed(server_random, entropy, rnd.pool_digest, draw.section_id)
    pool = _frozen_pool(draw, rnd)
    result = select_panel(pool, rnd.wanted, seed, hash_name=_hash_of(rnd))
    rnd.server_random = server_random.hex()
    rnd.seed = seed
    rnd.result = canonical(result)
    rnd.status = RoundStatus.REVEALED.value
    audit.record(
        "experts:draw:reveal",
        actor=actor,
        object_type="expert_draw_round",
        object_id=rnd.id,
        payload={
            "draw_id": draw.id,
            "round": rnd.number,
            "server_random": rnd.server_random,
            "seed": seed,
            "algorithm": rnd.algorithm,
            "result_digest": draw_record.selection_digest(rnd, result, pool, by_position=True),
            "picked": {c: len(v["seats"]) + len(v["backups"]) for c, v in result.items()},
            "status": DrawStatus.DRAWN.value,
        },
    )
    audit.checkpoint_soon("draw reveal")  # the public can hold the platform to the result at once
    new_seats: list[PanelSeat] = []
    for code, picks in result.items():
        for rank, expert_id in enumerate(picks["seats"] + picks["backups"]):
            kind = SeatKind.SEAT if rank < len(picks["seats"]) else SeatKind.BACKUP
            seat = PanelSeat(
                draw_id=draw.id,
                round_number=rnd.number,
                expert_id=expert_id,
                specialty_code=code,
                kind=kind.value,
                rank=rank,
                status=SeatStatus.STANDBY.value,
            )
            new_seats.append(seat)
    db.session.add_all(new_seats)
    db.session.flush()  # the seats exist before vacancies are filled from them
    if "seats" in draw.__dict__:  # loaded (a draw requested in this transaction): add them, no reload
        set_committed_value(
            draw,
            "seats",
            sorted([*draw.seats, *new_seats], key=lambda s: (s.specialty_code, s.round_number, s.rank)),
        )
    transition(draw, DrawStatus.DRAWN, actor=actor, record=False)  # stated in the reveal leaf
    fill_vacancies(draw, actor=actor, locked=True)  # the lock taken above holds until the commit


def _cas(stmt: Any) -> int:
    """Run a conditional UPDATE (compare-and-set) and return how many rows it changed: 1 means this
    transaction won, 0 that another one got there first."""
    result = db.session.execute(stmt)
    return int(getattr(result, "rowcount", 0))


def _hash_of(rnd: DrawRound) -> str:
    return rnd.algorithm.removeprefix("rfc3797-")


def _lock(draw: ExpertDraw) -> None:
    """Serialize changes to one draw: a row lock on PostgreSQL (SQLite writers are serialized by BEGIN
    IMMEDIATE), taken by the refresh that reads the state another transaction may have committed meanwhile
    (one ``SELECT … FOR UPDATE``). A draw this transaction inserted is neither: nobody else can see it."""
    if _inserted_here(draw):
        return
    db.session.refresh(draw, with_for_update=True)


# --- invitations, answers, backups ------------------------------------------------------------------------


def _invite(seats: list[PanelSeat], draw: ExpertDraw) -> list[dict[str, Any]]:
    """Call seats or standby backups, all in one conditional update, so a backup is called at most once.
    Returns what the audit leaf of the invitations records for each seat this transaction won, in the
    order given (a seat another transaction called meanwhile is left out)."""
    if not seats:
        return []
    tokens = {seat.id: secrets.token_urlsafe(32) for seat in seats}
    hashes = {seat_id: hashlib.sha256(token.encode()).digest() for seat_id, token in tokens.items()}
    answer_time = now() + dt.timedelta(minutes=int(setting("EXPERT_RESPONSE_MINUTES")))
    # before the evaluation: answer by its start at the latest; a replacement called once the evaluation
    # has begun (an absent or recused member) gets the full answer time
    respond_by = (
        min(answer_time, draw.evaluation_starts_at) if draw.evaluation_starts_at > now() else answer_time
    )
    won = set(
        db.session.scalars(
            update(PanelSeat)
            .where(PanelSeat.id.in_(list(hashes)), PanelSeat.status == SeatStatus.STANDBY.value)
            .values(
                status=SeatStatus.INVITED.value,
                invited_at=now(),
                respond_by=respond_by,
                token_hash=case(hashes, value=PanelSeat.id),
            )
            .returning(PanelSeat.id)
            .execution_options(synchronize_session=False)
        )
    )
    from app.core.web import public_base_url

    base = public_base_url()
    when = draw.evaluation_starts_at.astimezone(dt.timezone(dt.timedelta(hours=8))).strftime("%Y-%m-%d %H:%M")
    subject = _("Evaluation invitation")
    called: list[dict[str, Any]] = []
    for seat in seats:
        if seat.id not in won:
            continue
        # What the UPDATE wrote, without another round trip (and without marking the row dirty).
        for key, value in (
            ("status", SeatStatus.INVITED.value),
            ("invited_at", now()),
            ("respond_by", respond_by),
            ("token_hash", hashes[seat.id]),
        ):
            set_committed_value(seat, key, value)
        expert = seat.expert
        body = _(
            "You have been drawn for an evaluation starting %(when)s (China Standard Time). Confirm or "
            "decline before the deadline: %(link)s",
            when=when,
            link=f"{base}/experts/answer/{tokens[seat.id]}",
        )
        if expert.phone:
            outbox.enqueue(
                channel="sms", recipient=expert.phone, subject=subject, body=body, user_id=expert.user_id
            )
        if expert.email:
            outbox.enqueue(
                channel="email", recipient=expert.email, subject=subject, body=body, user_id=expert.user_id
            )
        if expert.user_id:
            outbox.enqueue(
                channel="inbox",
                recipient=str(expert.user_id),
                subject=subject,
                body=body,
                user_id=expert.user_id,
            )
        called.append(
            {
                "seat_id": seat.id,
                "kind": seat.kind,
                "specialty": seat.specialty_code,
                "respond_by": respond_by,
            }
        )
    return called


def fill_vacancies(draw: ExpertDraw, *, actor: User | None, locked: bool = False) -> None:
    """Call standby backups for every seat not held (invited or confirmed); when a specialty has no backup
    left, freeze a supplementary round with fresh randomness for the missing seats. ``locked``: the caller
    took the draw's lock in this transaction (and read it then), so nobody else has changed it since."""
    if not locked:
        _lock(draw)
    if draw.status == DrawStatus.CANCELLED or pending_round(draw) is not None:
        return
    missing: list[Slot] = []
    invited: list[dict[str, Any]] = []
    # Load the drawn experts in one query (the invitations read their contact details). Held in a local:
    # the identity map is weak, and unreferenced rows would be collected and lazy-loaded again one by one.
    drawn = db.session.scalars(select(Expert).where(Expert.id.in_([s.expert_id for s in draw.seats]))).all()
    # Per specialty: its vacancies and its standby seats in the order they are called.
    wanted: list[tuple[Slot, list[int], list[PanelSeat], list[dict[str, Any]]]] = []
    for slot in (Slot.of(c) for c in draw.composition):
        seats = [s for s in draw.seats if s.specialty_code == slot.specialty]
        holding = sum(1 for s in seats if s.status in (SeatStatus.INVITED, SeatStatus.CONFIRMED))
        standby = sorted(
            (s for s in seats if s.status == SeatStatus.STANDBY),
            key=lambda s: (s.round_number, s.kind != SeatKind.SEAT, s.rank),
        )
        wanted.append((slot, [slot.seats - holding], standby, []))
    # All specialties' next standby seats in one conditional update; only a seat another transaction
    # called meanwhile makes another pass (with the next ones). The invitations' messages wait in the
    # session and go out in one batch at the next flush (new rows: the UPDATE cannot depend on them).
    with db.session.no_autoflush:
        while True:
            batch = {id(standby): standby[: max(0, left[0])] for _slot, left, standby, _got in wanted}
            calls = [seat for seats in batch.values() for seat in seats]
            if not calls:
                break
            won = {c["seat_id"]: c for c in _invite(calls, draw)}
            for _slot, left, standby, got in wanted:
                tried = batch[id(standby)]
                del standby[: len(tried)]
                got.extend(won[s.id] for s in tried if s.id in won)
                left[0] -= sum(1 for s in tried if s.id in won)
    for slot, left, _standby, got in wanted:
        invited.extend(got)
        if left[0] > 0:
            missing.append(Slot(slot.specialty, left[0], slot.backups))
    del drawn
    if invited:  # one leaf for all invitations of this step
        audit.record(
            "experts:seat:invite",
            actor=actor,
            object_type="expert_draw",
            object_id=draw.id,
            payload={"invited": invited},
        )
    if missing:
        rnd = open_round(draw, missing, _parties_of(draw), actor=actor, strict=False)
        if rnd is not None:
            transition(draw, DrawStatus.AWAITING_WITNESS, actor=actor, reason="supplementary round")
            audit.record(
                "experts:draw:supplement",
                actor=actor,
                object_type="expert_draw",
                object_id=draw.id,
                payload={"round": rnd.number, "missing": [m.as_dict() for m in missing]},
            )
        else:
            audit.record(
                "experts:draw:shortfall",
                actor=actor,
                object_type="expert_draw",
                object_id=draw.id,
                payload={"missing": [m.as_dict() for m in missing]},
            )
        return
    all_confirmed = sum(1 for s in draw.seats if s.status == SeatStatus.CONFIRMED) >= draw.pool_seats
    transition(draw, DrawStatus.CONFIRMED if all_confirmed else DrawStatus.DRAWN, actor=actor)


def _parties_of(draw: ExpertDraw) -> SectionParties:
    from app.projects.models import Section

    section = db.session.get(Section, draw.section_id)
    if section is None:  # pragma: no cover - the foreign key keeps the section
        return SectionParties(draw.tenderer_org_id, draw.agency_org_id, frozenset(), None)
    return section_parties(section)


def respond(seat: PanelSeat, *, accept: bool, reason: str = "", actor: User | None) -> None:
    """The expert confirms or declines (a reason is required). Only an invited seat can answer, once."""
    reason = (reason or "").strip()
    if not accept and not reason:
        raise DomainError(_("Give a reason for declining."), errors={"reason": [_("Required.")]})
    draw = seat.draw
    _lock(draw)
    new = SeatStatus.CONFIRMED if accept else SeatStatus.DECLINED
    won = _cas(
        update(PanelSeat)
        .where(PanelSeat.id == seat.id, PanelSeat.status == SeatStatus.INVITED.value)
        .values(
            status=new.value,
            responded_at=now(),
            decline_reason=None if accept else reason[:500],
            token_hash=None,
        )
        .execution_options(synchronize_session=False)
    )
    if won != 1:
        raise Conflict(_("This invitation has already been answered or has expired."))
    db.session.refresh(seat)
    audit.record(
        "experts:seat:confirm" if accept else "experts:seat:decline",
        actor=actor,
        object_type="expert_draw",
        object_id=draw.id,
        payload={"seat_id": seat.id, "reason": reason[:500]},
    )
    fill_vacancies(draw, actor=actor)


def replace_seats(
    draw: ExpertDraw,
    seats: list[tuple[PanelSeat, str, list[str]]],
    *,
    status: SeatStatus = SeatStatus.RECUSED,
    actor: User | None,
) -> int:
    """Take seats off the panel for a statutory reason — a conflict with a party found at the opening or
    declared at sign-in (回避), or absence (缺席) — recording the reason on each seat, then refill them as
    any vacancy is refilled: the next standby backup of the specialty in the drawn order, and when none is
    left a supplementary round with fresh randomness that a regulator witnesses. Replacements come only
    from the same random procedure (条例 Arts. 46, 48); nobody picks them. A standby backup can be recused
    too, so it is never called. ``seats`` are (seat, reason as recorded, reason codes); the audit leaf
    carries the codes and seat ids only (the panel stays sealed). Returns how many seats changed."""
    if status not in REPLACED_SEAT_STATUSES:
        raise ValueError(f"not a replacement status: {status}")
    _lock(draw)
    if draw.status == DrawStatus.CANCELLED:
        raise Conflict(_("This draw is cancelled."))
    at = now()
    changed: list[dict[str, Any]] = []
    for seat, reason, codes in seats:
        won = _cas(
            update(PanelSeat)
            .where(
                PanelSeat.id == seat.id,
                PanelSeat.status.in_(
                    [SeatStatus.STANDBY.value, SeatStatus.INVITED.value, SeatStatus.CONFIRMED.value]
                ),
            )
            .values(
                status=status.value, recusal_reason=(reason or "-")[:2000], replaced_at=at, token_hash=None
            )
            .execution_options(synchronize_session=False)
        )
        if won == 1:
            db.session.refresh(seat)
            changed.append(
                {"seat_id": seat.id, "kind": seat.kind, "specialty": seat.specialty_code, "reasons": codes}
            )
    if not changed:
        return 0
    audit.record(
        "experts:seat:recuse" if status is SeatStatus.RECUSED else "experts:seat:absent",
        actor=actor,
        object_type="expert_draw",
        object_id=draw.id,
        payload={"seats": changed},
    )
    fill_vacancies(draw, actor=actor)
    return len(changed)


def replace_seat(
    seat: PanelSeat, *, reason: str, actor: User | None, status: SeatStatus = SeatStatus.RECUSED
) -> None:
    """One seat (the evaluation domain's entry point: a conflict declared at sign-in, an absent member)."""
    replace_seats(seat.draw, [(seat, reason, [status.value])], status=status, actor=actor)


def seat_for_token(token: str) -> PanelSeat | None:
    if not token or len(token) > 100:
        return None
    digest = hashlib.sha256(token.encode()).digest()
    return db.session.scalar(select(PanelSeat).where(PanelSeat.token_hash == digest))


def expire_overdue(*, at: dt.datetime | None = None) -> int:
    """Invited seats past their deadline become ``no_answer``; their backups are called."""
    at = at or now()
    overdue = db.session.scalars(
        select(PanelSeat).where(PanelSeat.status == SeatStatus.INVITED.value, PanelSeat.respond_by < at)
    ).all()
    expired = 0
    touched: dict[int, ExpertDraw] = {}
    for seat in overdue:
        won = _cas(
            update(PanelSeat)
            .where(PanelSeat.id == seat.id, PanelSeat.status == SeatStatus.INVITED.value)
            .values(status=SeatStatus.NO_ANSWER.value, token_hash=None)
            .execution_options(synchronize_session=False)
        )
        if won == 1:
            expired += 1
            db.session.refresh(seat)
            touched[seat.draw_id] = seat.draw
            audit.record(
                "experts:seat:no_answer",
                object_type="expert_draw",
                object_id=seat.draw_id,
                payload={"seat_id": seat.id},
            )
    for draw in touched.values():
        fill_vacancies(draw, actor=None)
    return expired


def cancel(draw: ExpertDraw, *, reason: str, actor: User) -> None:
    reason = (reason or "").strip()
    if not reason:
        raise DomainError(_("Give a reason."), errors={"reason": [_("Required.")]})
    _lock(draw)
    transition(draw, DrawStatus.CANCELLED, actor=actor, reason=reason)
    for seat in draw.seats:
        if seat.status in (SeatStatus.INVITED, SeatStatus.STANDBY, SeatStatus.CONFIRMED):
            notify = seat.status != SeatStatus.STANDBY
            seat.status = SeatStatus.RELEASED.value
            seat.token_hash = None
            if notify and seat.expert.phone:
                outbox.enqueue(
                    channel="sms",
                    recipient=seat.expert.phone,
                    subject=_("Evaluation cancelled"),
                    body=_("The evaluation you were invited to has been cancelled."),
                    user_id=seat.expert.user_id,
                )


# --- verification ------------------------------------------------------------------------------------------


@dataclass
class Check:
    name: str
    recorded: str
    recomputed: str

    @property
    def ok(self) -> bool:
        return self.recorded == self.recomputed


@dataclass
class RoundReport:
    number: int
    status: str
    checks: list[Check]

    @property
    def ok(self) -> bool:
        return all(c.ok for c in self.checks)


@dataclass
class DrawReport:
    draw_id: int
    rounds: list[RoundReport]

    @property
    def ok(self) -> bool:
        return bool(self.rounds) and all(r.ok for r in self.rounds)


def _leaves(rnd: DrawRound) -> dict[str, dict[str, Any]]:
    rows = db.session.execute(
        select(AuditLeaf.idx, AuditLeaf.action, AuditLeaf.payload)
        .where(AuditLeaf.object_type == "expert_draw_round", AuditLeaf.object_id == str(rnd.id))
        .order_by(AuditLeaf.idx)
    ).all()
    out: dict[str, dict[str, Any]] = {}
    for idx, action, payload in rows:
        data = json.loads(payload)
        data["_idx"] = idx
        out.setdefault(action.rsplit(":", 1)[-1], data)
    return out


def verify_round(draw: ExpertDraw, rnd: DrawRound) -> RoundReport:
    leaves = _leaves(rnd)
    freeze, commit = leaves.get("freeze", {}), leaves.get("commit", {})
    pool_digest = sha256_hex(draw_record.digest_input(rnd))
    checks = [
        Check("pool digest (stored)", rnd.pool_digest, pool_digest),
        Check("pool digest (audit log)", str(freeze.get("pool_digest", "missing")), pool_digest),
        Check("wanted seats (audit log)", canonical(freeze.get("wanted")), canonical(rnd.wanted)),
    ]
    try:  # re-canonicalized: an edit that keeps the digest text but not the canonical form is caught too
        if rnd.public_exclusions is not None:
            excl_digest = sha256_hex(
                canonical([[str(e), str(r)] for e, r in json.loads(rnd.public_exclusions)])
            )
        else:
            excl = [(int(e), str(r)) for e, r in json.loads(rnd.exclusions)]
            excl_digest = sha256_hex(exclusions_canonical(excl))
    except (TypeError, ValueError):
        excl_digest = "unreadable"
    if rnd.public_pool is not None:
        try:
            same = draw_record.matches_frozen(rnd)
        except (TypeError, ValueError, KeyError):
            same = False
        checks.append(
            Check(
                "published pool and exclusions are the frozen ones, pseudonymized",
                "match",
                "match" if same else "differ",
            )
        )
    checks.append(Check("exclusions digest (stored)", rnd.exclusions_digest, excl_digest))
    checks.append(
        Check("exclusions digest (audit log)", str(freeze.get("exclusions_digest", "missing")), excl_digest)
    )
    checks.append(Check("commitment (audit log)", str(commit.get("commitment", "missing")), rnd.commitment))
    order_ok = "freeze < commit" if freeze and commit and freeze["_idx"] < commit["_idx"] else "out of order"
    checks.append(Check("pool frozen before randomness", "freeze < commit", order_ok))
    try:
        pool = json.loads(rnd.pool)
    except ValueError:
        pool = {}
    checks.append(
        Check(
            "pool names this draw",
            f"{draw.id}/{draw.section_id}",
            f"{pool.get('draw')}/{pool.get('section')}",
        )
    )
    if rnd.status == RoundStatus.REVEALED:
        wit, rev = leaves.get("witness", {}), leaves.get("reveal", {})
        server_random = bytes.fromhex(rnd.server_random or "")
        checks.append(Check("SHA-256(server_random) = commitment", rnd.commitment, sha256_hex(server_random)))
        checks.append(
            Check(
                "server_random (audit log)", str(rev.get("server_random", "missing")), rnd.server_random or ""
            )
        )
        checks.append(
            Check(
                "witness entropy (audit log)",
                str(wit.get("witness_entropy", "missing")),
                rnd.witness_entropy or "",
            )
        )
        wit_order = "commit < witness < reveal"
        got_order = (
            wit_order
            if commit and wit and rev and commit["_idx"] < wit["_idx"] < rev["_idx"]
            else "out of order"
        )
        checks.append(Check("randomness committed before the witness", wit_order, got_order))
        seed = compute_seed(server_random, rnd.witness_entropy or "", pool_digest, draw.section_id)
        checks.append(Check("seed (stored)", rnd.seed or "", seed))
        checks.append(Check("seed (audit log)", str(rev.get("seed", "missing")), seed))
        recomputed = canonical(select_panel(pool, rnd.wanted, seed, hash_name=_hash_of(rnd))) if pool else ""
        checks.append(Check("selection (stored)", rnd.result or "", recomputed))
        checks.append(
            Check(
                "selection digest (audit log)",
                str(rev.get("result_digest", "missing")),
                _selection_digest_or_blank(rnd, recomputed),
            )
        )
        seats = [s for s in draw.seats if s.round_number == rnd.number]
        stored: dict[str, dict[str, list[int]]] = defaultdict(lambda: {"seats": [], "backups": []})
        for s in sorted(seats, key=lambda s: (s.specialty_code, s.rank)):
            stored[s.specialty_code]["seats" if s.kind == SeatKind.SEAT else "backups"].append(s.expert_id)
        expected = {
            c: {"seats": v["seats"], "backups": v["backups"]}
            for c, v in json.loads(recomputed or "{}").items()
        }
        expected = {c: v for c, v in expected.items() if v["seats"] or v["backups"]}
        checks.append(Check("panel seats match the selection", canonical(dict(stored)), canonical(expected)))
    return RoundReport(number=rnd.number, status=rnd.status, checks=checks)


def _selection_digest_or_blank(rnd: DrawRound, recomputed: str) -> str:
    try:
        return draw_record.selection_digest(rnd, json.loads(recomputed)) if recomputed else ""
    except (KeyError, ValueError, TypeError):  # a public pool that no longer lines up with the private one
        return "unreadable"


def verify_draw(draw: ExpertDraw, *, actor: User | None = None) -> DrawReport:
    report = DrawReport(draw_id=draw.id, rounds=[verify_round(draw, r) for r in draw.rounds])
    if actor is not None:
        audit.record(
            "experts:draw:verify",
            actor=actor,
            object_type="expert_draw",
            object_id=draw.id,
            payload={"ok": report.ok},
        )
    return report
