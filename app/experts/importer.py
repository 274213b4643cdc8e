"""Bulk import of experts from CSV or XLSX (openpyxl): a dry run reports every problem row by row
(line, field, problem); the import itself is all-or-nothing, and a re-import updates experts found by
their ID number (keyed hash) instead of creating duplicates.

Columns (Chinese or English headers, any order): 姓名/name, 身份证号/id_number, 职称/title,
职称级别/title_level (正高级, 副高级, 中级, 初级 or the English values), 从业年限/years_of_practice,
工作单位/employer (organization name or unified social credit code; unknown names create an
expert-employer organization), 地区/region, 专业/specialties (codes separated by ; or ， — the first is
primary), 手机/phone, 邮箱/email, 出生日期/birth_date (optional, must match the ID number),
破格/exception (是/否), 破格理由/exception_reason and 曾任职单位/former_employers (past employers:
``单位（YYYY-MM-DD至YYYY-MM-DD）`` separated by ；, the first date optional — registered organizations by name
or credit code, others kept by name and matched when they register; a re-import adds the entries not yet
recorded and never removes one). Imported experts are admitted (active): the management office runs the
import and is the admission authority.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import re
from dataclasses import dataclass, field

from flask_babel import gettext as _
from sqlalchemy import select

from app.accounts import services as accounts
from app.accounts.models import Organization, User
from app.core import audit, spreadsheets
from app.core.clock import now
from app.core.db import db
from app.core.permissions import OrgKind

from . import employment, services
from .enums import EmploymentSource, ExpertStatus, TitleLevel
from .models import Expert, ExpertEmployment, ExpertStatusChange, Specialty
from .services import ExpertData

MAX_ROWS = 20000
MAX_FILE_BYTES = 5 * 1024 * 1024
LIMITS = spreadsheets.TableLimits(
    max_bytes=MAX_FILE_BYTES,
    max_rows=MAX_ROWS + 1,  # and the header
    max_columns=50,
    max_cell_chars=500,
)

HEADERS: dict[str, set[str]] = {
    "name": {"name", "姓名"},
    "id_number": {"id_number", "身份证号", "身份证号码"},
    "title": {"title", "职称"},
    "title_level": {"title_level", "职称级别"},
    "years_of_practice": {"years_of_practice", "years", "从业年限", "工作年限"},
    "employer": {"employer", "工作单位", "单位"},
    "region": {"region", "地区", "所在地区"},
    "specialties": {"specialties", "专业", "专业代码"},
    "phone": {"phone", "手机", "手机号码", "联系电话"},
    "email": {"email", "邮箱", "电子邮箱"},
    "birth_date": {"birth_date", "出生日期"},
    "exception": {"exception", "破格"},
    "exception_reason": {"exception_reason", "破格理由"},
    "former_employers": {"former_employers", "曾任职单位", "工作经历"},
}
REQUIRED = ("name", "id_number", "title", "title_level", "years_of_practice", "employer", "specialties")
TITLE_LEVELS = {
    "正高级": TitleLevel.PROFESSOR,
    "正高": TitleLevel.PROFESSOR,
    "副高级": TitleLevel.SENIOR,
    "副高": TitleLevel.SENIOR,
    "高级": TitleLevel.SENIOR,
    "中级": TitleLevel.INTERMEDIATE,
    "初级": TitleLevel.JUNIOR,
    **{t.value: t for t in TitleLevel},
}
YES = {"是", "yes", "y", "true", "1", "破格"}


@dataclass(frozen=True)
class Problem:
    line: int
    field: str
    problem: str


@dataclass
class ImportReport:
    rows: int = 0
    created: int = 0
    updated: int = 0
    new_employers: list[str] = field(default_factory=list)
    employments: int = 0
    problems: list[Problem] = field(default_factory=list)
    dry_run: bool = True
    digest: str = ""

    @property
    def ok(self) -> bool:
        return not self.problems


def read_table(filename: str, data: bytes) -> list[list[str]]:
    """Rows of cells as text (the first row is the header), read streaming within :data:`LIMITS`: a file
    over the size, a sheet declaring or holding more rows or columns, or a cell longer than any field is
    refused with a clear message before more of it is read (``app.core.spreadsheets``)."""
    return list(spreadsheets.read_rows(filename, data, LIMITS))


def run(filename: str, data: bytes, *, dry_run: bool, actor: User | None) -> ImportReport:
    """Validate every row; unless ``dry_run`` and only when no row has a problem, write them all."""
    table = read_table(filename, data)
    report = ImportReport(dry_run=dry_run, digest=hashlib.sha256(data).hexdigest())
    if not table:
        report.problems.append(Problem(1, "", _("The file is empty.")))
        return report
    header = [h.strip().lstrip("\ufeff").lower() for h in table[0]]
    cols: dict[str, int] = {}
    for key, names in HEADERS.items():
        for i, h in enumerate(header):
            if h in names:
                cols[key] = i
    missing = [k for k in REQUIRED if k not in cols]
    if missing:
        for key in missing:
            report.problems.append(Problem(1, key, _("Missing column.")))
        return report
    body = [(n, r) for n, r in enumerate(table[1:], start=2) if any(c.strip() for c in r)]
    if len(body) > MAX_ROWS:
        report.problems.append(Problem(1, "", _("At most %(n)d rows per file.", n=MAX_ROWS)))
        return report
    report.rows = len(body)

    codes = set(db.session.scalars(select(Specialty.code).where(Specialty.is_active)))
    orgs_by_name: dict[str, int] = {}
    orgs_by_code: dict[str, int] = {}
    for org_id, name, code in db.session.execute(
        select(Organization.id, Organization.name, Organization.credit_code)
    ):
        orgs_by_name[name] = org_id
        if code:
            orgs_by_code[code] = org_id
    default_region = str(services.setting("EXPERT_LOCAL_REGION"))

    parsed: list[tuple[int, ExpertData, str, list[employment.ParsedEmployment]]] = []
    seen_ids: dict[bytes, int] = {}
    stored_as: dict[bytes, bytes] = {}  # an ID-number hash under any data key → under the current one
    for line, raw in body:
        cells = (raw + [""] * len(header))[: len(header)]

        def get(key: str, cells: list[str] = cells) -> str:
            return cells[cols[key]].strip() if key in cols else ""

        row_problems: list[Problem] = []
        years_text = get("years_of_practice")
        years = int(years_text) if re.fullmatch(r"\d{1,2}", years_text) else -1
        level = TITLE_LEVELS.get(get("title_level").lower()) or TITLE_LEVELS.get(get("title_level"))
        birth: dt.date | None = None
        if get("birth_date"):
            try:
                birth = dt.date.fromisoformat(get("birth_date").replace("/", "-")[:10])
            except ValueError:
                row_problems.append(Problem(line, "birth_date", _("Write the date as YYYY-MM-DD.")))
        employer = get("employer")
        row = ExpertData(
            name=get("name"),
            id_number=services.normalize_id_number(get("id_number")),
            title=get("title"),
            title_level=level.value if level else get("title_level"),
            years_of_practice=years,
            employer_org_id=0,
            region=get("region") or default_region,
            specialties=[
                c.strip().upper() for c in re.split(r"[;；,，\s]+", get("specialties")) if c.strip()
            ],
            phone=get("phone"),
            email=get("email") or None,
            entry_exception=get("exception").lower() in YES,
            exception_reason=get("exception_reason") or None,
            birth_date=birth,
        )
        errors = services.validate(row, known_codes=codes)
        if years < 0:
            errors["years_of_practice"] = [_("Give the years of practice as a number from 0 to 70.")]
        if not employer:
            errors["employer"] = [_("Required.")]
        if "title_level" not in errors and "years_of_practice" not in errors:
            errors.update(
                services.entry_problems(row.title_level, years, row.entry_exception, row.exception_reason)
            )
        if not row.title.strip():
            errors["title"] = [_("Required.")]
        former, former_problems = employment.parse_column(get("former_employers"))
        for key, msgs in errors.items():
            row_problems.extend(Problem(line, key, m) for m in msgs)
        row_problems.extend(Problem(line, "former_employers", m) for m in former_problems)
        if not errors.get("id_number"):
            hashes = services.id_number_hashes(row.id_number)  # under the current key first, then retired
            digest = hashes[0]
            stored_as.update((h, digest) for h in hashes)
            if digest in seen_ids:
                row_problems.append(
                    Problem(line, "id_number", _("Same ID number as line %(line)d.", line=seen_ids[digest]))
                )
            else:
                seen_ids[digest] = line
        if row_problems:
            report.problems.extend(row_problems)
            continue
        parsed.append((line, row, employer, former))

    new_employers = sorted({e for _l, _d, e, _f in parsed if e not in orgs_by_name and e not in orgs_by_code})
    report.employments = sum(len(f) for *_r, f in parsed)
    report.new_employers = new_employers
    # Keyed by the current key's hash; an expert stored under a retired data key (before `flask keys
    # rotate-data`) is found too, and updated rather than duplicated.
    existing = (
        {
            stored_as[e.id_number_hash]: e
            for e in db.session.scalars(select(Expert).where(Expert.id_number_hash.in_(list(stored_as))))
        }
        if stored_as
        else {}
    )
    report.updated = sum(1 for h in seen_ids if h in existing)
    report.created = len(parsed) - report.updated if not report.problems else 0
    if report.problems:
        report.updated = 0
    if dry_run or report.problems:
        return report

    for name in new_employers:
        org = accounts.create_organization(name, OrgKind.EXPERT_EMPLOYER, actor=actor)
        orgs_by_name[name] = org.id
    created: list[Expert] = []
    histories: list[tuple[Expert, list[employment.ParsedEmployment]]] = []
    for _line, row, employer, former in parsed:
        row.employer_org_id = orgs_by_code.get(employer) or orgs_by_name[employer]
        expert = existing.get(services.id_number_hash(row.id_number))
        if expert is None:
            expert = Expert(
                status=ExpertStatus.ACTIVE.value,
                admitted_at=now(),
                status_reason="bulk import",
                specialties=[],
            )
            services.apply_data(expert, row)
            db.session.add(expert)
            created.append(expert)
        else:
            services.apply_data(expert, row)
        if former:
            histories.append((expert, former))
    db.session.flush()  # ids for the history rows
    added = _add_employments(histories, orgs_by_name, orgs_by_code, actor=actor)
    for expert in created:
        db.session.add(
            ExpertStatusChange(
                expert_id=expert.id,
                to_status=ExpertStatus.ACTIVE.value,
                reason="bulk import",
                actor_id=actor.id if actor else None,
            )
        )
    audit.record(
        "experts:pool:import",
        actor=actor,
        object_type="expert_import",
        object_id=report.digest[:16],
        payload={
            "file_sha256": report.digest,
            "rows": report.rows,
            "created": report.created,
            "updated": report.updated,
            "new_employers": len(new_employers),
            "employments_added": added,
        },
    )
    return report


def _add_employments(
    histories: list[tuple[Expert, list[employment.ParsedEmployment]]],
    orgs_by_name: dict[str, int],
    orgs_by_code: dict[str, int],
    *,
    actor: User | None,
) -> int:
    """The former-employers column: entries not recorded yet are added (one audit leaf for the import)."""
    if not histories:
        return 0
    known = {
        (eid, name, ends)
        for eid, name, ends in db.session.execute(
            select(ExpertEmployment.expert_id, ExpertEmployment.org_name, ExpertEmployment.ends_on).where(
                ExpertEmployment.expert_id.in_([e.id for e, _f in histories])
            )
        )
    }
    names = {org_id: name for name, org_id in orgs_by_name.items()}
    codes = {org_id: code for code, org_id in orgs_by_code.items()}
    added = 0
    for expert, former in histories:
        for item in former:
            org_id = orgs_by_code.get(item.org.upper()) or orgs_by_name.get(item.org)
            org_name = names[org_id] if org_id is not None else item.org[:200]
            if (expert.id, org_name, item.ends_on) in known:
                continue
            known.add((expert.id, org_name, item.ends_on))
            db.session.add(
                ExpertEmployment(
                    expert_id=expert.id,
                    org_id=org_id,
                    org_name=org_name,
                    org_credit_code=codes.get(org_id) if org_id is not None else None,
                    starts_on=item.starts_on,
                    ends_on=item.ends_on,
                    source=EmploymentSource.IMPORT.value,
                    created_by=actor.id if actor else None,
                )
            )
            added += 1
    return added
