"""Pool rules: registration, admission and discipline (management office), the expert's own contact,
leave and declared conflicts, after-service ratings and credit, and the parties of a section that the
draw must keep off the panel. Services take the acting user explicitly and never read the request."""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from flask import current_app
from flask_babel import gettext as _
from sqlalchemy import select

from app.accounts.models import Organization, User
from app.core import audit
from app.core.clock import now, to_local
from app.core.crypto import batches, decrypt_at_rest, derived_keys, encrypt_at_rest, reencrypt_at_rest
from app.core.db import db
from app.core.errors import Conflict, DomainError, NotFound
from app.core.labels import label
from app.core.permissions import Role

from .enums import SENIOR_TITLES, ConflictRelation, ExpertStatus, TitleLevel
from .models import (
    Expert,
    ExpertConflict,
    ExpertCreditEvent,
    ExpertLeave,
    ExpertSpecialty,
    ExpertStatusChange,
    PanelSeat,
    Specialty,
)

ID_PURPOSE = "expert.id_number"
MIN_YEARS = 8

# --- configuration with defaults (app config wins) ----------------------------------------------------

DEFAULTS: dict[str, Any] = {
    "EXPERT_MAX_AGE": 70,  # automatic retirement from draws (Chongqing practice; 26号令 sets an age rule)
    "EXPERT_RECENT_DAYS": 30,  # not drawn again for the same tenderer within this many days
    "EXPERT_RESPONSE_MINUTES": 120,  # time an invited expert has to confirm
    "EXPERT_SUSPEND_BELOW": 60,  # credit score under which an expert is suspended automatically
    "EXPERT_LOCAL_REGION": "南通市",
    "EXPERT_DRAW_HASH": "sha256",
    # An employment that ended within this many years before the evaluation day still keeps the expert off
    # that organization's panels (条例 Art. 46; 采购条例 Art. 9 says three years).
    "EXPERT_FORMER_EMPLOYER_YEARS": 3,
}


def setting(name: str) -> Any:
    return current_app.config.get(name, DEFAULTS[name])


# --- identity ---------------------------------------------------------------------------------------------

_ID_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
_ID_CHECK = "10X98765432"
_ID_RE = re.compile(r"^\d{17}[\dX]$")


def normalize_id_number(raw: str) -> str:
    return re.sub(r"\s", "", raw or "").upper()


def id_number_problem(id_number: str) -> str | None:
    """Why a resident ID number (GB 11643-1999, 18 digits) is invalid, or None."""
    if not _ID_RE.match(id_number):
        return _("An ID number has 17 digits and a check digit (0–9 or X).")
    total = sum(int(d) * w for d, w in zip(id_number[:17], _ID_WEIGHTS, strict=True))
    if _ID_CHECK[total % 11] != id_number[17]:
        return _("The check digit of the ID number is wrong.")
    if birth_date_from_id(id_number) is None:
        return _("The ID number does not contain a valid date of birth.")
    return None


def birth_date_from_id(id_number: str) -> dt.date | None:
    try:
        return dt.date(int(id_number[6:10]), int(id_number[10:12]), int(id_number[12:14]))
    except ValueError:
        return None


def id_number_checksum(first17: str) -> str:
    total = sum(int(d) * w for d, w in zip(first17, _ID_WEIGHTS, strict=True))
    return first17 + _ID_CHECK[total % 11]


def id_number_hash(id_number: str) -> bytes:
    return id_number_hashes(id_number)[0]


def id_number_hashes(id_number: str) -> list[bytes]:
    """The lookup hash under the current data key, then under each retired one (until the rotation)."""
    plain = normalize_id_number(id_number).encode()
    return [hmac.new(key, plain, hashlib.sha256).digest() for key in derived_keys(f"{ID_PURPOSE}.hmac")]


def mask_id_number(id_number: str) -> str:
    return id_number[:4] + "*" * (len(id_number) - 8) + id_number[-4:]


def reveal_id_number(expert: Expert, *, actor: User) -> str:
    """The full ID number, for the management office; each reading is audited."""
    audit.record("experts:identity:read", actor=actor, object_type="expert", object_id=expert.id)
    return decrypt_at_rest(expert.id_number_enc, purpose=ID_PURPOSE).decode()


def set_identity(expert: Expert, id_number: str) -> None:
    id_number = normalize_id_number(id_number)
    expert.id_number_enc = encrypt_at_rest(id_number.encode(), purpose=ID_PURPOSE)
    expert.id_number_hash = id_number_hash(id_number)
    expert.id_number_masked = mask_id_number(id_number)


def find_by_id_number(id_number: str) -> Expert | None:
    return db.session.scalar(select(Expert).where(Expert.id_number_hash.in_(id_number_hashes(id_number))))


def rotate_identities(*, batch: int) -> tuple[int, int]:
    """Data key rotation: ID numbers re-encrypted and lookup hashes recomputed under the current key;
    returns (ID numbers changed, hashes changed)."""
    numbers = hashes = 0
    for experts in batches(select(Expert), Expert.id, batch):
        for expert in experts:
            token = reencrypt_at_rest(expert.id_number_enc, purpose=ID_PURPOSE)
            if token is not None:
                expert.id_number_enc = token
                numbers += 1
            digest = id_number_hash(decrypt_at_rest(expert.id_number_enc, purpose=ID_PURPOSE).decode())
            if digest != expert.id_number_hash:
                expert.id_number_hash = digest
                hashes += 1
    return numbers, hashes


def age_on(birth: dt.date, day: dt.date) -> int:
    return day.year - birth.year - ((day.month, day.day) < (birth.month, birth.day))


# --- registration -----------------------------------------------------------------------------------------


@dataclass
class ExpertData:
    """What a registration, an edit or one import row says about an expert."""

    name: str
    id_number: str
    title: str
    title_level: str
    years_of_practice: int
    employer_org_id: int
    region: str
    specialties: list[str]  # the first is the primary one
    phone: str = ""
    email: str | None = None
    entry_exception: bool = False
    exception_reason: str | None = None
    birth_date: dt.date | None = None
    errors: dict[str, list[str]] = field(default_factory=dict)


def entry_problems(title_level: str, years: int, exception: bool, reason: str | None) -> dict[str, list[str]]:
    """Admission rule (2003 暂行办法 Art. 7, kept by 26号令): ≥ 8 years and a senior title, unless the
    office admits the expert as an exception with a written reason."""
    if exception:
        if not (reason or "").strip():
            return {"exception_reason": [_("An exception needs a reason.")]}
        return {}
    errors: dict[str, list[str]] = {}
    if years < MIN_YEARS:
        errors["years_of_practice"] = [_("At least 8 years of practice, or mark an exception with a reason.")]
    if TitleLevel(title_level) not in SENIOR_TITLES:
        errors["title_level"] = [_("A senior title is required, or mark an exception with a reason.")]
    return errors


def validate(data: ExpertData, *, known_codes: set[str] | None = None) -> dict[str, list[str]]:
    errors: dict[str, list[str]] = {}
    if not data.name.strip():
        errors["name"] = [_("Required.")]
    problem = id_number_problem(normalize_id_number(data.id_number))
    if problem:
        errors["id_number"] = [problem]
    elif data.birth_date and data.birth_date != birth_date_from_id(normalize_id_number(data.id_number)):
        errors["birth_date"] = [_("The date of birth does not match the ID number.")]
    if data.title_level not in {t.value for t in TitleLevel}:
        errors["title_level"] = [_("Unknown title level.")]
    if data.years_of_practice < 0 or data.years_of_practice > 70:
        errors["years_of_practice"] = [_("Give the years of practice as a number from 0 to 70.")]
    if not data.specialties:
        errors["specialties"] = [_("At least one specialty code.")]
    else:
        codes = known_codes if known_codes is not None else _active_codes()
        unknown = [c for c in data.specialties if c not in codes]
        if unknown:
            errors["specialties"] = [_("Unknown specialty code(s): %(codes)s", codes=", ".join(unknown))]
        elif len(set(data.specialties)) != len(data.specialties):
            errors["specialties"] = [_("A specialty code is listed twice.")]
    if data.phone and not re.fullmatch(r"1\d{10}", data.phone):
        errors["phone"] = [_("A mobile number has 11 digits starting with 1.")]
    if data.email and not re.fullmatch(r"[^@\s]+@[^@\s]+\.[^@\s]+", data.email):
        errors["email"] = [_("Not an email address.")]
    if not data.region.strip():
        errors["region"] = [_("Required.")]
    if data.entry_exception and not (data.exception_reason or "").strip():
        errors["exception_reason"] = [_("An exception needs a reason.")]
    return errors


def _active_codes() -> set[str]:
    return set(db.session.scalars(select(Specialty.code).where(Specialty.is_active)))


def apply_data(expert: Expert, data: ExpertData) -> None:
    """Write validated data onto the expert (identity, profile and specialties; the first is primary)."""
    id_number = normalize_id_number(data.id_number)
    set_identity(expert, id_number)
    birth = birth_date_from_id(id_number)
    if birth is None:
        raise DomainError(_("The ID number does not contain a valid date of birth."))
    expert.name = data.name.strip()
    expert.birth_date = birth
    expert.title = data.title.strip()
    expert.title_level = data.title_level
    expert.years_of_practice = data.years_of_practice
    if expert.id is not None and expert.employer_org_id and expert.employer_org_id != data.employer_org_id:
        from .employment import record_employer_change

        record_employer_change(expert, expert.employer_org_id, data.employer_org_id)
    expert.employer_org_id = data.employer_org_id
    expert.region = data.region.strip()
    expert.phone = data.phone
    expert.email = data.email or None
    expert.entry_exception = data.entry_exception
    expert.exception_reason = (data.exception_reason or "").strip() or None
    wanted = list(data.specialties)
    current = {s.specialty_code: s for s in expert.specialties}
    for code, link in current.items():
        if code not in wanted:
            expert.specialties.remove(link)
    old_primary = next((c for c, link in current.items() if link.is_primary), None)
    if old_primary is not None and old_primary != wanted[0]:
        current[old_primary].is_primary = False
        db.session.flush()  # the partial unique index allows one primary: clear the old one first
    for i, code in enumerate(wanted):
        existing = current.get(code)
        if existing is None:
            expert.specialties.append(ExpertSpecialty(specialty_code=code, is_primary=i == 0))
        else:
            existing.is_primary = i == 0


def register(data: ExpertData, *, actor: User | None, user: User | None = None) -> Expert:
    """A new pool application (申请入库), entered by the office or by the expert's own account."""
    errors = validate(data)
    if db.session.get(Organization, data.employer_org_id) is None:
        errors["employer_org_id"] = [_("Unknown organization.")]
    if errors:
        raise DomainError(_("The expert was not registered; see the fields marked."), errors=errors)
    if find_by_id_number(data.id_number) is not None:
        raise Conflict(
            _("An expert with this ID number is already registered."), errors={"id_number": [_("Taken.")]}
        )
    expert = Expert(status=ExpertStatus.APPLICANT.value, user_id=user.id if user else None, specialties=[])
    apply_data(expert, data)
    db.session.add(expert)
    db.session.flush()  # the id goes into the history row and the audit leaf
    db.session.add(ExpertStatusChange(expert_id=expert.id, to_status=expert.status, reason="application"))
    audit.record(
        "experts:expert:apply",
        actor=actor,
        object_type="expert",
        object_id=expert.id,
        payload={"specialties": data.specialties, "employer_org_id": data.employer_org_id},
    )
    return expert


def update(expert: Expert, data: ExpertData, *, actor: User) -> Expert:
    errors = validate(data)
    if db.session.get(Organization, data.employer_org_id) is None:
        errors["employer_org_id"] = [_("Unknown organization.")]
    other = find_by_id_number(data.id_number)
    if other is not None and other.id != expert.id:
        errors["id_number"] = [_("Taken.")]
    if errors:
        raise DomainError(_("The expert was not saved; see the fields marked."), errors=errors)
    apply_data(expert, data)
    audit.record("experts:expert:update", actor=actor, object_type="expert", object_id=expert.id)
    return expert


# --- status: states as data -------------------------------------------------------------------------------

TRANSITIONS: dict[ExpertStatus, frozenset[ExpertStatus]] = {
    ExpertStatus.APPLICANT: frozenset({ExpertStatus.ACTIVE, ExpertStatus.REMOVED}),
    ExpertStatus.ACTIVE: frozenset({ExpertStatus.SUSPENDED, ExpertStatus.REMOVED}),
    ExpertStatus.SUSPENDED: frozenset({ExpertStatus.ACTIVE, ExpertStatus.REMOVED}),
    ExpertStatus.REMOVED: frozenset(),
}


def transition(expert: Expert, to: ExpertStatus | str, *, actor: User | None, reason: str) -> Expert:
    """Admit, reject, suspend, reinstate or remove; refuses illegal moves and writes the audit leaf."""
    to = ExpertStatus(to)
    current = ExpertStatus(expert.status)
    if to not in TRANSITIONS[current]:
        raise DomainError(
            _("An expert cannot go from %(a)s to %(b)s.", a=status_label(current), b=status_label(to))
        )
    reason = (reason or "").strip()
    if to is not ExpertStatus.ACTIVE and not reason:
        raise DomainError(_("Give a reason."), errors={"reason": [_("Required.")]})
    if current is ExpertStatus.APPLICANT and to is ExpertStatus.ACTIVE:
        problems = entry_problems(
            expert.title_level, expert.years_of_practice, expert.entry_exception, expert.exception_reason
        )
        if problems:
            raise DomainError(_("The entry requirements are not met."), errors=problems)
        expert.admitted_at = now()
    expert.status = to.value
    expert.status_reason = reason or None
    expert.status_changed_at = now()
    db.session.add(
        ExpertStatusChange(
            expert_id=expert.id,
            from_status=current.value,
            to_status=to.value,
            reason=reason,
            actor_id=actor.id if actor else None,
        )
    )
    audit.record(
        f"experts:expert:{to.value}",
        actor=actor,
        object_type="expert",
        object_id=expert.id,
        payload={"from": current.value, "to": to.value, "reason": reason},
    )
    return expert


def status_label(status: ExpertStatus | str) -> str:
    return label("expert_status", status)


def title_level_label(level: TitleLevel | str) -> str:
    return label("title_level", level)


def relation_label(relation: ConflictRelation | str) -> str:
    return label("conflict_relation", relation)


# --- the expert's own record ------------------------------------------------------------------------------


def expert_of(user: User) -> Expert | None:
    return db.session.scalar(select(Expert).where(Expert.user_id == user.id))


def update_contact(expert: Expert, *, phone: str, email: str | None, actor: User) -> None:
    errors: dict[str, list[str]] = {}
    if phone and not re.fullmatch(r"1\d{10}", phone):
        errors["phone"] = [_("A mobile number has 11 digits starting with 1.")]
    if email and not re.fullmatch(r"[^@\s]+@[^@\s]+\.[^@\s]+", email):
        errors["email"] = [_("Not an email address.")]
    if errors:
        raise DomainError(_("Contact details not saved."), errors=errors)
    expert.phone, expert.email = phone, email or None
    audit.record("experts:contact:update", actor=actor, object_type="expert", object_id=expert.id)


def add_leave(
    expert: Expert, starts_on: dt.date, ends_on: dt.date, note: str, *, actor: User | None
) -> ExpertLeave:
    """Leave (请假) says when the expert cannot sit: from today on. Draws already made are frozen, so a leave
    in the past changes nothing and is refused, like a mistyped year."""
    if starts_on < to_local(now()).date():
        msg = _("A leave starts today or later.")
        raise DomainError(msg, errors={"starts_on": [msg]})
    if ends_on < starts_on:
        raise DomainError(_("The leave ends before it starts."), errors={"ends_on": [_("Too early.")]})
    leave = ExpertLeave(expert_id=expert.id, starts_on=starts_on, ends_on=ends_on, note=note.strip()[:200])
    db.session.add(leave)
    db.session.flush()  # the id goes into the audit leaf
    audit.record(
        "experts:leave:add",
        actor=actor,
        object_type="expert",
        object_id=expert.id,
        payload={"leave_id": leave.id, "from": starts_on.isoformat(), "to": ends_on.isoformat()},
    )
    return leave


def remove_leave(leave: ExpertLeave, *, actor: User) -> None:
    audit.record(
        "experts:leave:remove",
        actor=actor,
        object_type="expert",
        object_id=leave.expert_id,
        payload={"leave_id": leave.id, "from": leave.starts_on.isoformat(), "to": leave.ends_on.isoformat()},
    )
    db.session.delete(leave)


def declare_conflict(
    expert: Expert, org: Organization, relation: ConflictRelation | str, note: str, *, actor: User
) -> ExpertConflict:
    conflict = ExpertConflict(
        expert_id=expert.id, org_id=org.id, relation=ConflictRelation(relation).value, note=note.strip()[:300]
    )
    db.session.add(conflict)
    db.session.flush()  # the id goes into the audit leaf
    audit.record(
        "experts:conflict:declare",
        actor=actor,
        object_type="expert",
        object_id=expert.id,
        payload={"conflict_id": conflict.id, "org_id": org.id, "relation": conflict.relation},
    )
    return conflict


def withdraw_conflict(conflict: ExpertConflict, *, actor: User) -> None:
    if conflict.withdrawn_at is not None:
        return
    conflict.withdrawn_at = now()
    audit.record(
        "experts:conflict:withdraw",
        actor=actor,
        object_type="expert",
        object_id=conflict.expert_id,
        payload={"conflict_id": conflict.id, "org_id": conflict.org_id},
    )


# --- credit: ratings and discipline ------------------------------------------------------------------------


def rating_delta(attendance: int, conduct: int, quality: int) -> int:
    """3 is neutral; attendance and conduct weigh double (range −10 … +10)."""
    return 2 * (attendance - 3) + 2 * (conduct - 3) + (quality - 3)


def _change_credit(expert: Expert, delta: int, event: ExpertCreditEvent, *, actor: User | None) -> None:
    expert.credit_score = max(0, min(100, expert.credit_score + delta))
    event.score_after = expert.credit_score
    db.session.add(event)
    threshold = int(setting("EXPERT_SUSPEND_BELOW"))
    if expert.credit_score < threshold and expert.status == ExpertStatus.ACTIVE:
        transition(
            expert,
            ExpertStatus.SUSPENDED,
            actor=None,
            reason=_(
                "Credit score %(score)d below %(threshold)d", score=expert.credit_score, threshold=threshold
            ),
        )


def rate(
    seat: PanelSeat, *, attendance: int, conduct: int, quality: int, note: str, actor: User
) -> ExpertCreditEvent:
    """After-service rating by center staff or the tenderer (one per rater, expert and draw)."""
    from . import permissions

    if not permissions.can_rate(actor, seat):
        raise NotFound(_("No such panel seat."))
    scores = {"attendance": attendance, "conduct": conduct, "quality": quality}
    bad = {k: [_("From 1 to 5.")] for k, v in scores.items() if not 1 <= v <= 5}
    if bad:
        raise DomainError(_("Scores run from 1 to 5."), errors=bad)
    exists = db.session.scalar(
        select(ExpertCreditEvent.id).where(
            ExpertCreditEvent.expert_id == seat.expert_id,
            ExpertCreditEvent.draw_id == seat.draw_id,
            ExpertCreditEvent.rater_id == actor.id,
        )
    )
    if exists is not None:
        raise Conflict(_("You have already rated this expert for this evaluation."))
    delta = rating_delta(attendance, conduct, quality)
    event = ExpertCreditEvent(
        expert_id=seat.expert_id,
        kind="rating",
        draw_id=seat.draw_id,
        rater_id=actor.id,
        rater_role=actor.role,
        delta=delta,
        note=note.strip()[:500],
        **scores,
    )
    _change_credit(seat.expert, delta, event, actor=actor)
    audit.record(
        "experts:rating:create",
        actor=actor,
        object_type="expert",
        object_id=seat.expert_id,
        payload={"draw_id": seat.draw_id, **scores, "delta": delta, "score_after": seat.expert.credit_score},
    )
    return event


def discipline(expert: Expert, *, deduction: int, note: str, actor: User) -> ExpertCreditEvent:
    """A deduction decided by the management office (e.g. 条例 71 warnings)."""
    if not 1 <= deduction <= 100:
        raise DomainError(_("Deduct between 1 and 100 points."), errors={"deduction": [_("From 1 to 100.")]})
    if not note.strip():
        raise DomainError(_("Give a reason."), errors={"note": [_("Required.")]})
    event = ExpertCreditEvent(
        expert_id=expert.id,
        kind="discipline",
        rater_id=actor.id,
        rater_role=actor.role,
        delta=-deduction,
        note=note.strip()[:500],
    )
    _change_credit(expert, -deduction, event, actor=actor)
    audit.record(
        "experts:credit:deduct",
        actor=actor,
        object_type="expert",
        object_id=expert.id,
        payload={"deduction": deduction, "note": note.strip()[:500], "score_after": expert.credit_score},
    )
    return event


# --- the parties of a section -----------------------------------------------------------------------------


@dataclass(frozen=True)
class SectionParties:
    """Organizations whose staff may not sit on the section's panel."""

    tenderer_org_id: int | None
    agency_org_id: int | None
    bidder_org_ids: frozenset[int]
    regulator_org_id: int | None


# The bidding domain registers a function section → bidder organization ids here (bids or registrations).
BIDDER_PROVIDERS: list[Callable[[Any], Iterable[int]]] = []


def section_parties(section: Any) -> SectionParties:
    project = section.project
    bidders: set[int] = set()
    for provider in BIDDER_PROVIDERS:
        bidders.update(int(x) for x in provider(section))
    return SectionParties(
        tenderer_org_id=project.owner_org_id,
        agency_org_id=project.agency_org_id,
        bidder_org_ids=frozenset(bidders),
        regulator_org_id=project.regulator_org_id,
    )


def is_party_user(user: User, parties: SectionParties) -> bool:
    """Tenderer, agency or bidder staff of the section."""
    if user.role == Role.TENDERER:
        return user.org_id in {parties.tenderer_org_id, parties.agency_org_id}
    if user.role == Role.BIDDER:
        return user.org_id in parties.bidder_org_ids
    return False


def local_day(instant: dt.datetime) -> dt.date:
    return to_local(instant).date()
