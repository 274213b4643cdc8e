"""Employment history (工作经历) of pool experts, and the links it makes between an expert and the parties
of a trade.

An expert may not evaluate the bids of an organization that employs them now or employed them within
the last three years (实施条例 Art. 46; 评标专家和评标专家库管理暂行办法 Art. 12; 政府采购法实施条例 Art. 9
sets the same three years for procurement). The current employer is ``Expert.employer_org_id``; earlier
employers are :class:`ExpertEmployment` rows with the last day of the employment. Changing an expert's
current employer files the previous one here, ending the day before the change. The look-back counts
back from the evaluation day (``EXPERT_FORMER_EMPLOYER_YEARS``, 3): an employment that ended on or after
that day still links the expert to the organization.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from flask_babel import gettext as _
from sqlalchemy import Select, func, or_, select

from app.accounts.models import Organization, User
from app.core import audit
from app.core.clock import now, to_local
from app.core.db import db
from app.core.errors import Conflict, DomainError

from .enums import EmploymentSource
from .models import Expert, ExpertEmployment


def lookback_years() -> int:
    from .services import setting

    return int(setting("EXPERT_FORMER_EMPLOYER_YEARS"))


def lookback_start(day: dt.date, years: int | None = None) -> dt.date:
    """The first day of the look-back window ending on ``day`` (29 February falls back to the 28th)."""
    years = lookback_years() if years is None else years
    try:
        return day.replace(year=day.year - years)
    except ValueError:
        return day.replace(year=day.year - years, day=28)


def today() -> dt.date:
    return to_local(now()).date()


@dataclass(frozen=True)
class Link:
    """Why an expert is tied to an organization: employed there now, or until ``ends_on``."""

    org_id: int
    current: bool
    ends_on: dt.date | None = None


def _parties(org_ids: Iterable[int | None]) -> tuple[set[int], dict[str, int], dict[str, int]]:
    """The organizations, and their names and credit codes (a past employer not registered on the platform
    when it was recorded is matched by either)."""
    orgs = {o for o in org_ids if o is not None}
    names: dict[str, int] = {}
    codes: dict[str, int] = {}
    if orgs:
        for org_id, name, code in db.session.execute(
            select(Organization.id, Organization.name, Organization.credit_code).where(
                Organization.id.in_(orgs)
            )
        ):
            names[name] = org_id
            if code:
                codes[code.upper()] = org_id
    return orgs, names, codes


def _matching(orgs: set[int], names: dict[str, int], codes: dict[str, int]) -> Any:
    clauses = [ExpertEmployment.org_id.in_(orgs)]
    if names:
        clauses.append(ExpertEmployment.org_name.in_(list(names)))
    if codes:
        clauses.append(ExpertEmployment.org_credit_code.in_(list(codes)))
    return or_(*clauses)


def links_to(expert_ids: Iterable[int], org_ids: Iterable[int | None], day: dt.date) -> dict[int, list[Link]]:
    """Expert id → the links to any of ``org_ids``: the current employer, or an employment that ended on
    or after the look-back start for ``day`` (by organization, or by its name or credit code)."""
    ids = list(set(expert_ids))
    orgs, names, codes = _parties(org_ids)
    out: dict[int, list[Link]] = {}
    if not ids or not orgs:
        return out
    for expert_id, employer in db.session.execute(
        select(Expert.id, Expert.employer_org_id).where(Expert.id.in_(ids), Expert.employer_org_id.in_(orgs))
    ):
        out.setdefault(expert_id, []).append(Link(employer, True))
    for row in db.session.scalars(
        select(ExpertEmployment)
        .where(
            ExpertEmployment.expert_id.in_(ids),
            ExpertEmployment.ends_on >= lookback_start(day),
            _matching(orgs, names, codes),
        )
        .order_by(ExpertEmployment.ends_on.desc())
    ):
        org_id = (
            row.org_id
            if row.org_id in orgs
            else names.get(row.org_name) or codes.get((row.org_credit_code or "").upper())
        )
        if org_id is not None:
            out.setdefault(row.expert_id, []).append(Link(org_id, False, row.ends_on))
    return out


def former_employees(org_ids: Iterable[int | None], day: dt.date) -> set[int]:
    """Experts whose employment at one of ``org_ids`` ended inside the look-back for ``day`` (the draw's
    exclusion list; the current employer is checked there on its own)."""
    stmt = former_employees_select(org_ids, day)
    return set() if stmt is None else set(db.session.scalars(stmt))


def former_employees_select(org_ids: Iterable[int | None], day: dt.date) -> Select[int] | None:
    """:func:`former_employees` as one statement (the organizations' names and credit codes read by
    subqueries), for a caller that sends it with others; None when no organization is given."""
    orgs = {o for o in org_ids if o is not None}
    if not orgs:
        return None
    of_orgs = Organization.id.in_(orgs)
    names = select(Organization.name).where(of_orgs)
    codes = select(func.upper(Organization.credit_code)).where(
        of_orgs, Organization.credit_code.is_not(None), Organization.credit_code != ""
    )
    return select(ExpertEmployment.expert_id).where(
        ExpertEmployment.ends_on >= lookback_start(day),
        or_(
            ExpertEmployment.org_id.in_(orgs),
            ExpertEmployment.org_name.in_(names),
            ExpertEmployment.org_credit_code.in_(codes),
        ),
    )


def describe(link: Link, org_name: str) -> str:
    """The recorded reason, in words."""
    if link.current:
        return _("employed by %(org)s", org=org_name)
    assert link.ends_on is not None
    return _(
        "employed by %(org)s until %(day)s (within %(n)d years)",
        org=org_name,
        day=link.ends_on.isoformat(),
        n=lookback_years(),
    )


def resolve_org(text: str) -> Organization | None:
    """An organization by unified social credit code or exact name (how the import names employers)."""
    text = (text or "").strip()
    if not text:
        return None
    return db.session.scalar(
        select(Organization)
        .where(or_(Organization.credit_code == text.upper(), Organization.name == text))
        .order_by(Organization.id)
        .limit(1)
    )


def _problems(starts_on: dt.date | None, ends_on: dt.date | None) -> dict[str, list[str]]:
    errors: dict[str, list[str]] = {}
    if ends_on is None:
        errors["ends_on"] = [_("Give the last day of the employment.")]
    elif ends_on > today():
        errors["ends_on"] = [
            _("A past employment ends today at the latest; the current one is the employer.")
        ]
    if starts_on is not None and ends_on is not None and starts_on > ends_on:
        errors["starts_on"] = [_("The employment ends before it starts.")]
    return errors


_CREDIT_CODE = re.compile(r"^[0-9A-Z]{18}$")


def add(
    expert: Expert,
    *,
    org: Organization | None,
    name: str = "",
    starts_on: dt.date | None,
    ends_on: dt.date | None,
    note: str = "",
    source: EmploymentSource | str = EmploymentSource.MANUAL,
    actor: User | None,
) -> ExpertEmployment:
    """Record a past employment: of a registered organization, or of one known only by ``name`` (or
    unified social credit code), matched when it registers. Refused with the reasons when incomplete or
    already recorded."""
    errors = _problems(starts_on, ends_on)
    name = (name or "").strip()
    if org is None and not name:
        errors["organization"] = [_("Name the organization or give its unified social credit code.")]
    if errors:
        raise DomainError(_("The employment was not recorded; see the fields marked."), errors=errors)
    assert ends_on is not None
    if org is not None:
        org_name, code = org.name, (org.credit_code or None)
    elif _CREDIT_CODE.match(name.upper()):
        org_name, code = name.upper(), name.upper()
    else:
        org_name, code = name[:200], None
    exists = db.session.scalar(
        select(ExpertEmployment.id).where(
            ExpertEmployment.expert_id == expert.id,
            ExpertEmployment.org_name == org_name,
            ExpertEmployment.ends_on == ends_on,
        )
    )
    if exists is not None:
        raise Conflict(_("This employment is already recorded."))
    row = ExpertEmployment(
        expert_id=expert.id,
        org_id=org.id if org is not None else None,
        org_name=org_name,
        org_credit_code=code,
        starts_on=starts_on,
        ends_on=ends_on,
        source=EmploymentSource(source).value,
        note=(note or "").strip()[:300],
        created_by=actor.id if actor else None,
    )
    db.session.add(row)
    db.session.flush()  # the id goes into the audit leaf
    audit.record(
        "experts:employment:add",
        actor=actor,
        object_type="expert",
        object_id=expert.id,
        payload={
            "employment_id": row.id,
            "org_id": row.org_id,
            "org_name": org_name,
            "starts_on": starts_on.isoformat() if starts_on else None,
            "ends_on": ends_on.isoformat(),
            "source": row.source,
        },
    )
    return row


def remove(row: ExpertEmployment, *, actor: User) -> None:
    audit.record(
        "experts:employment:remove",
        actor=actor,
        object_type="expert",
        object_id=row.expert_id,
        payload={
            "employment_id": row.id,
            "org_id": row.org_id,
            "org_name": row.org_name,
            "ends_on": row.ends_on.isoformat(),
        },
    )
    db.session.delete(row)


def record_employer_change(expert: Expert, old_org_id: int, new_org_id: int) -> ExpertEmployment | None:
    """The current employer changes: the old one becomes a past employment ending yesterday (local date).
    Recorded with the caller's own audit leaf (the expert update or the import)."""
    if expert.id is None or not old_org_id or old_org_id == new_org_id:
        return None
    ends_on = today() - dt.timedelta(days=1)
    old = db.session.get(Organization, old_org_id)
    if old is None:
        return None
    exists = db.session.scalar(
        select(ExpertEmployment.id).where(
            ExpertEmployment.expert_id == expert.id,
            ExpertEmployment.org_name == old.name,
            ExpertEmployment.ends_on >= ends_on,
        )
    )
    if exists is not None:
        return None
    row = ExpertEmployment(
        expert_id=expert.id,
        org_id=old.id,
        org_name=old.name,
        org_credit_code=old.credit_code or None,
        ends_on=ends_on,
        source=EmploymentSource.EMPLOYER_CHANGE.value,
        note="",
    )
    db.session.add(row)
    return row


# -- the import's former-employers column ------------------------------------------------------------------

_ENTRY = re.compile(
    r"^(?P<org>.+?)\s*[（(]\s*(?:(?P<start>\d{4}-\d{1,2}-\d{1,2})\s*(?:至|~|～|to)\s*)?"
    r"(?P<end>\d{4}-\d{1,2}-\d{1,2})\s*[）)]$"
)


@dataclass(frozen=True)
class ParsedEmployment:
    org: str
    starts_on: dt.date | None
    ends_on: dt.date


def parse_column(text: str) -> tuple[list[ParsedEmployment], list[str]]:
    """``单位A（2019-01-01至2023-06-30）；单位B（2018-12-31）``: entries separated by ``;``/``；``, each an
    organization (name or credit code) and, in brackets, an optional first day and the last day.
    Returns the entries and a problem per unreadable entry."""
    entries: list[ParsedEmployment] = []
    problems: list[str] = []
    for raw in re.split(r"[;；]", text or ""):
        part = raw.strip()
        if not part:
            continue
        match = _ENTRY.match(part)
        if match is None:
            problems.append(
                _("Unreadable former employer “%(entry)s”: write 单位（YYYY-MM-DD至YYYY-MM-DD）.", entry=part)
            )
            continue
        try:
            start = _date(match.group("start")) if match.group("start") else None
            end = _date(match.group("end"))
        except ValueError:
            problems.append(_("Not a date in “%(entry)s”.", entry=part))
            continue
        errors = _problems(start, end)
        if errors:
            problems.append(f"{part}: " + " ".join(m for msgs in errors.values() for m in msgs))
            continue
        entries.append(ParsedEmployment(match.group("org").strip(), start, end))
    return entries, problems


def _date(text: str) -> dt.date:
    y, m, d = (int(x) for x in text.split("-"))
    return dt.date(y, m, d)
